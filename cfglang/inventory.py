"""The layer inventory: what resolution needs to know about a model.

Leaf modules in execution order (names as in ``named_modules()``, types as
``type(module).__name__``), the foldable Conv->BatchNorm pairs and the
activations that consume a layer's output. It comes from a model
(``quant.inventory``, which needs torch) or from a JSON file (``amct layers``
writes one), so that model-aware checks run without torch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfglang.capabilities import QUANTIZABLE

__all__ = ["Layer", "Foldable", "Activation", "Inventory", "InventoryError"]

_QUANTIZABLE = frozenset(QUANTIZABLE)


class InventoryError(ValueError):
    """A layer inventory that cannot be used: the message says where and what."""


@dataclass(frozen=True, slots=True)
class Layer:
    name: str
    type: str

    @property
    def quantizable(self) -> bool:
        return self.type in _QUANTIZABLE


@dataclass(frozen=True, slots=True)
class Foldable:
    """A BatchNorm that only reads ``conv``'s output, ``conv`` feeding only it (SPEC section 5)."""

    conv: str
    bn: str


@dataclass(frozen=True, slots=True)
class Activation:
    """An activation module that directly consumes ``layer``'s output."""

    layer: str
    activation: str
    type: str


@dataclass(frozen=True)
class Inventory:
    """Ordered layers plus graph relations; ``traced`` is false when the graph is unknown."""

    layers: tuple[Layer, ...]
    foldable: tuple[Foldable, ...] = ()
    activations: tuple[Activation, ...] = ()
    traced: bool = True
    model: str | None = None
    _by_name: dict[str, Layer] = field(init=False, repr=False, compare=False)
    _bn_of: dict[str, str] = field(init=False, repr=False, compare=False)
    _act_of: dict[str, Activation] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "foldable", tuple(self.foldable))
        object.__setattr__(self, "activations", tuple(self.activations))
        object.__setattr__(self, "_by_name", {layer.name: layer for layer in self.layers})
        object.__setattr__(self, "_bn_of", {pair.conv: pair.bn for pair in self.foldable})
        object.__setattr__(self, "_act_of", {act.layer: act for act in reversed(self.activations)})

    @classmethod
    def of(cls, layers: Iterable[tuple[str, str]], foldable: Iterable[tuple[str, str]] = (),
           activations: Iterable[tuple[str, str, str]] = (), traced: bool = True) -> Inventory:
        """Build from plain tuples: ``Inventory.of([("conv1", "Conv2d")], [("conv1", "bn1")])``."""
        return cls(tuple(Layer(n, t) for n, t in layers), tuple(Foldable(c, b) for c, b in foldable),
                   tuple(Activation(*a) for a in activations), traced)

    # lookups -------------------------------------------------------------

    def get(self, name: str) -> Layer | None:
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    @property
    def quantizable(self) -> list[Layer]:
        """The layers AMCT can quantize, in model order."""
        return [layer for layer in self.layers if layer.type in _QUANTIZABLE]

    def bn_of(self, conv: str) -> str | None:
        """The BatchNorm that ``conv`` can fold, if any."""
        return self._bn_of.get(conv)

    def activation_of(self, layer: str) -> Activation | None:
        return self._act_of.get(layer)

    # JSON ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": 1}
        if self.model is not None:
            out["model"] = self.model
        if not self.traced:
            out["traced"] = False
        out["layers"] = [{"name": layer.name, "type": layer.type} for layer in self.layers]
        out["foldable"] = [{"conv": p.conv, "bn": p.bn} for p in self.foldable]
        out["activations"] = [{"layer": a.layer, "activation": a.activation, "type": a.type} for a in self.activations]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "inventory") -> Inventory:
        """Read the inventory JSON; a bad one raises :class:`InventoryError` naming ``source`` and the key."""
        from cfglang.jsonschemas import validation_errors

        problems = validation_errors(data, "inventory")
        if problems:
            raise InventoryError(f"{source}: not a valid layer inventory: " + "; ".join(problems))
        layers = tuple(Layer(item["name"], item["type"]) for item in data["layers"])
        inventory = cls(
            layers,
            tuple(Foldable(item["conv"], item["bn"]) for item in data.get("foldable", ())),
            tuple(Activation(item["layer"], item["activation"], item["type"]) for item in data.get("activations", ())),
            bool(data.get("traced", True)),
            data.get("model"),
        )
        problems = inventory._consistency()
        if problems:
            raise InventoryError(f"{source}: not a valid layer inventory: " + "; ".join(problems[:5]))
        return inventory

    @classmethod
    def load(cls, path: str | Path) -> Inventory:
        """Read a ``layers.json`` file written by ``amct layers`` (or by hand)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InventoryError(f"cannot read layer inventory `{path}`: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise InventoryError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InventoryError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
        return cls.from_dict(data, str(path))

    def _consistency(self) -> list[str]:
        problems = []
        seen: set[str] = set()
        for i, layer in enumerate(self.layers):
            if layer.name in seen:
                problems.append(f"`layers[{i}].name`: layer `{layer.name}` is listed twice")
            seen.add(layer.name)
        for i, pair in enumerate(self.foldable):
            for key in ("conv", "bn"):
                if getattr(pair, key) not in self._by_name:
                    problems.append(f"`foldable[{i}].{key}`: `{getattr(pair, key)}` is not in `layers`")
        for i, act in enumerate(self.activations):
            for key in ("layer", "activation"):
                if getattr(act, key) not in self._by_name:
                    problems.append(f"`activations[{i}].{key}`: `{getattr(act, key)}` is not in `layers`")
        return problems
