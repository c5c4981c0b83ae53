"""Offsets <-> LSP positions: the one place where the server meets the wire's units.

The core speaks 0-based code-point offsets into the text (end exclusive). LSP
speaks 0-based lines and characters counted in the negotiated position
encoding: UTF-16 code units unless the client offered UTF-8 or UTF-32. Line
breaks follow :class:`cfglang.diagnostics.LineIndex` (``\\n`` only), which is
also how the parser counts lines.
"""

from __future__ import annotations

from lsprotocol import types

from cfglang.diagnostics import LineIndex, Span

__all__ = ["Positions", "units", "code_points"]

_BOM = "\ufeff"


def units(segment: str, encoding: str) -> int:
    """The length of ``segment`` in the units of ``encoding``."""
    if encoding == types.PositionEncodingKind.Utf32 or segment.isascii():
        return len(segment)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(segment.encode("utf-8", "surrogatepass"))
    return len(segment) + sum(1 for ch in segment if ord(ch) > 0xFFFF)


def code_points(line: str, character: int, encoding: str) -> int:
    """How many code points of ``line`` the first ``character`` units cover.

    A position inside a character (half a surrogate pair, the middle of a UTF-8
    sequence) counts that character as covered, so a range never cuts one in two
    on the way back; a position past the end of the line clamps to its end.
    """
    if encoding == types.PositionEncodingKind.Utf32 or line.isascii():
        return min(character, len(line))
    used = 0
    for i, ch in enumerate(line):
        if used >= character:
            return i
        used += units(ch, encoding)
    return len(line)


class Positions:
    """Converts between core offsets and LSP positions for one text.

    ``text`` is the document as the editor holds it. When it starts with a BOM
    the parser drops it, so core offsets are one short of the editor's; the shift
    is applied here and nowhere else.
    """

    __slots__ = ("text", "encoding", "index", "_shift", "_ascii")

    def __init__(self, text: str, encoding: str = types.PositionEncodingKind.Utf16) -> None:
        self.text = text
        self.encoding = encoding
        self.index = LineIndex(text)
        self._shift = 1 if text.startswith(_BOM) else 0
        self._ascii = text.isascii()

    def position(self, offset: int) -> types.Position:
        """The LSP position of a core offset (clamped to the text)."""
        offset = min(max(offset + self._shift, 0), len(self.text))
        line, column = self.index.position(offset)
        if self._ascii or self.encoding == types.PositionEncodingKind.Utf32:
            return types.Position(line=line - 1, character=column - 1)
        start = self.index.offset(line, 1)
        return types.Position(line=line - 1, character=units(self.text[start:offset], self.encoding))

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(start=self.position(start), end=self.position(end))

    def span_range(self, span: Span) -> types.Range:
        return self.range(span.start, span.end)

    def offset(self, position: types.Position) -> int:
        """The core offset of an LSP position (clamped to the text)."""
        if position.line >= self.index.line_count:
            return len(self.text) - self._shift
        line_text = self.index.line_text(position.line + 1)
        column = code_points(line_text, position.character, self.encoding)
        offset = self.index.offset(position.line + 1, column + 1)
        return max(offset - self._shift, 0)
