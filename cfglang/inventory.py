"""The layer inventory: what resolution needs to know about a model.

Leaf modules in execution order (names as in ``named_modules()``, types as
``type(module).__name__``, or the AMCT type a subclass of a quantizable
``torch.nn`` class is), the foldable Conv->BatchNorm pairs, the activations
that consume a layer's output, the other weights of the model (which the plan
lists as left in float) and the parameters several modules share. It comes from a model
(``quant.inventory``, which needs torch) or from a JSON file (``amct layers``
writes one), so that model-aware checks run without torch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfglang.capabilities import QUANTIZABLE

__all__ = ["Layer", "Foldable", "Activation", "Weight", "Inventory", "InventoryError", "type_label"]

_QUANTIZABLE = frozenset(QUANTIZABLE)
_ATTRIBUTES = ("in_channels", "groups", "bias", "hidden_size", "num_layers", "bidirectional", "dropout", "proj_size")


def type_label(layer_type: str, class_name: str | None, weight_transposed: bool) -> str:
    """A layer's type as tables and summaries show it: ``Conv3DSimple (Conv3d)`` for a subclass,
    ``Conv1D (Linear, transposed weight)``, else the type."""
    if class_name is None:
        return layer_type
    return f"{class_name} ({layer_type}{', transposed weight' if weight_transposed else ''})"


class InventoryError(ValueError):
    """A layer inventory that cannot be used: the message says where and what."""


@dataclass(frozen=True, slots=True)
class Layer:
    """A leaf module; the optional attributes are what AMCT's per-layer width rules read (None: unknown,
    as in inventories written before they were recorded).

    ``type`` is the AMCT type of the module (:func:`quant.inventory.layer_type`): its class name, or for
    a subclass of a quantizable ``torch.nn`` class (torchvision's ``Conv3DSimple``, a parametrized
    ``Linear``) that class's name, with ``class_name`` keeping the module's own; transformers' ``Conv1D``
    is a ``Linear`` whose weight is stored transposed, ``(in, out)`` (``weight_transposed``). ``called``
    is false for a layer a traced forward never calls.
    """

    name: str
    type: str
    in_channels: int | None = None  # Conv/ConvTranspose `in_channels`, Linear `in_features`, LSTM/GRU `input_size`
    groups: int | None = None  # convolutions only
    bias: bool | None = None  # whether the layer has a bias
    hidden_size: int | None = None  # LSTM/GRU only
    # LSTM/GRU only (``proj_size``: LSTM only): AMCT quantizes only a single-layer, unidirectional one
    # without dropout or projection (cfglang.capabilities.recurrent_limit)
    num_layers: int | None = None
    bidirectional: bool | None = None
    dropout: float | None = None
    proj_size: int | None = None
    class_name: str | None = None  # the module's class, where it is not `type`
    weight_transposed: bool = False
    called: bool = True

    def attributes(self) -> dict[str, Any]:
        """The recorded attributes, as the inventory JSON writes them."""
        return {key: getattr(self, key) for key in _ATTRIBUTES if getattr(self, key) is not None}

    def to_dict(self) -> dict[str, Any]:
        """The layer as the inventory JSON writes it: what is false or the default is left out."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, **self.attributes()}
        if self.class_name is not None:
            out["class_name"] = self.class_name
        if self.weight_transposed:
            out["weight_transposed"] = True
        if not self.called:
            out["called"] = False
        return out

    @property
    def label(self) -> str:
        """The type as tables show it (:func:`type_label`)."""
        return type_label(self.type, self.class_name, self.weight_transposed)

    @property
    def quantizable(self) -> bool:
        return self.type in _QUANTIZABLE


@dataclass(frozen=True, slots=True)
class Foldable:
    """A BatchNorm that only reads ``conv``'s output, ``conv`` feeding only it (AMCT's BatchNorm folding rule)."""

    conv: str
    bn: str


@dataclass(frozen=True, slots=True)
class Activation:
    """An activation module that directly consumes ``layer``'s output."""

    layer: str
    activation: str
    type: str


