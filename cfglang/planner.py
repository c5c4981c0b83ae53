"""A config and a layer inventory to the :class:`~cfglang.plan.Plan` and what the model shows:
:func:`cfglang.resolve`.

Three stages, each knowing nothing of the next: the checker (for text and paths), the resolver
(:class:`cfglang.resolution.Resolution`, which builds the plan and reports nothing) and the
model-aware checks (:func:`cfglang.modelcheck.diagnostics`, which read the finished resolution).
The plan carries their diagnostics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfglang import capabilities as cap
from cfglang import modelcheck
from cfglang.capabilities import Target
from cfglang.inventory import Inventory
from cfglang.plan import Plan
from cfglang.resolution import Resolution

__all__ = ["resolve"]


def resolve(config: Any, inventory: Inventory | Mapping[str, Any], target: str | Target | None = None) -> Plan:
    """Resolve ``config`` against ``inventory`` into the per-layer :class:`Plan`.

    ``config`` is config text, a path (``str`` or ``Path``) or an already checked
    ``CheckResult``. Text and paths are checked first; one with errors raises
    ``cfglang.ConfigError`` (a ``CheckResult`` is resolved as it is: its own
    diagnostics are the caller's). ``plan.diagnostics`` holds the model-aware
    diagnostics only. ``inventory`` is an :class:`Inventory` or its JSON dict.
    ``target`` is the AMCT behaviour (:mod:`cfglang.capabilities`); None: the check
    result's own target, ``documented`` for text and paths.
    """
    chosen = cap.get_target(target) if target is not None else None
    checked = _checked(config, chosen)
    if not isinstance(inventory, Inventory):
        inventory = Inventory.from_dict(inventory)
    resolution = Resolution(checked, inventory, chosen)  # type: ignore[arg-type]
    plan = resolution.plan()
    return dataclasses.replace(plan, diagnostics=tuple(modelcheck.diagnostics(resolution)))


def _checked(config: Any, target: Target | None) -> Any:
    if hasattr(config, "config") and hasattr(config, "spans"):
        return config
    from cfglang.checker import ConfigError, check, read_source

    path = None
    if isinstance(config, Path) or (isinstance(config, str) and _looks_like_path(config)):
        path = str(config)
        result = check(read_source(config), path, target=target)
    elif isinstance(config, (str, bytes)):
        result = check(config, target=target)
    else:
        raise TypeError(f"config must be text, a path or a CheckResult, found `{type(config).__name__}`")
    if result.has_errors:
        raise ConfigError(result.diagnostics, path)
    return result


def _looks_like_path(text: str) -> bool:
    if not text or "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).is_file()
    except OSError:
        return False
