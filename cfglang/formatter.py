"""``amct fmt``: the canonical layout of a text-format file (after Google's txtpbfmt).

- one field per line, ``name: value`` for scalars and lists, ``name {`` for
  messages (``<...>`` becomes ``{...}``, an empty message ``name {}``), indented
  by ``indent_width`` spaces per level;
- ``,`` and ``;`` separators dropped; leading blank lines dropped, at most one
  blank line kept between fields and comments, none after ``{`` or before ``}``;
- a list stays a list: on one line when it was written on one line, else one
  item per line; a list of messages always has one ``{`` block per item;
- values are written as they were typed (numbers, enum names and string
  literals keep their spelling; adjacent string literals stay separate);
- every comment stays attached where it was: above a field, at the end of a line
  (two spaces before the ``#``), or before a closing brace; a comment inside a
  field (between its name and value) moves above the field;
- the line endings (LF or CRLF) and the final newline follow the input.

A file with syntax errors is never formatted: :func:`format_text` raises
:class:`FormatError` with the parser's errors. Syntax *warnings* do not stop
it, as they do not stop ``amct lint --fix``: each marks text that protobuf's
Python parser reads in one way only, which the tree holds, so the output means
the same. A no-break space or another Unicode space between tokens (S019)
becomes the layout's own whitespace; a nonstandard escape or number (S017,
S018) keeps its spelling; a comment that a lone CR does not end (S021) keeps
all it took (the output's line breaks are LF; a CR inside a comment stays).
"""

from __future__ import annotations

from typing import Sequence

from cfglang.diagnostics import Diagnostic, Severity
from cfglang.settings import FormatOptions
from cfglang.syntax import Comment, Document, Field, ListValue, MessageValue, Scalar

__all__ = ["FormatOptions", "FormatError", "format_text", "format_document"]

