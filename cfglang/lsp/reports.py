"""Sensitivity reports in the editor: a layer name's figures on hover, and ``amct tune``'s edit as a code action.

Discovery: a file named ``report.json`` in the document's folder or in a folder
below it (at most :data:`DEPTH` levels down, hidden folders skipped, symbolic
links not followed out of the document's folder) whose ``config.path``,
taken from the report's folder, is the document. When several match, the one made from the document's
current text wins, then the newest. A report made from another text of the file (its ``config.sha256``
differs) is *stale*: the hover still shows its figures, marked as such; the tune edit is offered only
while ``tune.config_sha256`` is the hash of the current text. A report that cannot be read is skipped,
with a note to the user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from cfglang.lsp.positions import Positions
from cfglang.report import Report, ReportError, layer_figures, load_report, text_sha256

__all__ = ["DEPTH", "NAME", "TUNE", "FoundReport", "find_reports", "pick", "layer_hover", "tune_action"]

NAME = "report.json"
DEPTH = 2  # folders below the document's
_MAX_FOLDERS = 200  # a document in a large tree: look at this many folders at most
TUNE = "refactor.rewrite.amct.tune"


@dataclass(frozen=True)
class FoundReport:
    path: Path
    report: Report
    mtime_ns: int


def _folders(top: Path) -> list[Path]:
    """``top`` and its folders down to :data:`DEPTH` levels, breadth first, hidden ones and links skipped."""
    found, level = [top], [top]
    for _ in range(DEPTH):
        below = []
        for folder in level:
            try:
                with os.scandir(folder) as entries:
                    below += sorted(Path(e.path) for e in entries
                                    if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))
            except OSError:
                continue
        level = below[:_MAX_FOLDERS - len(found)]
        found += level
    return found


def find_reports(document: str, limit: int | None, notes: list[str]) -> list[FoundReport]:
    """Every readable report of the document at path ``document`` (see the module's docstring); a report
    that cannot be read adds a line to ``notes``."""
    target = Path(document).resolve()
    out = []
    for folder in _folders(target.parent):
        candidate = folder / NAME
        try:
            if not candidate.is_file() or candidate.is_symlink():
                continue
            mtime = candidate.stat().st_mtime_ns
        except OSError:
            continue
        try:
            report = load_report(candidate, limit=limit)
        except ReportError as exc:
            notes.append(f"amct: sensitivity report not used: {exc}")
            continue
        if (folder / report.config_path).resolve() == target:
            out.append(FoundReport(candidate, report, mtime))
    return out


def pick(found: list[FoundReport], text: str) -> FoundReport | None:
    """The report to use for ``text``: one made from it first, then the newest."""
    if not found:
        return None
    sha = text_sha256(text)
    return max(found, key=lambda f: (f.report.config_sha256 == sha, f.mtime_ns))


def layer_hover(found: FoundReport, name: str, text: str, shown_path: str) -> str:
    """Markdown: what the report measured for layer ``name``."""
    report = found.report
    stale = "" if report.fresh(text) else \
        " _(made from an earlier text of this file: run `amct analyze` again)_"
    layer = report.layer(name)
    if layer is None:
        return f"**sensitivity report** `{shown_path}`{stale}: `{name}` was not quantized when it was made"
    lines = [f"**sensitivity** (`{shown_path}`, {report.samples} samples){stale}"]
    lines += [f"- {what}: `{value}`" for what, value in layer_figures(report, layer)]
    return "\n".join(lines)


def tune_action(found: FoundReport, text: str, uri: str, positions: Positions) -> types.CodeAction | None:
    """``amct tune``'s proposed edit as a code action, when it applies to exactly ``text`` (the core's text:
    without a BOM, as the tools hash it)."""
    tune = found.report.tune
    if tune is None or not tune.changes or tune.config_sha256 != text_sha256(text):
        return None
    edits = []
    for edit in tune.edits:
        start, end = edit.offsets(text)
        edits.append(types.TextEdit(range=positions.range(start, end), new_text=edit.new_text))
    figure = tune.target_figure
    before, after = getattr(tune.before, figure), getattr(tune.after, figure)
    shown = "" if before is None or after is None else f": {figure} {before:.4g} -> {after:.4g}"
    count = len(tune.changes)
    return types.CodeAction(
        title=f"Apply amct tune ({count} change{'s' if count != 1 else ''}{shown})",
        kind=TUNE,
        edit=types.WorkspaceEdit(changes={uri: edits}),
    )
