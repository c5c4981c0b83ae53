"""The one registry of diagnostic codes.

Each family lives in its own module (``syntax``, ``schema``, ``value``,
``capability``, ``model``, ``lint``) and declares its rules with :func:`rule`.
A code is never reused: a retired rule keeps its entry with ``status="removed"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cfglang.diagnostics import Severity

__all__ = ["Rule", "REGISTRY", "FAMILIES", "rule", "get", "all_rules"]


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


# family name -> (code letter, title), in the order docs/rules.md lists them
FAMILIES: dict[str, tuple[str, str]] = {
    "syntax": ("S", "Syntax"),
    "schema": ("F", "Schema: fields, kinds and ranges"),
    "value": ("V", "Value constraints"),
    "capability": ("C", "Layer capabilities"),
    "model": ("M", "Model-aware"),
    "lint": ("L", "Linter and suppressions"),
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
    letter = FAMILIES[family][0]
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