class FormatError(ValueError):
    """The text has syntax errors, so it is left as it is."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        first = self.diagnostics[0]
        super().__init__(f"{first.span.line}:{first.span.column}: {first.message} "
                         f"({len(self.diagnostics)} syntax {'error' if len(self.diagnostics) == 1 else 'errors'})")


class _Printer:
    """Walks the tree in text order, taking each comment from the pool when its place comes."""

    def __init__(self, document: Document, options: FormatOptions) -> None:
        self.text = document.text
        self.unit = " " * options.indent_width
        self.comments: list[Comment] = sorted(document.comments, key=lambda c: c.start)
        self.next_comment = 0
        self.lines: list[str] = []

    # -- comments

    def take_until(self, offset: int) -> list[Comment]:
        start = self.next_comment
        while self.next_comment < len(self.comments) and self.comments[self.next_comment].start < offset:
            self.next_comment += 1
        return self.comments[start:self.next_comment]

    def peek(self) -> Comment | None:
        return self.comments[self.next_comment] if self.next_comment < len(self.comments) else None

    def same_line(self, after: int, limit: int) -> Comment | None:
        """The comment right after ``after`` on the same line, when it comes before ``limit``."""
        comment = self.peek()
        if comment is None or comment.start >= limit or "\n" in self.text[after:comment.start]:
            return None
        self.next_comment += 1
        return comment

    def add_trailing(self, comment: Comment | None) -> None:
        if comment is not None:
            self.lines[-1] += "  " + comment.text.rstrip("\r")

    def blank_between(self, end: int, start: int) -> bool:
        return self.text.count("\n", end, start) >= 2

    # -- bodies

    def emit(self, level: int, line: str) -> None:
        self.lines.append(self.unit * level + line if line else "")

    def body(self, fields: Sequence[Field], start: int, end: int, level: int, first: bool = True) -> None:
        """The fields between ``start`` and ``end``; ``first``: nothing emitted yet at this level."""
        prev = start
        for i, field in enumerate(fields):
            following = fields[i + 1].start if i + 1 < len(fields) else end
            value_start = field.value.start if field.value is not None else field.start
            for comment in self.take_until(value_start):
                if not first and self.blank_between(prev, comment.start):
                    self.emit(level, "")
                self.emit(level, comment.text.rstrip("\r"))
                prev, first = comment.end, False
            if not first and self.blank_between(prev, min(field.start, value_start)):
                self.emit(level, "")
            self.field(field, level)
            prev = field.sep_end if field.sep_end is not None else field.end
            trailing = self.same_line(prev, following)
            self.add_trailing(trailing)
            if trailing is not None:
                prev = trailing.end
            first = False
        for comment in self.take_until(end):
            if not first and self.blank_between(prev, comment.start):
                self.emit(level, "")
            self.emit(level, comment.text.rstrip("\r"))
            prev, first = comment.end, False

    def field(self, field: Field, level: int) -> None:
        value = field.value
        if isinstance(value, MessageValue):
            self.message(field.name + " ", value, level)
        elif isinstance(value, ListValue):
            self.list_value(field.name, value, level)
        elif isinstance(value, Scalar):
            self.scalar_lines(f"{field.name}: ", value, level)
        else:  # only in a document with syntax errors, which is never formatted
            raise ValueError(f"field `{field.name}` has no value")

    def message(self, prefix: str, value: MessageValue, level: int) -> None:
        close = value.end - 1 if value.closed else value.end
        comment = self.peek()
        if not value.fields and (comment is None or comment.start >= close):
            self.emit(level, prefix + "{}")
            return
        self.emit(level, prefix + "{")
        self.add_trailing(self.same_line(value.start + 1, value.fields[0].start if value.fields else close))
        self.body(value.fields, value.start + 1, close, level + 1)
        self.emit(level, "}")

    def scalar_lines(self, prefix: str, value: Scalar, level: int) -> None:
        """A scalar on the current line; adjacent string literals on later lines keep their line breaks."""
        if value.kind != "string":
            for comment in self.take_until(value.end):  # a comment inside a signed number, say
                self.emit(level, comment.text.rstrip("\r"))
            self.emit(level, prefix + value.text)
            return
        # the literals as typed and the comments between them, in text order
        pieces = sorted([(start, end, self.text[start:end]) for start, end in _literals(value)]
                        + [(c.start, c.end, c.text.rstrip("\r")) for c in self.take_until(value.end)])
        self.emit(level, prefix + pieces[0][2])
        after_comment = False
        for (_, before_end, _), (start, _, text) in zip(pieces, pieces[1:]):
            if after_comment or "\n" in self.text[before_end:start]:
                self.emit(level + 1, text)  # a continuation line
            else:
                self.lines[-1] += ("  " if text.startswith("#") else " ") + text
            after_comment = text.startswith("#")

    def list_value(self, name: str, value: ListValue, level: int) -> None:
        for comment in self.take_until(value.start):
            self.emit(level, comment.text.rstrip("\r"))
        items = value.items
        inner = self.comments[self.next_comment:]
        has_comment = any(c.start < value.end for c in inner)
        multiline = (has_comment or "\n" in self.text[value.start:value.end]
                     or any(isinstance(item, MessageValue) for item in items))
        if not items and not has_comment:
            self.emit(level, f"{name}: []")
            return
        if not multiline:
            self.emit(level, f"{name}: [" + ", ".join(self.inline(item) for item in items) + "]")
            return
        self.emit(level, f"{name}: [")
        self.add_trailing(self.same_line(value.start + 1, items[0].start if items else value.end))
        for i, item in enumerate(items):
            for comment in self.take_until(item.start):
                self.emit(level + 1, comment.text.rstrip("\r"))
            if isinstance(item, MessageValue):
                self.message("", item, level + 1)
            else:
                self.scalar_lines("", item, level + 1)
            if i < len(items) - 1:
                self.lines[-1] += ","
            self.add_trailing(self.same_line(item.end, items[i + 1].start if i + 1 < len(items) else value.end))
        for comment in self.take_until(value.end):
            self.emit(level + 1, comment.text.rstrip("\r"))
        self.emit(level, "]")

    def inline(self, item: Scalar | MessageValue) -> str:
        if isinstance(item, MessageValue):  # message items always make the list multi-line
            raise ValueError("a message item in a one-line list")
        if item.kind != "string":
            return item.text
        return " ".join(self.text[start:end] for start, end in _literals(item))


def _literals(value: Scalar) -> tuple[tuple[int, int], ...]:
    """The offsets of each literal of a string value, as the parser read them."""
    return value.pieces or ((value.start, value.end),)


def _line_ending(text: str, options: FormatOptions) -> str:
    if options.line_ending != "auto":
        return "\r\n" if options.line_ending == "crlf" else "\n"
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def format_document(document: Document, options: FormatOptions | None = None) -> str:
    """The canonical text of a parsed document without syntax errors (no byte-order mark)."""
    errors = [d for d in document.diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise FormatError(errors)
    options = options or FormatOptions()
    printer = _Printer(document, options)
    printer.body(document.fields, 0, len(document.text), 0)
    newline = _line_ending(document.text, options)
    out = newline.join(printer.lines)
    if out and document.text.endswith(("\n", "\r")):  # a CR-only file's last line break counts
        out += newline
    return out


def format_text(text: str | bytes, options: FormatOptions | None = None) -> str:
    """Format ``text``; a leading byte-order mark is kept. Raises :class:`FormatError` on syntax errors."""
    from cfglang.parser import parse

    document = parse(text)
    formatted = format_document(document, options)
    return ("\ufeff" + formatted) if document.has_bom else formatted
