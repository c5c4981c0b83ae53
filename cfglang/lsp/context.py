"""Where the cursor is, read from the text before it: works on any broken text.

Completion and hover run while the user is typing, when the file rarely
parses. Rather than ask the parser for a tree of half a field, this module
scans the text before the cursor with the few tokens that matter (names,
strings, brackets, ``:``), keeping a stack of the messages that are open. It
never fails: unknown characters are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["CursorContext", "cursor_context", "word_at"]

_TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*("|$)|'(?:[^'\\\n]|\\.)*('|$))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[-+]?(?:\d|\.\d)[A-Za-z0-9_.+-]*)
  | (?P<punct>[{}<>\[\]:,;])
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.MULTILINE,
)
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


def cursor_context(text: str, offset: int) -> CursorContext:
    """The context of ``offset`` in ``text`` (clamped to the text)."""
    offset = min(max(offset, 0), len(text))
    before = text[:offset]
    word = _WORD.search(before)
    prefix = word.group() if word else ""
    scan_end = offset - len(prefix)

    stack: list[_Open] = []
    state: Literal["name", "after_name", "value", "list"] = "name"
    pending: str | None = None
    string_at: int | None = None
    quote: str | None = None
    listed: str | None = None
    for match in _TOKEN.finditer(text, 0, scan_end):
        kind = match.lastgroup
        token = match.group()
        if kind in ("space", "comment", "other"):
            continue
        if kind == "string":
            unterminated = len(token) == 1 or token[-1] != token[0] or _escaped_end(token)
            if unterminated and match.end() == scan_end and "\n" not in token:
                string_at, quote = match.start(), token[0]
                break
            if state == "value":
                state = "name"
            continue
        if kind == "number":
            if state == "value":
                state = "name"
            continue
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


def _escaped_end(token: str) -> bool:
    """True when the closing quote of ``token`` is escaped (so it does not close)."""
    backslashes = len(token) - 1 - len(token[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def word_at(text: str, offset: int) -> tuple[int, int] | None:
    """The identifier around ``offset`` as ``(start, end)``, or None."""
    offset = min(max(offset, 0), len(text))
    before = _WORD.search(text, 0, offset)
    start = before.start() if before else offset
    end = _WORD_AFTER.match(text, offset).end()
    if start == end or not (text[start].isalpha() or text[start] == "_"):
        return None
    return start, end
