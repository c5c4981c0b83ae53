"""Incremental linting: the diagnostics of an edited text without checking all of it again.

An editor sends the whole text after every keystroke, and most of a large
config is override entries that the edit did not touch.
:meth:`IncrementalLinter.lint` returns exactly the diagnostics that
:func:`cfglang.lint.lint` gives for the text (the tests compare the two over
random edit sequences) while checking again only what changed.

A text without syntax diagnostics is cut into *segments*: runs of whole lines,
each starting with a top-level field that begins its line. A segment whose
top-level fields are all ``override_layer_configs`` / ``override_layer_types``
entries (an *entry segment*) checks the same on its own as inside its file,
except for the entries' keys (a ``layer_name`` or ``layer_type`` used twice),
which only the whole list shows. So, for a new text:

1. the segments wholly inside the common prefix and suffix of the old and the
   new text are kept; the text between them is checked on its own and cut
   into new segments. A syntax diagnostic there, or anything else this module
   cannot vouch for, and the whole text is linted with :func:`~cfglang.lint.lint`
   (the next text is then compared with the last one that had no syntax
   diagnostic, so the edit that mends a typo is incremental again);
2. the other segments (top-level scalars, ``common_config``, skip lists, ...)
   are checked together every time, in the text with each entry segment
   blanked out: same offsets and lines, so their diagnostics need no moving;
3. the entry segments' diagnostics are moved to where the segments are now,
   duplicate keys are found over all entries in text order, and the
   suppressions and the settings' selection run over everything as in ``lint``.

With an inventory, the model-aware diagnostics come from resolving the whole
config, assembled from the same pieces: the other segments' config with the
entries copied in, in text order, and a span table that looks each entry's
paths up where it was checked and moves them. The result's ``check`` (the
whole :class:`~cfglang.checker.CheckResult`) and ``document`` (its tree) are
computed the first time they are asked for.
"""

from __future__ import annotations

import bisect
import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cfglang import schema
from cfglang.checker import CheckResult, check, finding_diagnostic
from cfglang.diagnostics import Diagnostic, LineIndex, Span
from cfglang.lint import LintResult, finish, lint, model_diagnostics
from cfglang.message import is_set
from cfglang.parser import DEFAULT_MAX_SIZE, parse
from cfglang.rules import schema as F
from cfglang.settings import Settings
from cfglang.syntax import Comment, Document, MessageValue

__all__ = ["IncrementalLinter", "common_prefix"]

_KEY_OF = {"override_layer_configs": "layer_name", "override_layer_types": "layer_type"}
_KEY_CODES = frozenset((F.DUPLICATE_LAYER_NAME, F.DUPLICATE_LAYER_TYPE))
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Entry:
    """One override entry: its list, where its value starts, its key (None: not given) and the key's span;
    and where its message and spans are: entry ``index`` of the list in ``result``, whose offsets and lines
    are ``moved`` from here."""

    list_name: str
    start: int
    value: str | None
    span: Span | None
    result: CheckResult
    index: int
    moved: tuple[int, int] = (0, 0)

    def shifted(self, offset: int, lines: int) -> _Entry:
        span = self.span.shifted(offset, lines) if self.span is not None else None
        return _Entry(self.list_name, self.start + offset, self.value, span, self.result, self.index,
                      (self.moved[0] + offset, self.moved[1] + lines))


class _Moved:
    """A span table entry moved by whole lines (without syntax nodes, as :mod:`cfglang.resolution` takes
    them); each span is computed when asked for (resolution asks for one of the two)."""

    __slots__ = ("_loc", "_offset", "_lines")

    def __init__(self, loc: Any, offset: int, lines: int) -> None:
        self._loc, self._offset, self._lines = loc, offset, lines

    @property
    def name_span(self) -> Span:
        return self._loc.name_span.shifted(self._offset, self._lines)

    @property
    def value_span(self) -> Span:
        return self._loc.value_span.shifted(self._offset, self._lines)


