"""Text that is not what protobuf's parser expects: UTF-16 (or UTF-32) files, and lone CR line breaks.

A ``.cfg`` file is UTF-8. A file saved as UTF-16 by a Windows editor decodes
to a NUL between every two characters: without this check, every one of them
was a diagnostic (an unexpected character, then an unknown field for each
letter). The parser reports one S001 instead (:func:`wide_encoding`).

protobuf's ``text_format`` breaks lines at ``\\n`` only: in a file whose line
breaks are lone carriage returns (classic Mac OS), everything is one line, and
a ``#`` comment runs on to the next ``\\n``, taking the fields after it. The
parser reads the file that way too (its comments end at ``\\n``), and reports
the first lone CR (:func:`lone_carriage_returns`) so that nobody is surprised
that a field after a comment is not set, while an editor shows it on a line of
its own.
"""

from __future__ import annotations

import os
import re
import stat

__all__ = ["wide_encoding", "lone_carriage_returns", "saved_encoding"]

_SAMPLE = 4096  # characters or bytes looked at: an encoding shows at the start
_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32 (little-endian, with a byte-order mark)"),
         (b"\x00\x00\xfe\xff", "UTF-32 (big-endian, with a byte-order mark)"),
         (b"\xff\xfe", "UTF-16 (little-endian, with a byte-order mark)"),
         (b"\xfe\xff", "UTF-16 (big-endian, with a byte-order mark)"))
# what a UTF-16 byte-order mark becomes when the bytes were decoded as UTF-8 (with replacement) or Latin-1
_DECODED_BOMS = ("\ufffd\ufffd", "\xff\xfe", "\xfe\xff")
_LONE_CR = re.compile(r"\r(?!\n)")


def wide_encoding(text: str | bytes) -> str | None:
    """The encoding's name when ``text`` is UTF-16 or UTF-32 (raw bytes, or bytes decoded as if 8-bit),
    else None. Without a byte-order mark, the NULs tell: every other byte of ASCII text in UTF-16."""
    if isinstance(text, (bytes, bytearray)):
        for bom, name in _BOMS:
            if text.startswith(bom):  # 0xFE and 0xFF never occur in UTF-8
                return name
        head: bytes | str = bytes(text[:_SAMPLE])
        nul: int | str = 0
    else:
        head = text[:_SAMPLE]
        for bom in _DECODED_BOMS:
            if head.startswith(bom) and "\x00" in head[2:8]:
                head = head[2:]
                break
        nul = "\x00"
    if len(head) < 8:  # four UTF-16 units at least: two characters and a NUL say nothing
        return None
    even, odd = head[0::2], head[1::2]
    # ASCII text in UTF-16: the high byte of each unit is 0 (the second byte little-endian, the first big)
    if odd.count(nul) * 2 >= len(odd) and even.count(nul) * 10 <= len(even):  # type: ignore[arg-type]
        return "UTF-16 (little-endian, without a byte-order mark)"
    if even.count(nul) * 2 >= len(even) and odd.count(nul) * 10 <= len(odd):  # type: ignore[arg-type]
        return "UTF-16 (big-endian, without a byte-order mark)"
    return None


def lone_carriage_returns(text: str) -> tuple[int, int] | None:
    """(offset of the first CR not followed by LF, how many there are), or None."""
    if "\r" not in text:
        return None
    first = _LONE_CR.search(text)
    if first is None:
        return None
    return first.start(), sum(1 for _ in _LONE_CR.finditer(text, first.start()))


def saved_encoding(path: str) -> str | None:
    """:func:`wide_encoding` of the first 4 KiB of the file at ``path`` (a regular file only; anything else,
    or a file that cannot be read, is None).

    An editor shows a UTF-16 file with a byte-order mark as the text it decodes, so the language server
    looks at the saved bytes to say what ``amct lint`` says of the file. The file is opened without
    blocking (a FIFO is never waited on) and only its start is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return wide_encoding(os.read(fd, _SAMPLE))
    except OSError:
        return None
    finally:
        os.close(fd)
