"""Spans and diagnostics: the one vocabulary every stage reports in.

Offsets are the source of truth; line and column are derived in exactly one
place, :class:`LineIndex`.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field
from itertools import accumulate

__all__ = ["Severity", "Span", "Edit", "Fix", "Diagnostic", "LineIndex", "line_starts"]


class Severity(enum.IntEnum):
    """Ordered so that ``max()`` gives the worst."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Span:
    """A range of the text: 0-based offsets (end exclusive) plus 1-based positions.

    Columns count Unicode code points (the LSP layer converts to UTF-16 at the edge).
    """

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    def contains(self, offset: int) -> bool:
        return self.start <= offset < self.end or (self.start == self.end == offset)

    def shifted(self, offset: int, lines: int) -> Span:
        """The same range moved by ``offset`` code points and ``lines`` lines (whole lines only:
        the text before it grew or shrank by complete lines, so columns stay)."""
        return Span(self.start + offset, self.end + offset, self.line + lines, self.column,
                    self.end_line + lines, self.end_column)


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace ``text[start:end]`` with ``new_text``."""

    start: int
    end: int
    new_text: str


@dataclass(frozen=True, slots=True)
class Fix:
    description: str
    edits: tuple[Edit, ...]
    safe: bool = True  # safe fixes cannot change what AMCT would do with the file


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str  # stable, from the one registry (cfglang.rules)
    severity: Severity
    span: Span
    message: str  # lowercase, no final period, names in backticks, found-then-expected
    hint: str | None = None
    related: tuple[tuple[Span, str], ...] = field(default=())
    fix: Fix | None = None
    # findings folded into this one instead of being reported one by one (F016: the other unknown fields
    # of a file of another config kind); `--statistics` counts them
    folded: int = 0

    def shifted(self, offset: int, lines: int) -> Diagnostic:
        """The diagnostic of the same text moved by whole lines (see :meth:`Span.shifted`)."""
        if not offset and not lines:
            return self
        fix = self.fix
        if fix is not None:
            fix = Fix(fix.description, tuple(Edit(e.start + offset, e.end + offset, e.new_text) for e in fix.edits),
                      fix.safe)
        return Diagnostic(self.code, self.severity, self.span.shifted(offset, lines), self.message, self.hint,
                          tuple((s.shifted(offset, lines), note) for s, note in self.related), fix, self.folded)


def line_starts(text: str) -> list[int]:
    """The offset of each line's start, a line ending after ``\\n``: lengths summed in C (twice as fast as a
    loop of ``str.find``, which was a quarter of a second for each text of a 15 MB file the editor changed)."""
    parts = text.split("\n")
    parts.pop()
    return list(accumulate(map((1).__add__, map(len, parts)), initial=0))


class LineIndex:
    """Maps offsets of one text to 1-based (line, column) in code points.

    A line ends after ``\\n``; a lone ``\\r`` is not a line break (protobuf's
    tokenizer counts lines by ``\\n`` too), so CRLF files get the right lines.
    """

    __slots__ = ("text", "_starts")

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts = line_starts(text)

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1

    def offset(self, line: int, column: int) -> int:
        """Inverse of :meth:`position` (1-based line and column)."""
        return self._starts[line - 1] + column - 1

    def span(self, start: int, end: int) -> Span:
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return Span(start, end, line, column, end_line, end_column)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line without its line break."""
        start = self._starts[line - 1]
        end = self._starts[line] if line < len(self._starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")
