"""The ``# amct:`` comments: what a file tells amct about itself, read from the parsed comments.

Two forms exist:

* suppressions, ``# amct: noqa: CODE[, CODE]`` (the diagnostics of its line) and
  ``# amct: noqa-file: CODE`` (the whole file), in any comment
  (:func:`suppressions`; :mod:`cfglang.lint` applies them);
* the layers header, ``# amct: layers=PATH``, a comment of the file's header (the
  comments before the first token) that names the file's layer inventory
  (:func:`layers_header`; :func:`cfglang.settings.inventory_source` uses it).

Both read :class:`~cfglang.syntax.Comment` nodes as the scanner produced them
and take lines and columns from their :class:`~cfglang.diagnostics.LineIndex`;
the header is read before a file is checked (the inventory is an input of the
check), so it comes from :func:`cfglang.parser.header_comments`, which scans the
header only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from cfglang.parser import header_comments
from cfglang.syntax import Comment

__all__ = ["Suppression", "suppressions", "LayersHeader", "layers_header", "header_layers"]

# a suppression anywhere in a comment; the codes are taken only after a `:`
_NOQA = re.compile(r"#\s*amct:\s*noqa(?P<file>-file)?\b(?P<colon>\s*:)?(?P<codes>[ \t]*[A-Za-z]+[0-9]+"
                   r"(?:[ \t]*,?[ \t]*[A-Za-z]+[0-9]+)*)?", re.IGNORECASE)
_CODE = re.compile(r"[A-Za-z]+[0-9]+")
# the layers header: a comment that starts with it
_LAYERS = re.compile(r"#\s*amct:\s*layers\s*=\s*(?P<path>\S+)")


@dataclass
class Suppression:
    """One ``# amct: noqa`` comment; ``used`` collects the codes it suppressed (filled in by the linter)."""

    comment_start: int  # offset of the directive's `#`
    end: int  # offset after the directive (codes included)
    codes_start: int  # where the code list starts (== end when there is none)
    line: int
    whole_file: bool
    codes: list[tuple[str, int, int]]  # (code, start, end), the code upper-cased
    own_comment: bool  # the directive starts the comment, so deleting it deletes the comment
    used: set[str] = field(default_factory=set)


def suppressions(comments: Iterable[Comment]) -> list[Suppression]:
    """The suppressions among ``comments``, in their order."""
    found = []
    for comment in comments:
        match = _NOQA.search(comment.text)
        if match is None:
            continue
        base = comment.start
        codes_group = match.group("codes") or ""
        codes_start = base + (match.start("codes") if match.group("codes") else match.end())
        codes = [(m.group().upper(), codes_start + m.start(), codes_start + m.end())
                 for m in _CODE.finditer(codes_group)] if match.group("colon") else []
        found.append(Suppression(base + match.start(), base + match.end(), codes_start,
                                 comment.index.position(comment.start)[0], bool(match.group("file")), codes,
                                 match.start() == 0))
    return found


@dataclass(frozen=True)
class LayersHeader:
    """A ``# amct: layers=PATH`` header comment: the path as written and where it starts (1-based, code points)."""

    path: str
    line: int
    column: int


def layers_header(text: str | bytes) -> LayersHeader | None:
    """The first ``# amct: layers=PATH`` comment of the file's header, if any."""
    for comment in header_comments(text):
        match = _LAYERS.match(comment.text)
        if match:
            line, column = comment.index.position(comment.start + match.start("path"))
            return LayersHeader(match.group("path"), line, column)
    return None


def header_layers(text: str | bytes) -> str | None:
    """The path of the ``# amct: layers=PATH`` header comment, as written."""
    header = layers_header(text)
    return header.path if header is not None else None