class _Spans:
    """The span table of the whole text: the entries' paths looked up where each entry was checked, and
    moved on the way out; the other paths in the check of the other segments (same offsets)."""

    def __init__(self, head: CheckResult, entries: dict[tuple[str, int], _Entry]) -> None:
        self._head = head.spans
        self._entries = entries

    def get(self, path: tuple[str | int, ...]) -> Any:
        if len(path) < 2 or path[0] not in _KEY_OF:
            return self._head.get(path)
        entry = self._entries.get(path[:2])  # type: ignore[index]
        if entry is None:
            return None
        loc = entry.result.spans.get((path[0], entry.index, *path[2:]))
        return None if loc is None else _Moved(loc, *entry.moved)


@dataclass(frozen=True, slots=True)
class _Checked:
    """What resolution needs of a check result: the whole config, a span table, and the checker's
    diagnostics (a model-aware one where the checker already reports is dropped)."""

    config: Any
    spans: _Spans
    diagnostics: tuple[Diagnostic, ...]
    target: Any = None  # the capabilities.Target it was checked against


@dataclass(slots=True)
class _Segment:
    """Whole lines of a text; for an entry segment, what checking it gave, relative to its start."""

    text: str
    only_entries: bool
    diagnostics: tuple[Diagnostic, ...] = ()
    comments: tuple[tuple[str, int, int], ...] = ()
    entries: tuple[_Entry, ...] = ()
    lines: int = field(init=False)
    _blank: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.lines = self.text.count("\n")

    @property
    def blank(self) -> str:
        """The text with every character but the line breaks made a space."""
        if self._blank is None:
            self._blank = "\n".join(" " * len(line) for line in self.text.split("\n"))
        return self._blank


