"""Decoding string literals exactly as protobuf's Python parser does.

protobuf's ``text_encoding.CUnescape`` runs three steps: ``\\xH`` is padded to
``\\x0H``; ``raw_unicode_escape`` decodes ``\\u``/``\\U`` escapes; Python's
``unicode_escape`` decodes the rest (and keeps unknown escapes such as ``\\q``
or ``\\?`` as written). :func:`decode_literal` gives the same bytes in one pass
and says where each problem is; the one case a single pass cannot model (a
``\\u005c`` that becomes the start of a new escape) falls back to the same
three steps.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Callable

__all__ = ["decode_literal", "Problem", "EscapeReport"]

_SIMPLE = {
    "a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v",
    "\\": b"\\", "'": b"'", '"': b'"',
}

_ESCAPE = re.compile(
    r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})"
    r"|N\{([^}\\]*)\}|([xuUN])|([abfnrtv\\'\"])|(.)|$)",
    re.S,
)

# (kind, message, start, end): kind "error" or "warning"
Problem = tuple[str, str, int, int]
EscapeReport = Callable[[str, str, int, int], None]

# chunks of decoded bytes with the source range they came from
Chunk = tuple[bytes, int, int]


def decode_literal(text: str, start: int, end: int, chunks: list[Chunk], report: EscapeReport) -> bool:
    """Decode the literal ``text[start:end]`` (quotes included) into ``chunks``.

    Calls ``report(kind, message, start, end)`` for each problem; returns false
    when an error makes the value unusable.
    """
    body_start = start + 1
    body = text[body_start : end - 1]
    if "\\" not in body:
        chunks.append((_encode_plain(body, body_start, report), body_start, end - 1))
        return True
    ok = True
    pos = 0
    for m in _ESCAPE.finditer(body):
        s, e = m.span()
        if s > pos:
            chunks.append((_encode_plain(body[pos:s], body_start + pos, report), body_start + pos, body_start + s))
        pos = e
        where = (body_start + s, body_start + e)
        group = m.lastindex
        raw = m.group(0)
        if group == 1:
            value = int(m.group(1), 8)
            if value > 0o377:
                report("error", f"octal escape `{raw}` is out of range: the largest is `\\377`", *where)
                ok = False
                continue
            chunks.append((bytes((value,)), *where))
        elif group == 2:
            chunks.append((bytes((int(m.group(2), 16),)), *where))
        elif group in (3, 4):
            code = int(m.group(group), 16)
            if code > 0x10FFFF:
                report("error", f"escape `{raw}` is beyond the last code point U+10FFFF", *where)
                ok = False
            elif 0xD800 <= code <= 0xDFFF:
                report("error", f"escape `{raw}` is a surrogate, which is not a character", *where)
                ok = False
            elif code == 0x5C:
                return _decode_like_protobuf(body, start, end, chunks, report)
            else:
                chunks.append((chr(code).encode("utf-8"), *where))
        elif group == 5:
            try:
                char = unicodedata.lookup(m.group(5))
            except KeyError:
                char = ""
            if len(char) != 1:
                report("error", f"`{raw}` names no Unicode character", *where)
                ok = False
                continue
            if ord(char) > 0xFF:
                report("error", f"`{raw}` is above U+00FF, which protobuf's `\\N{{}}` cannot represent", *where)
                ok = False
                continue
            report("warning", f"`{raw}` is an escape only protobuf's Python parser reads", *where)
            chunks.append((bytes((ord(char),)), *where))
        elif group == 6:
            need = {"x": "1-2 hex digits", "u": "4 hex digits", "U": "8 hex digits", "N": "`{NAME}`"}[raw[1]]
            report("error", f"escape `{raw}` is incomplete: expected {need}", *where)
            ok = False
        elif group == 7:
            chunks.append((_SIMPLE[m.group(7)], *where))
        elif group == 8:
            char = m.group(8)
            code = ord(char)
            if char == "?":
                note = "`\\?` is read as a backslash and `?` by protobuf's Python parser; write `?`"
            else:
                note = f"unknown escape `\\{char}` is kept as written"
            report("warning", note, *where)
            if code <= 0xFF:
                chunks.append((b"\\" + char.encode("utf-8"), *where))
            elif code <= 0xFFFF:
                chunks.append((f"\\u{code:04x}".encode(), *where))
            else:
                chunks.append((f"\\U{code:08x}".encode(), *where))
        else:  # a backslash at the very end
            report("error", "a string cannot end with a single `\\`", *where)
            ok = False
    if pos < len(body):
        chunks.append((_encode_plain(body[pos:], body_start + pos, report), body_start + pos, end - 1))
    return ok


def _encode_plain(part: str, offset: int, report: EscapeReport) -> bytes:
    if part.isascii():
        return part.encode("ascii")
    try:
        return part.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate in a str input
        report("error", "the string contains a lone surrogate, which is not a character",
               offset + exc.start, offset + exc.end)
        return part.encode("utf-8", "replace")


_CUNESCAPE_HEX = re.compile(r"(\\+)x([0-9a-fA-F])(?![0-9a-fA-F])")


def _decode_like_protobuf(body: str, start: int, end: int, chunks: list[Chunk], report: EscapeReport) -> bool:
    """The three steps of protobuf's CUnescape, for a literal where a ``\\u005c``
    escape produces a backslash that the last step decodes again."""

    def pad(m: re.Match[str]) -> str:
        return m.group(1) + "x0" + m.group(2) if len(m.group(1)) & 1 else m.group(0)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step = _CUNESCAPE_HEX.sub(pad, body)
            step = step.encode("raw_unicode_escape").decode("raw_unicode_escape")
            value = step.encode("utf-8").decode("unicode_escape").encode("latin-1")
    except (UnicodeError, ValueError) as exc:
        report("error", f"the escapes of this string cannot be decoded: {exc}", start, end)
        return False
    report("warning", "a `\\u005c` escape makes a backslash that starts another escape", start, end)
    chunks.append((value, start + 1, end - 1))
    return True
