"""Repair the places where dlib's ``net_to_xml`` writes ill-formed XML, while streaming.

* dlib 20's ``slice_::to_xml`` writes ``offset_nr`` twice (``offset_nr='<offset_nr>'
  offset_nr='<offset_nc>'``): a duplicate attribute, which XML forbids. The second one is
  renamed ``offset_nc``, which is what it holds.
* ``input_grayscale_image_pyramid::to_xml`` (dlib 19.x and 20) writes a stray quote after
  the element name (``<input_grayscale_image_pyramid' pyramid_padding='10' ...``); the
  quote is dropped.
* dlib 19.x's ``leaky_relu_`` and ``smelu_`` write ``<leaky_relu alpha='a'>`` then
  ``<leaky_relu/>`` (never closing the first): rewritten as ``<leaky_relu alpha='a'/>``.
* dlib 19.x's ``layer_norm_`` writes its start tag without the ``<`` (a line starting
  ``layer_norm eps=``): the ``<`` is restored.

(dlib 19.x's ``fc_`` also writes a stray ``>`` into its text; :mod:`.xml_reader` drops it.)

The file is read in 1 MiB chunks cut at newlines (never inside an unclosed two-line
element); a chunk is only searched by regex when a cheap substring test finds a culprit.
The pass costs ~0.05 s on the 89 MB ResNet XML. No repair
adds or removes a newline, so libxml2's line numbers still point into the original file.
"""

from __future__ import annotations

import os
import re
from typing import BinaryIO

_CHUNK = 1 << 20
_SLICE = re.compile(rb"<slice\b[^>]*>")
_OFFSET_NR = re.compile(rb"\boffset_nr(\s*=)")
_PYRAMID = re.compile(rb"<input_grayscale_image_pyramid'")
_UNCLOSED = re.compile(rb"<(leaky_relu|smelu)(\s[^<>]*?)(?<!/)>(\s*)<\1\s*/>")
_UNCLOSED_TAIL = re.compile(rb"<(?:leaky_relu|smelu)\s[^<>]*(?<!/)>\s*$")
_LAYER_NORM = re.compile(rb"^(\s*)layer_norm(?=\s)", re.MULTILINE)
_TAG_CULPRITS = (b"<slice", b"<input_grayscale_image_pyramid'", b"<leaky_relu", b"<smelu")


def _has_culprit(text: bytes) -> bool:
    """Whether ``text`` may need a repair: a culprit tag at one of its few ``<`` (found by
    ``memchr``, parameter text has none), or ``layer_norm`` (searched for whole: its last
    byte never occurs in numbers, so the search skips ahead a needle length at a time)."""
    if b"layer_norm" in text:
        return True
    at = text.find(b"<")
    while at != -1:
        if text.startswith(_TAG_CULPRITS, at):
            return True
        at = text.find(b"<", at + 1)
    return False


def needs_repair(path: str | os.PathLike[str]) -> bool:
    """Whether any part of the file may need a repair (conservative, see
    :func:`_has_culprit`). One sequential read at memchr speed: a file that needs none is
    handed to libxml2 as the plain file object (the repairing stream costs ~0.14 s on the
    89 MB ResNet XML, this check ~0.05 s)."""
    overlap = max(len(c) for c in (*_TAG_CULPRITS, b"layer_norm")) - 1
    with open(path, "rb") as handle:
        tail = b""
        while chunk := handle.read(_CHUNK):
            if _has_culprit(chunk) or _has_culprit(tail + chunk[:overlap]):
                return True
            tail = chunk[-overlap:]
    return False


class RepairingReader:
    """A read-only binary stream over ``raw`` with the repairs applied; ``repairs`` counts
    them by kind for the reader's meta."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.pending = b""  # repaired bytes; those before ``at`` were handed out
        self.at = 0
        self.carry = b""  # an incomplete last line, repaired with the next chunk
        self.done = False
        self.repairs = {"slice_offset_nc": 0, "grayscale_pyramid_quote": 0,
                        "unclosed_activation": 0, "layer_norm_lt": 0}

    def _fill(self) -> None:
        chunk = self.raw.read(_CHUNK)
        if not chunk:
            self.done = True
            text, self.carry = self.carry, b""
        else:
            data = self.carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) < 64 * _CHUNK:
                self.carry = data
                return
            cut = cut or len(data)
            line = data.rfind(b"\n", 0, max(cut - 1, 0)) + 1
            if _UNCLOSED_TAIL.search(data, line, cut) is not None:
                if line == 0:  # keep a two-line element in one chunk
                    self.carry = data
                    return
                cut = line
            text, self.carry = data[:cut], data[cut:]
        self.pending = self.pending[self.at :] + self._repair(text)
        self.at = 0

    def _repair(self, text: bytes) -> bytes:
        if not _has_culprit(text):
            return text
        if b"<slice" in text:
            text = _SLICE.sub(self._fix_slice, text)
        if b"<input_grayscale_image_pyramid'" in text:
            text, count = _PYRAMID.subn(b"<input_grayscale_image_pyramid", text)
            self.repairs["grayscale_pyramid_quote"] += count
        if b"<leaky_relu" in text or b"<smelu" in text:
            text, count = _UNCLOSED.subn(rb"<\1\2/>\3", text)
            self.repairs["unclosed_activation"] += count
        if b"layer_norm " in text:
            text, count = _LAYER_NORM.subn(rb"\1<layer_norm", text)
            self.repairs["layer_norm_lt"] += count
        return text

    def _fix_slice(self, match: re.Match[bytes]) -> bytes:
        element = match.group(0)
        hits = list(_OFFSET_NR.finditer(element))
        if len(hits) < 2:
            return element
        self.repairs["slice_offset_nc"] += 1
        at = hits[1].start()
        return element[:at] + b"offset_nc" + element[at + len(b"offset_nr") :]

    def read(self, size: int = -1) -> bytes:
        while not self.done and (size < 0 or len(self.pending) - self.at < size):
            self._fill()
        end = len(self.pending) if size < 0 else self.at + size
        out = self.pending[self.at : end]
        self.at = min(end, len(self.pending))
        if self.at == len(self.pending):  # hand out without re-copying what is left
            self.pending, self.at = b"", 0
        return out