@dataclass(frozen=True, slots=True)
class Weight:
    """Parameters outside the quantizable layers: a leaf module of a type AMCT does not quantize that has
    weights (``name``: its path, ``type``: its class), or a parameter a module holds beside its child
    modules, which its forward uses outside any module call (``parameter``; ``name``: the parameter's
    path, ``type``: its module's class), as ``nn.MultiheadAttention``'s ``in_proj_weight``."""

    name: str
    type: str
    parameter: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, **({"parameter": True} if self.parameter else {})}


@dataclass(frozen=True)
class Inventory:
    """Ordered layers plus graph relations; ``traced`` is false when the graph is unknown.

    ``weights``: the model's other weights (:class:`Weight`), in ``named_modules()`` order; ``shared``: the
    parameters held under several names (each group the paths of one ``nn.Parameter``, as
    ``("embed.weight", "lm_head.weight")``). Both are empty for an inventory that does not know them.
    """

    layers: tuple[Layer, ...]
    foldable: tuple[Foldable, ...] = ()
    activations: tuple[Activation, ...] = ()
    traced: bool = True
    model: str | None = None
    weights: tuple[Weight, ...] = ()
    shared: tuple[tuple[str, ...], ...] = ()
    _by_name: dict[str, Layer] = field(init=False, repr=False, compare=False)
    _bn_of: dict[str, str] = field(init=False, repr=False, compare=False)
    _act_of: dict[str, Activation] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "foldable", tuple(self.foldable))
        object.__setattr__(self, "activations", tuple(self.activations))
        object.__setattr__(self, "weights", tuple(self.weights))
        object.__setattr__(self, "shared", tuple(tuple(group) for group in self.shared))
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

    def holder(self, parameter: str) -> str:
        """The module that holds the parameter at path ``parameter``: the layer it is inside (a parametrized
        layer keeps its weight deeper, ``conv.parametrizations.weight.original0``), else its own module."""
        path = parameter.rpartition(".")[0]
        while path and path not in self._by_name:
            path = path.rpartition(".")[0]
        return path or parameter.rpartition(".")[0]

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
        out["layers"] = [layer.to_dict() for layer in self.layers]
        out["foldable"] = [{"conv": p.conv, "bn": p.bn} for p in self.foldable]
        out["activations"] = [{"layer": a.layer, "activation": a.activation, "type": a.type} for a in self.activations]
        if self.weights:
            out["weights"] = [weight.to_dict() for weight in self.weights]
        if self.shared:
            out["shared"] = [list(group) for group in self.shared]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "inventory") -> Inventory:
        """Read the inventory JSON; a bad one raises :class:`InventoryError` naming ``source`` and the place.

        The message gives the shape only (where, which kind of value), never a key
        or a value of the file: an inventory named by a repository's file may be
        any JSON file, secrets included.
        """
        problems = _shape_problems(data)
        if problems:
            raise InventoryError(f"{source}: not a valid layer inventory: " + "; ".join(problems))
        layers = tuple(Layer(item["name"], item["type"], *(item.get(key) for key in _ATTRIBUTES),
                             class_name=item.get("class_name"), weight_transposed=item.get("weight_transposed", False),
                             called=item.get("called", True))
                       for item in data["layers"])
        inventory = cls(
            layers,
            tuple(Foldable(item["conv"], item["bn"]) for item in data.get("foldable", ())),
            tuple(Activation(item["layer"], item["activation"], item["type"]) for item in data.get("activations", ())),
            bool(data.get("traced", True)),
            data.get("model"),
            tuple(Weight(item["name"], item["type"], item.get("parameter", False)) for item in data.get("weights", ())),
            tuple(tuple(group) for group in data.get("shared", ())),
        )
        problems = inventory._consistency()
        if problems:
            raise InventoryError(f"{source}: not a valid layer inventory: " + "; ".join(problems[:5]))
        return inventory

    @classmethod
    def load(cls, path: str | Path, *, root: str | Path | None = None, limit: int | None = None,
             special: bool = False) -> Inventory:
        """Read a ``layers.json`` file written by ``amct layers`` (or by hand).

        ``root``: the folder the file must be in (symbolic links resolved), for a
        path named by a document or a settings file; None for one the user named.
        ``limit``: the size limit in bytes (default :data:`cfglang.fsutil.DEFAULT_MAX_SIZE`).
        ``special``: read a FIFO or device too (only for a path from the command line).
        Every failure is an :class:`InventoryError` naming the file.
        """
        from cfglang.fsutil import ReadError, inside_root, read_file
        from cfglang.jsonlimits import JSONLimitError, loads

        path = Path(path)
        if root is not None and not inside_root(path, root):
            raise InventoryError(f"`{path}` is outside the project folder `{root}` (symbolic links followed): name a "
                                 f"file inside it, or pass the inventory on the command line (`--layers`)")
        try:
            data = loads(read_file(path, limit=limit, special=special), str(path))
        except ReadError as exc:
            raise InventoryError(f"cannot read layer inventory `{path}`: {exc.reason}") from None
        except JSONLimitError as exc:
            raise InventoryError(str(exc)) from None
        return cls.from_dict(data, str(path))

    def _consistency(self) -> list[str]:
        problems = []
        seen: set[str] = set()
        for i, layer in enumerate(self.layers):
            if layer.name in seen:
                problems.append(f"`layers[{i}].name`: a layer listed twice")
            seen.add(layer.name)
        for i, pair in enumerate(self.foldable):
            for key in ("conv", "bn"):
                if getattr(pair, key) not in self._by_name:
                    problems.append(f"`foldable[{i}].{key}`: names no layer of `layers`")
        for i, act in enumerate(self.activations):
            for key in ("layer", "activation"):
                if getattr(act, key) not in self._by_name:
                    problems.append(f"`activations[{i}].{key}`: names no layer of `layers`")
        for i, weight in enumerate(self.weights):
            layer = self._by_name.get(weight.name)
            if layer is not None and layer.quantizable:  # its weights are the layer's: the plan would list it twice
                problems.append(f"`weights[{i}].name`: names a quantizable layer of `layers`")
        return problems


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number", type(None): "null"}


