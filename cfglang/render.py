"""Diagnostics as text for people and machines: full, concise, json, github, sarif.

Every renderer takes a sequence of :class:`FileReport` (a file's name, the text
its spans refer to, and its diagnostics, already filtered and ordered) and
returns the whole output as one string. Nothing here reads files or decides
what to report.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from cfglang.diagnostics import Diagnostic, Edit, LineIndex, Severity, Span

if TYPE_CHECKING:  # pragma: no cover
    from cfglang.rules import Rule

__all__ = [
    "RENDERERS",
    "FileReport",
    "render",
    "render_full",
    "render_concise",
    "render_json",
    "render_github",
    "render_sarif",
    "render_diagnostic",
    "render_statistics",
    "summary",
    "printable",
    "for_terminal",
]


_TAB = "    "
_ELLIPSIS = "..."


@dataclass(frozen=True)
class FileReport:
    """One file's findings: ``path`` as shown in messages, ``text`` the decoded text the spans refer to."""

    path: str
    text: str
    diagnostics: tuple[Diagnostic, ...]
    index: LineIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", LineIndex(self.text))


# ---------------------------------------------------------------- control characters

# C0 controls but tab and line feed (ESC, BEL, CR, backspace), DEL, C1 controls (U+009B is a CSI) and the
# bidirectional controls (text that reads differently from what runs): shown as escapes, never sent as is,
# so that a file, a file name or a message cannot write to the clipboard (OSC 52), erase lines or retitle
# the terminal
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# what `json.dumps` leaves as is among them (it escapes C0 itself)
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with each control character as an escape (``\\x1b``, ``\\u202e``); tabs and line feeds kept."""
    return _CONTROL.sub(lambda m: _escape(m.group()), text)


def for_terminal(text: str, stream: object) -> str:
    """``text`` made :func:`printable` when ``stream`` is a terminal; as it is otherwise (a diff piped to
    ``patch`` must keep the file's bytes)."""
    isatty = getattr(stream, "isatty", None)
    return printable(text) if isatty is not None and isatty() else text


def _json_safe(text: str) -> str:
    """JSON text with DEL, C1 and bidirectional controls as ``\\u`` escapes (the same JSON value)."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# ---------------------------------------------------------------- colour


class _Style:
    """ANSI styling, or none at all."""

    _CODES = {"error": "1;31", "warning": "1;33", "info": "1;36", "note": "1;36", "help": "1;32",
              "gutter": "1;34", "bold": "1"}

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, role: str, text: str) -> str:
        if not self.color or not text:
            return text
        return f"\x1b[{self._CODES[role]}m{text}\x1b[0m"


# ---------------------------------------------------------------- full


def _char_width(ch: str) -> int:
    if ch == "\t":
        return len(_TAB)
    if _CONTROL.match(ch):
        return len(_escape(ch))
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _width(text: str) -> int:
    return sum(_char_width(ch) for ch in text)


def _line_segments(index: LineIndex, span: Span) -> list[tuple[int, int, int]]:
    """The (line, first column, end column) pieces a span covers, columns 1-based, end exclusive."""
    end_line, end_column = span.end_line, span.end_column
    if end_line > span.line and end_column == 1:  # the span ends with a line break
        end_line -= 1
        end_column = len(index.line_text(end_line)) + 1
    pieces = []
    for line in range(span.line, end_line + 1):
        text = index.line_text(line)
        first = span.column if line == span.line else len(text) - len(text.lstrip()) + 1
        last = end_column if line == end_line else len(text) + 1
        pieces.append((line, first, max(last, first)))
    return pieces


def _snippet(index: LineIndex, span: Span, gutter: int, style: _Style) -> list[str]:
    """The source lines under a span with carets under the whole span (long spans elided)."""
    pieces = _line_segments(index, span)
    if len(pieces) > 2:
        pieces = [pieces[0], None, pieces[-1]]  # type: ignore[list-item]
    bar = style("gutter", " " * gutter + " |")
    out = [bar]
    for piece in pieces:
        if piece is None:
            out.append(bar + " " + _ELLIPSIS)
            continue
        line, first, last = piece
        text = index.line_text(line)
        shown = printable(text.replace("\t", _TAB))
        out.append(style("gutter", str(line).rjust(gutter) + " |") + (" " + shown if shown else ""))
        pad = _width(text[: first - 1])
        carets = max(1, _width(text[first - 1 : last - 1]))
        out.append(bar + " " + " " * pad + style("error", "^" * carets))
    return out


def _gutter(diagnostic: Diagnostic) -> int:
    spans = [diagnostic.span, *(span for span, _ in diagnostic.related)]
    return max(len(str(span.end_line)) for span in spans)


def render_diagnostic(path: str, index: LineIndex, diagnostic: Diagnostic, color: bool = False) -> str:
    """One diagnostic in the full format (no trailing newline)."""
    style = _Style(color)
    span, severity = diagnostic.span, diagnostic.severity.label
    path = printable(path)
    head = (f"{style('bold', f'{path}:{span.line}:{span.column}:')} "
            f"{style(severity, f'{severity}[{diagnostic.code}]')}: {style('bold', printable(diagnostic.message))}")
    gutter = _gutter(diagnostic)
    lines = [head, *_snippet(index, span, gutter, style)]
    for related, message in diagnostic.related:
        lines.append(f"{style('note', 'note')}: {path}:{related.line}:{related.column}: {printable(message)}")
        lines.extend(_snippet(index, related, gutter, style))
    if diagnostic.hint:
        lines.append(f"{style('help', 'help')}: {printable(diagnostic.hint)}")
    return "\n".join(lines)


def render_full(reports: Sequence[FileReport], color: bool = False) -> str:
    blocks = [render_diagnostic(r.path, r.index, d, color) for r in reports for d in r.diagnostics]
    return "".join(block + "\n\n" for block in blocks)


# ---------------------------------------------------------------- concise


def fix_mark(d: Diagnostic) -> str:
    """``[*] `` before a finding `--fix` repairs, ``[~] `` before one only `--fix --unsafe-fixes` does."""
    if d.fix is None:
        return ""
    return "[*] " if d.fix.safe else "[~] "


def render_concise(reports: Sequence[FileReport], color: bool = False) -> str:
    style = _Style(color)
    out = []
    for report in reports:
        for d in report.diagnostics:
            label = d.severity.label
            out.append(f"{printable(report.path)}:{d.span.line}:{d.span.column}: "
                       f"{style(label, f'{label}[{d.code}]')} {fix_mark(d)}{printable(d.message)}\n")
    return "".join(out)


# ---------------------------------------------------------------- json


def _range(span: Span) -> dict[str, int]:
    return {"line": span.line, "column": span.column, "end_line": span.end_line, "end_column": span.end_column}


def _edit_range(index: LineIndex, edit: Edit) -> dict[str, int]:
    return _range(index.span(edit.start, edit.end))


def _json_item(report: FileReport, d: Diagnostic) -> dict:
    fix = None
    if d.fix is not None:
        fix = {
            "description": d.fix.description,
            "safe": d.fix.safe,
            "edits": [{**_edit_range(report.index, e), "new_text": e.new_text} for e in d.fix.edits],
        }
    return {
        "path": report.path,
        "code": d.code,
        "severity": d.severity.label,
        "message": d.message,
        **_range(d.span),
        "hint": d.hint,
        "related": [{**_range(span), "message": message} for span, message in d.related],
        "fix": fix,
    }


def render_json(reports: Sequence[FileReport], color: bool = False) -> str:
    import json

    items = [_json_item(r, d) for r in reports for d in r.diagnostics]
    return _json_safe(json.dumps(items, indent=2, ensure_ascii=False)) + "\n"


# ---------------------------------------------------------------- github

_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _gh_data(text: str) -> str:
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(reports: Sequence[FileReport], color: bool = False) -> str:
    out = []
    for report in reports:
        for d in report.diagnostics:
            s = d.span
            props = (f"file={_gh_property(report.path)},line={s.line},col={s.column},"
                     f"endLine={s.end_line},endColumn={s.end_column},title={_gh_property(d.code)}")
            out.append(f"::{_GITHUB_LEVEL[d.severity]} {props}::{_gh_data(d.message)}\n")
    return "".join(out)


# ---------------------------------------------------------------- sarif

_SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _artifact_uri(path: str) -> str:
    from urllib.parse import quote

    pure = PurePath(path)
    if pure.is_absolute():
        return Path(path).as_uri()
    return quote(pure.as_posix())


def _region(span: Span) -> dict[str, int]:
    # no charOffset: our offsets skip a byte-order mark, SARIF's would not
    return {"startLine": span.line, "startColumn": span.column, "endLine": span.end_line,
            "endColumn": span.end_column}


def _physical(uri: str, span: Span) -> dict:
    return {"artifactLocation": {"uri": uri}, "region": _region(span)}


def _sarif_rules(registered: Sequence[Rule] | None) -> list[dict]:
    if registered is None:
        from cfglang.rules import all_rules

        registered = all_rules()
    rules = []
    for r in registered:
        markdown = (f"{r.explanation}\n\nExample:\n\n```\n{r.bad.rstrip()}\n```\n\n"
                    f"Fixed:\n\n```\n{r.good.rstrip()}\n```\n")
        rules.append({
            "id": r.code,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.explanation},
            "help": {"text": r.explanation, "markdown": markdown},
            "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity], "enabled": r.status != "removed"},
            "properties": {"family": r.family, "status": r.status},
        })
    return rules


def _sarif_result(report: FileReport, d: Diagnostic, rule_index: dict[str, int]) -> dict:
    uri = _artifact_uri(report.path)
    text = d.message if not d.hint else f"{d.message} (help: {d.hint})"
    result: dict = {
        "ruleId": d.code,
        "level": _SARIF_LEVEL[d.severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": _physical(uri, d.span)}],
    }
    if d.code in rule_index:
        result["ruleIndex"] = rule_index[d.code]
    if d.related:
        result["relatedLocations"] = [
            {"id": i, "physicalLocation": _physical(uri, span), "message": {"text": message}}
            for i, (span, message) in enumerate(d.related)
        ]
    if d.fix is not None:
        replacements = [{"deletedRegion": _region(report.index.span(e.start, e.end)),
                         "insertedContent": {"text": e.new_text}} for e in d.fix.edits]
        result["fixes"] = [{
            "description": {"text": d.fix.description},
            "artifactChanges": [{"artifactLocation": {"uri": uri}, "replacements": replacements}],
        }]
    return result


def render_sarif(reports: Sequence[FileReport], color: bool = False, rules: Sequence[Rule] | None = None) -> str:
    """A SARIF 2.1.0 log; ``rules`` defaults to the whole registry."""
    import json

    from cfglang import __version__

    rules = _sarif_rules(rules)
    rule_index = {r["id"]: i for i, r in enumerate(rules)}
    results = [_sarif_result(r, d, rule_index) for r in reports for d in r.diagnostics]
    log = {
        "$schema": _SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "amct-lint", "version": __version__, "semanticVersion": __version__,
                                "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "artifacts": [{"location": {"uri": _artifact_uri(r.path)}} for r in reports],
            "results": results,
        }],
    }
    return _json_safe(json.dumps(log, indent=2, ensure_ascii=False)) + "\n"


# ---------------------------------------------------------------- dispatch and summaries

#: output format -> renderer ``(reports, color=...) -> str``: the one list of `amct lint --format` values
RENDERERS: dict[str, Callable[..., str]] = {
    "full": render_full,
    "concise": render_concise,
    "json": render_json,
    "github": render_github,
    "sarif": render_sarif,
}


def render(reports: Sequence[FileReport], fmt: str = "full", color: bool = False) -> str:
    """All reports in one of the formats of :data:`RENDERERS`."""
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format `{fmt}` (expected one of {', '.join(RENDERERS)})") from None
    return renderer(reports, color=color)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary(diagnostics: Iterable[Diagnostic], files: int, fixed: int = 0) -> str:
    """``found 2 errors and 1 warning in 1 file (3 fixed)``, ``fixed 2 problems, none left``, or empty."""
    counts = Counter(d.severity for d in diagnostics)
    parts = [_plural(counts[s], s.label) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO) if counts[s]]
    if not parts:
        return f"fixed {_plural(fixed, 'problem')}, none left" if fixed else ""
    found = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
    text = f"found {found} in {_plural(files, 'file')}"
    return text + (f" ({fixed} fixed)" if fixed else "")


def render_statistics(diagnostics: Iterable[Diagnostic], as_json: bool = False) -> str:
    """Counts per code, most frequent first: ``   3  F001  unknown-field  [*]`` (``[*]``: a fix exists)."""
    from cfglang.rules import get

    diagnostics = list(diagnostics)
    counts: Counter[str] = Counter()
    for d in diagnostics:  # a diagnostic that folds others in (F016) counts them too
        counts[d.code] += 1 + d.folded
    fixable = {d.code for d in diagnostics if d.fix is not None}
    rows = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        found = get(code)
        rows.append({"code": code, "name": found.name if found else None, "count": count,
                     "fixable": code in fixable})
    if as_json:
        import json

        return json.dumps(rows, indent=2) + "\n"
    width = max((len(str(r["count"])) for r in rows), default=1)
    lines = []
    for r in rows:
        parts = [str(r["count"]).rjust(width), r["code"], r["name"] or "", "[*]" if r["fixable"] else ""]
        lines.append("  ".join(p for p in parts if p) + "\n")
    return "".join(lines)

