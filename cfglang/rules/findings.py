"""What a check returns, and the tables of checks: the checker's and the model-aware ones.

A check of the final config is a small function in the manner of jsonschema's
keyword checkers: it looks at one message of the final ``AMCTConfig`` (defaults
applied, as AMCT would see it) and yields :class:`Finding` values naming the
offending field by a path relative to that message. The engine in
:mod:`cfglang.checker` turns the path into a location and the code into a
severity; checks never see spans.

A model-aware check (the M family) reads a finished
:class:`cfglang.resolution.Resolution` and yields diagnostics located through
its span table; :mod:`cfglang.modelcheck` runs them.

Each family module keeps its checks beside the rules they report, in its own
:class:`Checks` table: ``@CHECKS.on("ADAquantize")`` for a message type,
``@CHECKS.in_context`` for a ``CalibrationConfig`` with where it sits,
``@CHECKS.on_resolution`` and ``@CHECKS.on_layer_attributes`` for a resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from cfglang import capabilities as caps
from cfglang.capabilities import Target
from cfglang.diagnostics import Diagnostic

__all__ = ["PathPart", "Finding", "Context", "Checker", "ContextChecker", "ResolutionChecker", "Checks"]

PathPart = str | int


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken constraint; ``at`` is relative to the checked message (``()`` = the block itself)."""

    code: str
    message: str
    at: tuple[PathPart, ...] = ()
    hint: str | None = None
    related: tuple[tuple[tuple[PathPart, ...], str], ...] = ()


@dataclass(frozen=True, slots=True)
class Context:
    """Where a ``CalibrationConfig`` sits: which layers it can reach."""

    level: Literal["common_config", "override_layer_types", "override_layer_configs"]
    layer_type: str | None = None  # for override_layer_types
    target: Target = field(default_factory=caps.get_target)


Checker = Callable[[Any, Target], Iterator[Finding]]
ContextChecker = Callable[[Any, Context], Iterator[Finding]]
ResolutionChecker = Callable[[Any], Iterator[Diagnostic]]  # on a finished cfglang.resolution.Resolution


@dataclass
class Checks:
    """One family's checks: by message type, of each ``CalibrationConfig`` in its context, of a resolution."""

    messages: dict[str, list[Checker]] = field(default_factory=dict)
    calibration: list[ContextChecker] = field(default_factory=list)
    resolution: list[ResolutionChecker] = field(default_factory=list)
    layer_attributes: list[ResolutionChecker] = field(default_factory=list)

    def on(self, message: str) -> Callable[[Checker], Checker]:
        """Decorator: run the check on every message of type ``message``."""

        def add(check: Checker) -> Checker:
            self.messages.setdefault(message, []).append(check)
            return check

        return add

    def in_context(self, check: ContextChecker) -> ContextChecker:
        """Decorator: run the check on every ``CalibrationConfig`` with its :class:`Context`."""
        self.calibration.append(check)
        return check

    def on_resolution(self, check: ResolutionChecker) -> ResolutionChecker:
        """Decorator: run the check on a finished resolution; what it reports is dropped where the checker
        already reports the same severity over the same text."""
        self.resolution.append(check)
        return check

    def on_layer_attributes(self, check: ResolutionChecker) -> ResolutionChecker:
        """Decorator: run the check on a finished resolution, never dropped for the checker's diagnostics: it
        reads the layers' attributes (the inventory's ``groups``, ``in_channels``, ``bias``, ...), which no
        check without a model sees."""
        self.layer_attributes.append(check)
        return check