def _shape_problems(data: Any, limit: int = 5) -> list[str]:
    """Schema violations of ``data`` described by place and kind of value, never by a key or value it holds."""
    import jsonschema

    from cfglang.jsonschemas import schema

    validator = jsonschema.Draft202012Validator(schema("inventory"))
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    messages = [f"`{_place(error)}`: {_shape(error)}" for error in errors[:limit]]
    if len(errors) > limit:
        messages.append(f"and {len(errors) - limit} more")
    return messages


def _place(error: Any) -> str:
    """``layers[2].name``; a key that is not in the schema is not shown (it is the file's content)."""
    known = _schema_keys()
    out = ""
    for part in error.absolute_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if part in known else "(an unknown key)"
            out += f".{name}" if out else name
    return out or "(top level)"


def _shape(error: Any) -> str:
    kind = _JSON_TYPES.get(type(error.instance), "a value")
    keyword = error.validator
    if keyword == "required":
        missing = [p for p in error.validator_value if isinstance(error.instance, dict) and p not in error.instance]
        return "missing " + ", ".join(f"`{p}`" for p in missing)
    if keyword == "additionalProperties":
        extra = len(set(error.instance) - set(error.schema.get("properties", {})))
        return "an unknown key" if extra == 1 else f"{extra} unknown keys"
    if keyword == "type":
        return f"found {kind}, expected a value of type {error.validator_value}"
    if keyword == "const":
        return f"found {kind} other than {error.validator_value!r}, expected {error.validator_value!r}"
    if keyword == "minLength":
        return "found an empty string, expected a name"
    return f"found {kind} that breaks the schema's `{keyword}`"


@functools.cache
def _schema_keys() -> frozenset[str]:
    """Every key the inventory schema defines (the keys a message may name)."""
    from cfglang.jsonschemas import schema

    keys: list[str] = []
    pending = [schema("inventory")]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            keys.extend(node.get("properties", {}))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return frozenset(keys)
