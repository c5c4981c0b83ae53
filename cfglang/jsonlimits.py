"""Reading JSON that nobody vetted: bounded nesting and integer length, every failure located.

Python's ``json`` raises ``RecursionError`` on deep nesting (100,000 ``[``) and
``ValueError`` on integers of more than 4,300 digits; both would surface as
internal errors. :func:`loads` turns them, and any syntax error, into one
:class:`JSONLimitError` whose message starts with ``SOURCE:LINE:COLUMN:``.
The limits are far above what an inventory or a config needs.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "JSONLimitError", "loads"]

MAX_DEPTH = 100  # arrays and objects inside each other (the parser's limit for messages, too)
MAX_INT_DIGITS = 100  # an int64 has 19 digits

# strings (skipped whole), brackets, and numbers
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[{]|[\]}]|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?')


class JSONLimitError(ValueError):
    """JSON that cannot be used: ``str()`` is ``SOURCE:LINE:COLUMN: what``."""


class _LongInteger(ValueError):
    pass


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _LongInteger(text)
    return int(text)


def loads(data: str | bytes, source: str) -> Any:
    """The value of the JSON ``data``; raises :class:`JSONLimitError` naming ``source`` and the place."""
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONLimitError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        text = text.removeprefix("\ufeff")
    else:
        text = data
    try:
        value = json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise JSONLimitError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise _located(text, source) from None
    except _LongInteger:
        raise _located(text, source) from None
    if _depth(value) > MAX_DEPTH:
        raise _located(text, source)
    return value


def _depth(value: Any) -> int:
    """How many arrays and objects are nested at the deepest point (without recursion)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _located(text: str, source: str) -> JSONLimitError:
    """The first place where the text goes deeper than :data:`MAX_DEPTH` or has a too long integer."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return JSONLimitError(f"{_where(text, match.start(), source)}: nested more than {MAX_DEPTH} "
                                      f"arrays and objects deep")
        elif token in ("]", "}"):
            depth -= 1
        elif token[0] != '"' and token.lstrip("-").isdigit() and len(token.lstrip("-")) > MAX_INT_DIGITS:
            return JSONLimitError(f"{_where(text, match.start(), source)}: an integer of {len(token.lstrip('-'))} "
                                  f"digits, more than the limit of {MAX_INT_DIGITS}")
    return JSONLimitError(f"{source}: nested too deep to read")  # not reached: the scan finds what json found


def _where(text: str, offset: int, source: str) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{source}:{line}:{column}"
