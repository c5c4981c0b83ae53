"""L: rules about the linter itself, such as suppression comments that do nothing."""

from __future__ import annotations

from cfglang.diagnostics import Severity
from cfglang.rules import rule

__all__ = ["UNUSED_SUPPRESSION", "INVALID_SUPPRESSION"]

UNUSED_SUPPRESSION = rule(
    "L001",
    "unused-suppression",
    Severity.WARNING,
    "a suppression comment suppresses nothing",
    "A `# amct: noqa: CODE` comment at the end of a line, or a `# amct: noqa-file: CODE` comment anywhere in "
    "the file, names a code that no diagnostic on that line (or in that file) has. Stale suppressions hide "
    "nothing today but would silently hide a real problem later; delete them once the problem is fixed.",
    "batch_num: 2  # amct: noqa: F001\n",
    "batch_num: 2\n",
    family="lint",
)

INVALID_SUPPRESSION = rule(
    "L002",
    "invalid-suppression",
    Severity.WARNING,
    "a suppression comment names no code, or a code that does not exist",
    "A suppression must name the codes it silences (`# amct: noqa: F001, V003`); a blanket `# amct: noqa` "
    "would hide every present and future diagnostic of the line, so it is not accepted. Codes are checked "
    "against the registry (`amct explain CODE`); a misspelt code suppresses nothing.",
    "batch_num: 0  # amct: noqa: V999\n",
    "batch_num: 1\n",
    family="lint",
)