class IncrementalLinter:
    """Lints successive versions of one document, reusing what an edit left alone.

    ``lint(text, settings, inventory)`` is :func:`cfglang.lint.lint` ``(text, path, settings,
    inventory)``: the same diagnostics, in the same order.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._text: str | None = None  # the last text (BOM removed) that had no syntax diagnostic
        self._segments: list[_Segment] = []  # and its segments
        self._target: str | None = None  # the target they were checked against

    def lint(self, text: str, settings: Settings | None = None, inventory: Any = None) -> LintResult:
        # the segments, entries and moved diagnostics are many small objects and no cycles: with the
        # collector on, each collection rescanned the whole tree of a large file (a third of _cut's time
        # on 4 MB), as in the parser and the checker
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._lint(text, settings, inventory)
        finally:
            if collecting:
                gc.enable()

    def _lint(self, text: str, settings: Settings | None, inventory: Any) -> LintResult:
        settings = settings or Settings()
        body = text.removeprefix("\ufeff")
        if settings.target != self._target:  # the segments' diagnostics were found under another target
            self._text, self._target = None, settings.target
        # a text over the size limit is linted whole (one S015); a second BOM is a character: checking a
        # piece that starts with it would drop it
        if (self._text is not None and _within(body, settings.max_file_size or DEFAULT_MAX_SIZE)
                and not body.startswith("\ufeff")):
            segments = self._update(body, settings)
            if segments is not None:
                result = self._assemble(text, body, segments, settings, inventory)
                if result is not None:
                    self._text, self._segments = body, segments
                    return result
        result = lint(text, self.path, settings, inventory)
        segments = _cut(result.check) if result.syntax_ok else None
        if segments is not None:  # else the last clean text stays the base: the edit that mends this is small
            self._text, self._segments = body, segments
        return result

    def _update(self, body: str, settings: Settings) -> list[_Segment] | None:
        """The segments of ``body``: the old ones the edit left alone, the changed text cut anew."""
        old, segments = self._text, self._segments
        assert old is not None
        prefix = common_prefix(old, body)
        suffix = _common_suffix(old, body, min(len(old), len(body)) - prefix)
        first, start = 0, 0
        # a kept segment before the change ends with its line break (or the next line would join it)
        while (first < len(segments) and start + len(segments[first].text) <= prefix
               and segments[first].text.endswith("\n")):
            start += len(segments[first].text)
            first += 1
        last, end = len(segments), len(old)
        # ... and one after it starts after a line break that is unchanged too
        while last > first and end - len(segments[last - 1].text) > len(old) - suffix:
            end -= len(segments[last - 1].text)
            last -= 1
        region = body[start : end + len(body) - len(old)]
        middle: list[_Segment] = []
        if region.startswith("\ufeff"):
            return None
        if region:
            middle = _cut(check(region, self.path, max_size=settings.max_file_size, target=settings.target))
            if middle is None:
                return None
        return segments[:first] + middle + segments[last:]

    def _assemble(self, text: str, body: str, segments: list[_Segment], settings: Settings,
                  inventory: Any) -> LintResult | None:
        pieces, placed = [], []
        offset = lines = 0
        for segment in segments:
            if segment.only_entries:
                pieces.append(segment.blank)
                placed.append((segment, offset, lines))
            else:
                pieces.append(segment.text)
            offset += len(segment.text)
            lines += segment.lines
        head = check("".join(pieces), self.path, max_size=settings.max_file_size, target=settings.target)
        if head.document.diagnostics:  # clean segments make a clean text: do not trust anything else
            return None
        index = LineIndex(body)
        found = [d for d in head.diagnostics if d.code not in _KEY_CODES]
        comments = list(head.document.comments)
        entries = _entries(head)
        for segment, offset, lines in placed:
            found.extend(d.shifted(offset, lines) for d in segment.diagnostics)
            comments.extend(Comment(t, s + offset, e + offset, index) for t, s, e in segment.comments)
            entries.extend(e.shifted(offset, lines) for e in segment.entries)
        entries.sort(key=lambda e: e.start)
        found.extend(_duplicate_keys(entries))
        if any(d.code == F.OTHER_CONFIG_KIND for d in found):
            return None  # a file of another config kind is one diagnostic over the whole text: lint it whole
        if inventory is not None:
            found.extend(model_diagnostics(_whole(head, entries, tuple(found)), inventory))
        comments.sort(key=lambda c: c.start)
        full, document = _later(text, self.path, settings.max_file_size, settings.target)
        return finish(body, len(body) != len(text), found, comments, index, settings, full, True, document)


def _within(text: str, limit: int) -> bool:
    """True when ``text`` is at most ``limit`` bytes in UTF-8 (the parser's size limit). UTF-8 takes at most
    4 bytes a character, so a short text needs no count; a longer one is counted (before, every text over a
    quarter of the limit, 4 MiB, was linted in full at every edit: 10 s an edit of a 15 MB file)."""
    if len(text) * 4 <= limit:
        return True
    return len(text) <= limit and (text.isascii() or len(text.encode("utf-8", "surrogatepass")) <= limit)


def _later(text: str, path: str | None, limit: int | None,
           target: str | None = None) -> tuple[Callable[[], CheckResult], Callable[[], Document]]:
    """Functions computing the text's check result and its tree, each once (the check result reuses
    the tree when that was asked for first)."""
    tree: list[Document] = []

    def document() -> Document:
        if not tree:
            tree.append(parse(text, path, max_size=limit or DEFAULT_MAX_SIZE))
        return tree[0]

    return (lambda: check(document(), target=target)), document


def _cut(result: CheckResult) -> list[_Segment] | None:
    """The segments of a checked text; None when it has syntax diagnostics."""
    document = result.document
    if document.diagnostics:
        return None
    text, fields = document.text, document.fields
    starts, firsts = [0], [0]  # each segment's offset and its first top-level field
    for i in range(1, len(fields)):
        previous, current = fields[i - 1], fields[i]
        previous_end = previous.sep_end if previous.sep_end is not None else previous.end
        # a line break between the two fields, searched for between them only: a search back to the
        # text's start made a file of one long line quadratic
        line_start = text.rfind("\n", previous_end, current.start) + 1
        if line_start > max(previous_end, starts[-1]) and not text[line_start : current.start].strip(" \t"):
            starts.append(line_start)
            firsts.append(i)
    starts.append(len(text))
    firsts.append(len(fields))
    index = document.index
    # what belongs to each segment, found in one pass (a scan of everything per segment was quadratic:
    # minutes for the first open of a 15 MB file)
    diagnostics = _by_segment(starts, (d for d in result.diagnostics if d.code not in _KEY_CODES),
                              lambda d: d.span.start)
    comments = _by_segment(starts, document.comments, lambda c: c.start)
    entries = _by_segment(starts, _entries(result), lambda e: e.start)
    segments = []
    for n in range(len(starts) - 1):
        start, end = starts[n], starts[n + 1]
        own = fields[firsts[n] : firsts[n + 1]]
        if not own or not all(f.name in _KEY_OF and isinstance(f.value, MessageValue) for f in own):
            segments.append(_Segment(text[start:end], False))
            continue
        lines = index.position(start)[0] - 1
        segments.append(_Segment(
            text[start:end], True,
            tuple(d.shifted(-start, -lines) for d in diagnostics.get(n, ())),
            tuple((c.text, c.start - start, c.end - start) for c in comments.get(n, ())),
            tuple(e.shifted(-start, -lines) for e in entries.get(n, ())),
        ))
    return segments


def _by_segment(starts: list[int], items: Iterable[T], offset: Callable[[T], int]) -> dict[int, list[T]]:
    """``items`` grouped by the segment their offset falls in (``starts``: the segments' offsets, then the
    text's end), each group in the items' order."""
    groups: dict[int, list[T]] = {}
    last = len(starts) - 2
    for item in items:
        n = bisect.bisect_right(starts, offset(item)) - 1
        if 0 <= n <= last and offset(item) < starts[n + 1]:
            groups.setdefault(n, []).append(item)
    return groups


def _entries(result: CheckResult) -> list[_Entry]:
    """Every override entry of a checked text, with its key."""
    found = []
    for list_name, key in _KEY_OF.items():
        for i, entry in enumerate(getattr(result.config, list_name)):
            given = is_set(entry, key)
            found.append(_Entry(list_name, result.spans[(list_name, i)].value.start,
                                getattr(entry, key) if given else None,
                                result.spans.span((list_name, i, key)) if given else None, result, i))
    return found


def _whole(head: CheckResult, entries: list[_Entry], diagnostics: tuple[Diagnostic, ...]) -> _Checked:
    """The config and span table of the whole text, from the check of the other segments and the
    entries (in text order) where they were checked; ``diagnostics``: the checker's, for the whole text."""
    config = schema.new_message(schema.ROOT)
    config.CopyFrom(head.config)
    for list_name in _KEY_OF:
        config.ClearField(list_name)
    places = {}
    for entry in entries:
        container = getattr(config, entry.list_name)
        container.add().CopyFrom(getattr(entry.result.config, entry.list_name)[entry.index])
        places[(entry.list_name, len(container) - 1)] = entry
    return _Checked(config, _Spans(head, places), diagnostics, head.target)


def _duplicate_keys(entries: list[_Entry]) -> list[Diagnostic]:
    """:func:`cfglang.rules.schema.repeated_keys` over every entry of the text (in text order)."""
    message = schema.new_message(schema.ROOT)
    spans: dict[tuple[str | int, ...], Span | None] = {}
    for key in entries:
        container = getattr(message, key.list_name)
        entry = container.add()
        if key.value is not None:
            setattr(entry, _KEY_OF[key.list_name], key.value)
            spans[(key.list_name, len(container) - 1, _KEY_OF[key.list_name])] = key.span
    return [d for f in F.repeated_keys(message) if (d := finding_diagnostic(f, spans.get)) is not None]


def common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix (string comparisons, not a loop over characters)."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low], a[:high] != b[:high]
    while high - low > 1:
        mid = (low + high) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    """The length of the longest common suffix, at most ``limit``."""
    la, lb = len(a), len(b)
    if a[la - limit :] == b[lb - limit :]:
        return limit
    low, high = 0, limit
    while high - low > 1:
        mid = (low + high) // 2
        if a[la - mid : la - low] == b[lb - mid : lb - low]:
            low = mid
        else:
            high = mid
    return low
