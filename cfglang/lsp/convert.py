"""Core diagnostics -> LSP diagnostics: severities, ranges, related locations."""

from __future__ import annotations

import gc

from lsprotocol import types

from cfglang.diagnostics import Diagnostic, Severity
from cfglang.lsp.analysis import Analysis
from cfglang.lsp.positions import Positions

__all__ = ["SOURCE", "SEVERITY", "MAX_PUBLISHED", "diagnostics", "diagnostic"]

SOURCE = "amct"
# diagnostics sent for one document at most: a 1 MB file of repeated warnings had 140,000 (a 50 MB message);
# no editor shows that many, and the rest are counted in one more diagnostic
MAX_PUBLISHED = 5000

SEVERITY: dict[Severity, types.DiagnosticSeverity] = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}


def diagnostics(analysis: Analysis, uri: str) -> list[types.Diagnostic]:
    """Every diagnostic ``amct lint`` reports for the analysed text, in its order; first, where the
    ``# amct: layers=`` header names an inventory that cannot be used, why (``amct lint`` says it on stderr)."""
    every = analysis.diagnostics
    collecting = gc.isenabled()
    gc.disable()  # many small objects, no cycles: a collection would rescan the document's whole tree
    try:
        found = [diagnostic(d, analysis.positions, uri) for d in every[:MAX_PUBLISHED]]
    finally:
        if collecting:
            gc.enable()
    if len(every) > MAX_PUBLISHED:
        first = every[MAX_PUBLISHED]
        found.append(types.Diagnostic(
            range=analysis.positions.range(first.span.start, first.span.start),
            message=f"{len(every) - MAX_PUBLISHED} more diagnostics from here on are not shown (the editor gets the "
                    f"first {MAX_PUBLISHED} of a file): `amct lint` lists them all",
            severity=types.DiagnosticSeverity.Information, source=SOURCE))
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
