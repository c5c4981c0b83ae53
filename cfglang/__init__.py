"""amct-cfg: the language side of AMCT PyTorch quantization configs.

text --parse--> Document --check--> AMCTConfig + spans --resolve--> Plan

Never imports torch. Public names are imported lazily so that ``amct lint``
starts fast and each stage loads only what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Severity": "cfglang.diagnostics",
    "Span": "cfglang.diagnostics",
    "Diagnostic": "cfglang.diagnostics",
    "Document": "cfglang.syntax",
    "parse": "cfglang.parser",
    "check": "cfglang.checker",
    "CheckResult": "cfglang.checker",
    "load": "cfglang.checker",
    "ConfigError": "cfglang.checker",
    "format_text": "cfglang.formatter",
    "Inventory": "cfglang.inventory",
    "resolve": "cfglang.planner",
    "Plan": "cfglang.plan",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # pragma: no cover
    from cfglang.checker import CheckResult, ConfigError, check, load
    from cfglang.diagnostics import Diagnostic, Severity, Span
    from cfglang.formatter import format_text
    from cfglang.inventory import Inventory
    from cfglang.parser import parse
    from cfglang.plan import Plan
    from cfglang.planner import resolve
    from cfglang.syntax import Document


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cfglang' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
