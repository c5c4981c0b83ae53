"""Edits: whole-document formatting, the fixes `amct lint --fix` knows and a sensitivity report's tune edit as
code actions."""

from __future__ import annotations

from lsprotocol import types

from cfglang.diagnostics import Diagnostic, Edit, Fix
from cfglang.lsp import convert, reports
from cfglang.lsp.analysis import Analysis
from cfglang.lsp.positions import Positions

__all__ = ["KINDS", "FIX_ALL", "format_document", "code_actions", "text_edits"]

FIX_ALL = f"{types.CodeActionKind.SourceFixAll.value}.amct"
KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll, FIX_ALL, reports.TUNE]


def text_edits(edits: tuple[Edit, ...] | list[Edit], positions: Positions) -> list[types.TextEdit]:
    return [types.TextEdit(range=positions.range(e.start, e.end), new_text=e.new_text) for e in edits]


def _whole_document(analysis: Analysis, new_text: str) -> list[types.TextEdit]:
    """One edit replacing the document, or none when nothing changes.

    The edit covers the text after the BOM (the core's text), so a BOM the
    editor keeps stays untouched.
    """
    core_text = analysis.core_text
    if new_text == core_text:
        return []
    return [types.TextEdit(range=analysis.positions.range(0, len(core_text)), new_text=new_text)]


def format_document(analysis: Analysis, options: types.FormattingOptions | None = None) -> list[types.TextEdit]:
    """``amct fmt`` on the document; a file with syntax errors is left as it is, as the CLI does.

    The project's ``[tool.amct.format]`` decides the layout, not the editor's
    tab size, so that the editor and ``amct fmt --check`` in CI agree.
    """
    formatted = analysis.formatted()
    if formatted is None:
        return []
    return _whole_document(analysis, formatted)


def code_actions(analysis: Analysis, uri: str, selection: types.Range,
                 context: types.CodeActionContext) -> list[types.CodeAction]:
    """A quick fix for each fixable diagnostic touching ``selection``, the fix-all actions, and the sensitivity
    report's tune edit when it applies to this text."""
    only = context.only
    actions: list[types.CodeAction] = []
    if _wanted(only, types.CodeActionKind.QuickFix):
        start, end = analysis.positions.offset(selection.start), analysis.positions.offset(selection.end)
        for d in analysis.diagnostics:
            if d.fix is not None and _touches(d, start, end):
                actions.append(_quick_fix(d, d.fix, analysis, uri))
    if _wanted(only, FIX_ALL) and any(d.fix is not None for d in analysis.diagnostics):
        for unsafe in (False, True):
            action = _fix_all(analysis, uri, unsafe)
            if action is not None:
                actions.append(action)
    found = analysis.report() if _wanted(only, reports.TUNE) else None
    if found is not None:
        tune = reports.tune_action(found, analysis.core_text, uri, analysis.positions)
        if tune is not None:
            actions.append(tune)
    return actions


def _wanted(only: list[str] | None, kind: str) -> bool:
    if not only:
        return True
    return any(kind == k or kind.startswith(f"{k}.") for k in only)


def _touches(d: Diagnostic, start: int, end: int) -> bool:
    return d.span.start <= end and start <= d.span.end


def _title(description: str, safe: bool) -> str:
    return description if safe else f"{description} (unsafe)"


def _quick_fix(d: Diagnostic, fix: Fix, analysis: Analysis, uri: str) -> types.CodeAction:
    return types.CodeAction(
        title=_title(fix.description, fix.safe),
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[convert.diagnostic(d, analysis.positions, uri)],
        is_preferred=fix.safe,
        edit=types.WorkspaceEdit(changes={uri: text_edits(fix.edits, analysis.positions)}),
    )


def _fix_all(analysis: Analysis, uri: str, unsafe: bool) -> types.CodeAction | None:
    """Everything ``amct lint --fix`` (with ``unsafe``: ``--unsafe-fixes``) would change."""
    fixes = [d.fix for d in analysis.diagnostics if d.fix is not None]
    if not any(f.safe or unsafe for f in fixes) or (unsafe and all(f.safe for f in fixes)):
        return None
    fixed = analysis.fixed(unsafe)
    edits = _whole_document(analysis, fixed)
    if not edits:
        return None
    title = "Fix all amct problems, unsafe fixes included (unsafe)" if unsafe else "Fix all safe amct problems"
    return types.CodeAction(title=title, kind=FIX_ALL, edit=types.WorkspaceEdit(changes={uri: edits}))
