"""What the model-aware rule modules share (:mod:`cfglang.rules.model` and the modules it takes its
rules from): the family's check table, the one constructor of its diagnostics and the wording helpers."""

from __future__ import annotations

from collections.abc import Iterable

from cfglang.diagnostics import Diagnostic, Span
from cfglang.rules import REGISTRY
from cfglang.rules.findings import Checks

__all__ = ["FAMILY", "CHECKS", "EXAMPLE_LAYERS", "LAYER", "TYPE", "COMMON", "diag", "some", "who", "count"]

FAMILY = "model"

#: the M checks, each beside its rule; :mod:`cfglang.modelcheck` runs them
CHECKS = Checks()

EXAMPLE_LAYERS = ("The examples assume a model with layers conv1 (Conv2d), bn1 (BatchNorm2d), relu1 (ReLU), conv2 "
                  "(Conv2d) and fc (Linear).")

_TOP = Span(0, 0, 1, 1, 1, 1)
LAYER, TYPE, COMMON = "override_layer_configs", "override_layer_types", "common_config"


def diag(code: str, span: Span | None, message: str, hint: str | None = None,
         related: Iterable[tuple[Span | None, str]] = ()) -> Diagnostic:
    """The diagnostic of rule ``code`` at ``span`` (the top of the file when None), at the rule's severity."""
    return Diagnostic(code, REGISTRY[code].severity, span or _TOP, message, hint,
                      tuple((s, note) for s, note in related if s is not None))


def some(names: list[str], limit: int = 3) -> str:
    """```a`, `b`, `c` and 2 more``."""
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def who(names: list[str]) -> str:
    """```fc` gets`` or ``3 layers (`a`, `b`, `c`) get``."""
    return f"`{names[0]}` gets" if len(names) == 1 else f"{len(names)} layers ({some(names)}) get"


def count(n: int, what: str) -> str:
    """``1 layer``, ``2 layers``."""
    return f"{n} {what}" + ("" if n == 1 else "s")
