"""Check an XML file's prolog (everything before the root element) before parsing it.

A dlib ``net_to_xml`` file starts directly with ``<net>``. A DOCTYPE can only appear in the
prolog, and only a DTD can declare entities (billion laughs, external entities), so
refusing any ``<!`` declaration there removes that whole class of attacks before libxml2
reads the body. Encodings that are not ASCII-compatible (UTF-16/32, EBCDIC, UTF-7 via the
XML declaration) are refused too: they could hide a DOCTYPE from this byte-level scan.
"""

from __future__ import annotations

import re

from faceport.errors import FormatError

PROLOG_LIMIT = 1 << 16
_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"}
_ENCODING_DECL = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def check_prolog(head: bytes, name: str) -> None:
    """Refuse DOCTYPE/ENTITY declarations and encodings that could hide them from a byte scan."""
    if (
        head[:2] in (b"\xff\xfe", b"\xfe\xff", b"\x00<", b"<\x00")
        or head[:4] == b"\x4c\x6f\xa7\x94"
    ):
        raise FormatError(
            "not an ASCII-compatible XML file",
            file=name,
            line=1,
            field="encoding",
            expected="UTF-8 or ASCII",
            found=head[:4],
        )
    pos = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while True:
        while pos < len(head) and head[pos : pos + 1] in b" \t\r\n":
            pos += 1
        line = head.count(b"\n", 0, pos) + 1
        if head.startswith(b"<?", pos):
            end = head.find(b"?>", pos)
            declared = _ENCODING_DECL.search(head, pos, end if end >= 0 else len(head))
            if declared and declared.group(1).decode().lower() not in _ENCODINGS:
                raise FormatError(
                    "unsupported XML encoding",
                    file=name,
                    line=line,
                    field="encoding",
                    expected="UTF-8 or ASCII",
                    found=declared.group(1).decode(),
                )
            pos = end + 2 if end >= 0 else len(head)
        elif head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos)
            pos = end + 3 if end >= 0 else len(head)
        elif head.startswith(b"<!", pos):
            raise FormatError(
                "DOCTYPE/ENTITY declarations are not allowed in a dlib XML file",
                file=name,
                line=line,
                field="prolog",
                expected="<net>",
                found=head[pos : pos + 40].decode("ascii", "replace"),
            )
        elif head.startswith(b"<", pos):
            return
        elif pos >= len(head) and len(head) >= PROLOG_LIMIT:
            raise FormatError("XML prolog longer than 64 KiB", file=name, field="prolog")
        else:
            raise FormatError(
                "not an XML document",
                file=name,
                line=line,
                field="prolog",
                expected="<net>",
                found=head[pos : pos + 40].decode("ascii", "replace"),
            )
