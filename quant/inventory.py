"""The layer inventory of a PyTorch model (the torch side of :mod:`cfglang.inventory`).

Leaf modules come from ``named_modules()``; their order and the graph
relations (foldable Conv->BatchNorm pairs, activations that consume a layer's
output) come from ``torch.fx`` symbolic tracing. A model that cannot be traced
still gets an inventory, in ``named_modules()`` order, marked
``traced=False``: resolution and the name checks work, fusion pairs and
activations are unknown. A :class:`TraceWarning` says why.
"""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

from torch import fx, nn

from cfglang.capabilities import ADA_FUSED_ACTIVATIONS, BATCH_NORM, FOLDABLE_CONV, QUANTIZABLE
from cfglang.inventory import Activation, Foldable, Inventory, Layer

__all__ = ["inventory", "inventory_from_ref", "TraceWarning"]


class TraceWarning(UserWarning):
    """The model could not be traced: the inventory has no graph relations."""


class _LeafTracer(fx.Tracer):
    """Every module without children is a leaf (torch's default only knows ``torch.nn`` classes)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return not any(True for _ in m.children()) or super().is_leaf_module(m, module_qualified_name)


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if name and not any(True for _ in m.children())]


def inventory(model: Any, name: str | None = None) -> Inventory:
    """The :class:`~cfglang.inventory.Inventory` of ``model`` (an ``nn.Module``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"found a `{type(model).__name__}`, expected a `torch.nn.Module`")
    label = name or type(model).__name__
    leaves = _leaves(model)
    types_of = {n: type(m).__name__ for n, m in leaves}
    try:
        graph = _LeafTracer().trace(model)
    except Exception as exc:  # fx raises many kinds: control flow on tensors, unsupported ops
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warnings.warn(TraceWarning(
            f"cannot trace `{label}` with torch.fx ({type(exc).__name__}: {first[:200]}): layer names and types "
            "are known, but not which BatchNorm follows which convolution nor which activation follows a "
            "layer; the inventory is marked `traced: false`, no fusion is planned and `skip_fusion_layers` "
            "is not checked"), stacklevel=2)
        return Inventory(tuple(Layer(n, t) for n, t in types_of.items()), traced=False, model=label)
    calls = [node for node in graph.nodes if node.op == "call_module" and node.target in types_of]
    order: list[str] = []
    seen: set[str] = set()
    count: dict[str, int] = {}
    for node in calls:
        count[node.target] = count.get(node.target, 0) + 1
        if node.target not in seen:
            seen.add(node.target)
            order.append(node.target)
    order.extend(n for n in types_of if n not in seen)  # modules the forward never calls
    foldable = _foldable(calls, types_of, count)
    activations = _activations(calls, types_of, count, {p.conv: p.bn for p in foldable})
    return Inventory(tuple(Layer(n, types_of[n]) for n in order), foldable, activations, True, label)


def _only_user(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    if len(users) != 1:
        return None
    user = users[0]
    if user.op != "call_module" or user.all_input_nodes != [node]:
        return None
    return user


def _foldable(calls: list[fx.Node], types_of: dict[str, str], count: dict[str, int]) -> tuple[Foldable, ...]:
    """Conv1d/2d/3d whose output goes only to a BatchNorm that reads only it (each called once)."""
    pairs = []
    for node in calls:
        if types_of[node.target] not in FOLDABLE_CONV or count[node.target] != 1:
            continue
        user = _only_user(node)
        if user is not None and types_of.get(user.target) in BATCH_NORM and count[user.target] == 1:
            pairs.append(Foldable(node.target, user.target))
    return tuple(pairs)


def _activations(calls: list[fx.Node], types_of: dict[str, str], count: dict[str, int],
                 folded: dict[str, str]) -> tuple[Activation, ...]:
    """An activation module consuming a quantizable layer's output (through its folded BatchNorm)."""
    by_target = {node.target: node for node in calls}
    out = []
    for node in calls:
        layer_type = types_of[node.target]
        if layer_type not in QUANTIZABLE or count[node.target] != 1:
            continue
        producer = by_target[folded[node.target]] if node.target in folded else node
        user = _only_user(producer)
        if user is not None and types_of.get(user.target) in ADA_FUSED_ACTIVATIONS:
            out.append(Activation(node.target, user.target, types_of[user.target]))
    return tuple(out)


def inventory_from_ref(ref: str) -> Inventory:
    """The inventory of the model that ``package.module:factory`` builds (see :mod:`quant.modelref`)."""
    from quant.modelref import load_model

    model = load_model(ref)
    return inventory(model, ref)


class _CallableModule(types.ModuleType):
    """``quant.inventory`` is both this module and the function (see ``cfglang.resolve``)."""

    def __call__(self, model: Any, name: str | None = None) -> Inventory:
        return inventory(model, name)


sys.modules[__name__].__class__ = _CallableModule
