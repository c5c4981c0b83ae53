"""Model-aware diagnostics (the M rules): what a resolution run can see.

Runs the checks of :mod:`cfglang.rules.model` (each beside its rule, in its
``CHECKS`` table) on a finished :class:`cfglang.resolution.Resolution`, as
:mod:`cfglang.checker` runs the other families' tables on the final config; the
resolver never calls this module (:func:`cfglang.resolve` and the linter do).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from cfglang.diagnostics import Diagnostic
from cfglang.resolution import Resolution
from cfglang.rules import model as M
from cfglang.rules import schema as F

__all__ = ["diagnostics"]


def diagnostics(res: Resolution) -> list[Diagnostic]:
    existing = getattr(res.checked, "diagnostics", ())
    if any(d.code == F.OTHER_CONFIG_KIND for d in existing):
        return []  # a file of another AMCT config kind: nothing it names means what our checks assume
    found = [d for check in M.CHECKS.resolution for d in check(res)]
    # the checks that read layer attributes say something no check without a model can: never deduplicated
    out = _dedupe(found, existing) + [d for check in M.CHECKS.layer_attributes for d in check(res)]
    out.sort(key=lambda d: (d.span.start, d.code))
    return out


def _dedupe(found: list[Diagnostic], existing: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Drop ours where the checker already reports the same severity over the same text."""
    taken: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for d in existing:
        taken[d.severity].append((d.span.start, d.span.end))
    return [d for d in found
            if not any(s < d.span.end and d.span.start < e or s == d.span.start for s, e in taken[d.severity])]
