"""Repair the two places where dlib's ``net_to_xml`` writes ill-formed XML, while streaming.

* dlib 20's ``slice_::to_xml`` writes ``offset_nr`` twice (``offset_nr='<offset_nr>'
  offset_nr='<offset_nc>'``): a duplicate attribute, which XML forbids. The second one is
  renamed ``offset_nc``, which is what it holds.
* ``input_grayscale_image_pyramid::to_xml`` (dlib 19.x and 20) writes a stray quote after
  the element name (``<input_grayscale_image_pyramid' pyramid_padding='10' ...``); the
  quote is dropped.

The file is read in 1 MiB chunks cut at newlines; a chunk is only searched by regex when a
cheap substring test finds one of the two element names, so the 89 MB face-recognition XML
costs one ``in`` test per chunk. Neither repair adds or removes a newline, so libxml2's
line numbers still point into the original file.
"""

from __future__ import annotations

import re
from typing import BinaryIO

_CHUNK = 1 << 20
_SLICE = re.compile(rb"<slice\b[^>]*>")
_OFFSET_NR = re.compile(rb"\boffset_nr(\s*=)")
_PYRAMID = re.compile(rb"<input_grayscale_image_pyramid'")


class RepairingReader:
    """A read-only binary stream over ``raw`` with the repairs applied; ``repairs`` counts
    them by kind for the reader's meta."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.pending = b""  # repaired bytes not yet handed out
        self.carry = b""  # an incomplete last line, repaired with the next chunk
        self.done = False
        self.repairs = {"slice_offset_nc": 0, "grayscale_pyramid_quote": 0}

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
            text, self.carry = data[:cut], data[cut:]
        self.pending += self._repair(text)

    def _repair(self, text: bytes) -> bytes:
        if b"<slice" in text:
            text = _SLICE.sub(self._fix_slice, text)
        if b"<input_grayscale_image_pyramid'" in text:
            text, count = _PYRAMID.subn(b"<input_grayscale_image_pyramid", text)
            self.repairs["grayscale_pyramid_quote"] += count
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
        while not self.done and (size < 0 or len(self.pending) < size):
            self._fill()
        if size < 0:
            out, self.pending = self.pending, b""
        else:
            out, self.pending = self.pending[:size], self.pending[size:]
        return out
