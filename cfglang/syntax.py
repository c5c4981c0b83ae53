"""The syntax tree of a text-format file: what :func:`cfglang.parse` returns.

Our own small node classes, independent of Lark. Nodes keep 0-based offsets
(end exclusive) and share the document's :class:`LineIndex`, so a node's
:attr:`span` (with 1-based line and column) is computed only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from cfglang.diagnostics import Diagnostic, LineIndex, Span

__all__ = [
    "ScalarKind",
    "Scalar",
    "MessageValue",
    "ListValue",
    "Value",
    "Field",
    "Comment",
    "Document",
]

ScalarKind = Literal["identifier", "integer", "float", "string"]


@dataclass(slots=True, eq=False)
class Scalar:
    """A scalar value.

    ``text`` is the source text for identifiers and numbers, sign included
    (``-0x1F``, ``2.5f``, ``-inf``, ``true``); for strings it is the decoded value
    of all adjacent literals concatenated. ``start``/``end`` cover the whole value
    (for strings: first quote to last quote). ``pieces`` holds the offsets
    (start, end) of each literal of a string written as adjacent literals
    (``"a" "b"``, comments allowed between them); it is empty for a string of one
    literal (``start``/``end`` are the literal's) and for the other kinds.
    """

    kind: ScalarKind
    text: str
    start: int
    end: int
    index: LineIndex
    pieces: tuple[tuple[int, int], ...] = ()

    @property
    def span(self) -> Span:
        return self.index.span(self.start, self.end)


@dataclass(slots=True, eq=False)
class MessageValue:
    """``{ ... }`` or ``< ... >``; ``closed`` is false when the closer is missing."""

    open: Literal["{", "<"]
    fields: list[Field]
    start: int  # offset of the opening bracket
    end: int  # offset after the closing bracket (or where parsing stopped)
    closed: bool
    index: LineIndex

    @property
    def span(self) -> Span:
        return self.index.span(self.start, self.end)


@dataclass(slots=True, eq=False)
class ListValue:
    """``[a, b]``: items are scalars or messages, never nested lists."""

    items: list[Scalar | MessageValue]
    start: int
    end: int
    index: LineIndex

    @property
    def span(self) -> Span:
        return self.index.span(self.start, self.end)


Value = Union[Scalar, MessageValue, ListValue]


@dataclass(slots=True, eq=False)
class Field:
    """``name: value`` / ``name { ... }``.

    ``value`` is None when the parser had to recover from an error inside the
    field. ``start``/``end`` cover name to value; ``sep_end`` is the offset after
    a trailing ``,`` or ``;`` when there is one.
    """

    name: str
    name_start: int
    name_end: int
    colon: bool
    value: Value | None
    start: int
    end: int
    index: LineIndex
    sep_end: int | None = None

    @property
    def span(self) -> Span:
        return self.index.span(self.start, self.end)

    @property
    def name_span(self) -> Span:
        return self.index.span(self.name_start, self.name_end)


@dataclass(slots=True, eq=False)
class Comment:
    """``# ...`` up to (not including) the line break; ``text`` includes the ``#``."""

    text: str
    start: int
    end: int
    index: LineIndex

    @property
    def span(self) -> Span:
        return self.index.span(self.start, self.end)


@dataclass(slots=True, eq=False)
class Document:
    """A parsed file: top-level fields, every comment in order, syntax diagnostics.

    ``text`` is the decoded text (BOM removed; offsets refer to it), ``path``
    the name used in messages.
    """

    text: str
    fields: list[Field]
    comments: list[Comment]
    diagnostics: list[Diagnostic]
    index: LineIndex
    path: str | None = None
    has_bom: bool = False

    @property
    def ok(self) -> bool:
        return not self.diagnostics
