"""Core diagnostics -> LSP diagnostics: severities, ranges, related locations."""

from __future__ import annotations

from lsprotocol import types

from cfglang.diagnostics import Diagnostic, Severity
from cfglang.lsp.analysis import Analysis
from cfglang.lsp.positions import Positions

__all__ = ["SOURCE", "SEVERITY", "diagnostics", "diagnostic"]

SOURCE = "amct"

SEVERITY: dict[Severity, types.DiagnosticSeverity] = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}


def diagnostics(analysis: Analysis, uri: str) -> list[types.Diagnostic]:
    """Every diagnostic ``amct lint`` reports for the analysed text, in its order; first, where the
    ``# amct: layers=`` header names an inventory that cannot be used, why (``amct lint`` says it on stderr)."""
    found = [diagnostic(d, analysis.positions, uri) for d in analysis.diagnostics]
    if analysis.inventory_problem is not None:
        span, message = analysis.inventory_problem
        found.insert(0, types.Diagnostic(range=analysis.positions.span_range(span), message=message,
                                         severity=types.DiagnosticSeverity.Warning, source=SOURCE))
    return found


def diagnostic(d: Diagnostic, positions: Positions, uri: str) -> types.Diagnostic:
    """One diagnostic; the hint becomes a ``help:`` line, as in ``amct lint``'s full output."""
    message = d.message if d.hint is None else f"{d.message}\nhelp: {d.hint}"
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(uri=uri, range=positions.span_range(span)), message=note
        )
        for span, note in d.related
    ]
    return types.Diagnostic(
        range=positions.span_range(d.span),
        message=message,
        severity=SEVERITY[d.severity],
        code=d.code,
        source=SOURCE,
        related_information=related or None,
    )
