"""Where the cursor is, read from the text before it: works on any broken text.

Completion and hover run while the user is typing, when the file rarely
parses. Rather than ask the parser for a tree of half a field, this module
reads the plain tokens of the text before the cursor, as the parser's scanner
reads them (:meth:`cfglang.lexer.Scanner.plain`), and keeps a stack of the
messages that are open. It never fails: characters that start no token are
skipped.

The scan is linear in the text before the cursor: seconds for a completion at
the end of a 15 MB file. :class:`ContextScanner` keeps the scanner's state
every :data:`CHECKPOINT` characters for the document's last text, and starts
the next scan from the last state the edit left valid (before the first changed
character), so a request near an edit costs little more than the text since the
checkpoint before it.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Literal

from cfglang.incremental import common_prefix
from cfglang.parser import scanner

__all__ = ["CursorContext", "ContextScanner", "cursor_context", "word_at", "CHECKPOINT"]

CHECKPOINT = 16384  # characters between two saved scanner states
_LONGEST_WORD = 4096  # the identifier before the cursor is looked for this far back at most

# what each kind of token is to the cursor scan (None: skipped)
_KINDS = {"FIELD_NAME": "name", "IDENT": "name", "BAD_IDENT": "name", "INTEGER": "number", "FLOAT": "number",
          "NUMBER_LIKE": "number", "STRING": "string", "UNTERMINATED_STRING": "unterminated", "PUNCT": "punct",
          "COMMENT": None, "OTHER_WS": None, "ANY": None}
_WORD = re.compile(r"[A-Za-z0-9_]*\Z")
_WORD_AFTER = re.compile(r"[A-Za-z0-9_]*")

Slot = Literal["name", "value"]


@dataclass(frozen=True, slots=True)
class CursorContext:
    """What the cursor is in.

    ``path`` names the enclosing messages from the top (``("override_layer_configs",
    "calibration_config")``); ``slot`` is ``"name"`` where a field name goes and
    ``"value"`` where the value of ``field`` goes. ``prefix`` is what is typed
    already (inside a string: the string's content so far), starting at offset
    ``prefix_start``.
    """

    path: tuple[str, ...]
    slot: Slot
    field: str | None
    prefix: str
    prefix_start: int
    in_string: bool
    quote: str | None = None


@dataclass(slots=True)
class _Open:
    name: str
    in_list: bool


# a saved state: where (a token's start), the open messages, the state, the pending name, the listed name
_Saved = tuple[int, tuple[_Open, ...], str, "str | None", "str | None"]


class ContextScanner:
    """:func:`cursor_context` for the successive texts of one document, resuming from saved states."""

    def __init__(self) -> None:
        self._text = ""
        self._saved: list[_Saved] = []

    def context(self, text: str, offset: int) -> CursorContext:
        if text is not self._text:
            # a state saved at a line's first token depends on the text before it and the character there
            keep = common_prefix(self._text, text)
            self._saved = [s for s in self._saved if s[0] < keep]
            self._text = text
        return _context(text, offset, self._saved)


def cursor_context(text: str, offset: int) -> CursorContext:
    """The context of ``offset`` in ``text`` (clamped to the text)."""
    return _context(text, offset, None)


def _context(text: str, offset: int, saved: list[_Saved] | None) -> CursorContext:
    offset = min(max(offset, 0), len(text))
    word = _WORD.search(text, max(offset - _LONGEST_WORD, 0), offset)
    prefix = word.group() if word else ""
    scan_end = offset - len(prefix)

    stack: list[_Open] = []
    state: Literal["name", "after_name", "value", "list"] = "name"
    pending: str | None = None
    string_at: int | None = None
    quote: str | None = None
    listed: str | None = None
    start = 0
    if saved:
        i = bisect.bisect_right(saved, scan_end, key=lambda s: s[0]) - 1
        if i >= 0:
            start, opened, state, pending, listed = saved[i]  # type: ignore[assignment]
            stack = list(opened)
    next_save = (saved[-1][0] if saved else 0) + CHECKPOINT
    for kind, token_start, token_end in scanner().plain(text, start, scan_end):
        # a state is saved at a token that starts a line: no token reaches across a line break, and whether
        # a quote starts a string depends on the rest of its line (so a state saved inside one could be
        # wrong after an edit further along that line)
        if saved is not None and token_start >= next_save and text[token_start - 1] == "\n":
            saved.append((token_start, tuple(stack), state, pending, listed))
            next_save = token_start + CHECKPOINT
        kind = _KINDS[kind]
        if kind is None:
            continue
        if kind == "string" or kind == "unterminated":
            if kind == "unterminated" and token_end == scan_end:
                string_at, quote = token_start, text[token_start]
                break
            if state == "value":
                state = "name"
            continue
        if kind == "number":
            if state == "value":
                state = "name"
            continue
        token = text[token_start:token_end]
        if kind == "name":
            # an identifier value (`true`, an enum name), or the next field's name when the
            # value is missing (`do_fusion:\nbatch_num: 1`): the token after it tells
            if state in ("name", "after_name", "value"):
                pending, state = token, "after_name"
            elif state == "list":
                listed = token  # an enum item, or the next field's name after an unclosed list
            continue
        if token in ":{<" and state == "list" and listed is not None:
            # the list was left unclosed and a new field starts
            pending, state, listed = listed, "value" if token == ":" else "name", None
            if token != ":":
                stack.append(_Open(pending, False))
            continue
        listed = None
        state, pending = _punct(token, state, pending, stack)

    path = tuple(o.name for o in stack)
    if string_at is not None:
        content = text[string_at + 1:offset]
        slot: Slot = "value" if state in ("value", "list") else "name"
        return CursorContext(path, slot, pending, content, string_at + 1, True, quote)
    if state in ("value", "list"):
        return CursorContext(path, "value", pending, prefix, scan_end, False)
    return CursorContext(path, "name", None, prefix, scan_end, False)


def _punct(token: str, state: str, pending: str | None, stack: list[_Open]) -> tuple[str, str | None]:
    if token == ":":
        return ("value", pending) if state == "after_name" else (state, pending)
    if token in "{<":
        if state in ("after_name", "value", "list") and pending is not None:
            stack.append(_Open(pending, state == "list"))
        else:
            stack.append(_Open("", False))  # a stray brace: keep nesting balanced
        return "name", None
    if token in "}>":
        if stack:
            closed = stack.pop()
            if closed.in_list:
                return "list", closed.name
        return "name", None
    if token == "[":
        return ("list", pending) if state == "value" else (state, pending)
    if token == "]":
        return "name", None
    # `,` and `;` separate fields, and list items inside a list
    if state == "list":
        return "list", pending
    return "name", None


def word_at(text: str, offset: int) -> tuple[int, int] | None:
    """The identifier around ``offset`` as ``(start, end)``, or None."""
    offset = min(max(offset, 0), len(text))
    before = _WORD.search(text, max(offset - _LONGEST_WORD, 0), offset)
    start = before.start() if before else offset
    end = _WORD_AFTER.match(text, offset).end()
    if start == end or not (text[start].isalpha() or text[start] == "_"):
        return None
    return start, end
