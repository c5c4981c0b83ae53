"""The one registry of diagnostic codes.

Each family lives in its own module (``syntax``, ``schema``, ``value``,
``capability``, ``model``, ``lint``) and declares its rules with :func:`rule`;
the checks of the final config and of a resolution sit below the rules they
report, in the family's ``CHECKS`` table (:mod:`cfglang.rules.findings`).
docs/architecture.md, "Where a new check goes", says where the other checks are. A code is never reused: a
retired rule keeps its entry with ``status="removed"``.

A family belongs to one stage of the pipeline (:data:`STAGES`), the one whose
code finds its diagnostics; code that treats diagnostics by where they come
from asks :func:`stage_of`, never a code's letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from cfglang.diagnostics import Severity

__all__ = ["Rule", "REGISTRY", "Family", "FAMILIES", "STAGES", "rule", "get", "all_rules", "stage_of"]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str  # e.g. "S001": family letter + number
    name: str  # kebab-case, e.g. "unterminated-string"
    severity: Severity  # default severity
    family: str
    summary: str  # one line
    explanation: str  # what it does and why it matters
    bad: str  # example .cfg text that triggers it
    good: str  # the same example, fixed
    status: str = "stable"  # stable | preview | removed
    target: str | None = None  # the target its examples assume (None: the default)

    @property
    def stage(self) -> str:
        """The pipeline stage that finds it (:data:`STAGES`): its family's."""
        return FAMILIES[self.family].stage


#: the stages of the pipeline that report diagnostics, in order: the parser (:mod:`cfglang.parser`), the
#: checker (:mod:`cfglang.checker`), the model-aware checks on a resolution (:mod:`cfglang.modelcheck`), the
#: linter's own (:mod:`cfglang.lint`)
STAGES = ("parse", "check", "resolve", "lint")


class Family(NamedTuple):
    letter: str  # the first letter of its codes
    title: str  # its section of docs/rules.md
    stage: str  # one of STAGES


# family name -> Family, in the order docs/rules.md lists them
FAMILIES: dict[str, Family] = {
    "syntax": Family("S", "Syntax", "parse"),
    "schema": Family("F", "Schema: fields, kinds and ranges", "check"),
    "value": Family("V", "Value constraints", "check"),
    "capability": Family("C", "Layer capabilities", "check"),
    "model": Family("M", "Model-aware", "resolve"),
    "lint": Family("L", "Linter and suppressions", "lint"),
}

REGISTRY: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: Severity,
    summary: str,
    explanation: str,
    bad: str,
    good: str,
    *,
    family: str,
    status: str = "stable",
    target: str | None = None,
) -> str:
    """Register a rule and return its code (modules keep it as a constant)."""
    letter = FAMILIES[family].letter
    if not code.startswith(letter):
        raise ValueError(f"code {code} does not belong to family {family}")
    if code in REGISTRY:
        raise ValueError(f"code {code} registered twice")
    if any(r.name == name for r in REGISTRY.values()):
        raise ValueError(f"rule name {name} registered twice")
    REGISTRY[code] = Rule(code, name, severity, family, summary, explanation, bad, good, status, target)
    return code


def _load_families() -> None:
    import importlib

    for family in FAMILIES:
        importlib.import_module(f"cfglang.rules.{family}")


_load_families()


def get(code_or_name: str) -> Rule | None:
    key = code_or_name.strip()
    found = REGISTRY.get(key.upper())
    if found is not None:
        return found
    for r in REGISTRY.values():
        if r.name == key.lower():
            return r
    return None


def all_rules() -> list[Rule]:
    order = {family: i for i, family in enumerate(FAMILIES)}
    return sorted(REGISTRY.values(), key=lambda r: (order[r.family], r.code))


def stage_of(code: str) -> str | None:
    """The stage (:data:`STAGES`) whose diagnostics carry ``code``; None for a code not in the registry."""
    found = REGISTRY.get(code)
    return found.stage if found is not None else None
