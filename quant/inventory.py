"""The layer inventory of a PyTorch model (the torch side of :mod:`cfglang.inventory`).

Two sources, one set of rules (:func:`_relations`):

- an ``nn.Module``: leaf modules come from ``named_modules()``; their order and
  the graph relations (foldable Conv->BatchNorm pairs, activations that consume
  a layer's output) come from ``torch.fx`` symbolic tracing. A model that
  cannot be traced still gets an inventory, in ``named_modules()`` order,
  marked ``traced=False``: resolution and the name checks work, fusion pairs
  and activations are unknown. A :class:`TraceWarning` says why.
- a ``torch.export.ExportedProgram`` (``torch.export.save`` files, see
  :func:`quant.modelref.load_program`): each operation of the program's graph
  carries ``nn_module_stack`` metadata, the modules it was called from; the
  innermost one names the leaf module (its path as in ``named_modules()`` of
  the exported model, its class name as the type). The operations of one call
  of a leaf module (one aten op, or several after ``run_decompositions()``)
  are one node of the graph the rules run on. The program only records
  modules that run: a module the forward never calls, one whose forward emits
  no operation (``nn.Identity``) or one called only inside control flow
  (``torch.cond``) is not in the inventory; when such a module has weights, a
  :class:`TraceWarning` names it.

Each quantizable layer also records the attributes AMCT's per-layer width rules read
(:class:`cfglang.inventory.Layer`: input channels, groups, bias, hidden size): from the module
itself, or in a program from its weights' shapes and its convolution operations' ``groups``.

A module's type is its AMCT type (:func:`layer_type`): a subclass of a quantizable ``torch.nn`` class is
a layer of that type, and transformers' ``Conv1D`` a ``Linear`` with its weight stored transposed. An
``nn.Module``'s inventory also lists the weights no quantizable layer holds and the parameters several
modules share (:class:`cfglang.inventory.Weight`, ``Inventory.shared``); a traced one marks the layers
its forward never calls.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import fx, nn

from cfglang.capabilities import ADA_FUSED_ACTIVATIONS, BATCH_NORM, FOLDABLE_CONV, QUANTIZABLE
from cfglang.inventory import Activation, Foldable, Inventory, Layer, Weight
from quant.core import batch_arguments, output_tensors, quiet

__all__ = ["model_inventory", "inventory_from_ref", "module_attributes", "layer_type", "weight_transposed",
           "TraceWarning"]


class TraceWarning(UserWarning):
    """What the graph could not tell: untraceable model (no graph relations), or layers a program does not show."""


class _LeafTracer(fx.Tracer):
    """Every module without children is a leaf, and every layer (:func:`_is_leaf`; torch's default only
    knows ``torch.nn`` classes)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return _is_leaf(m) or super().is_leaf_module(m, module_qualified_name)


@dataclass(eq=False)
class _Op:
    """One node of the data-flow graph: a call of the leaf module ``target``, or any other operation (None).

    ``inputs`` are the values it reads (a module's own weights are not values), ``users`` the
    operations that read its result; each listed once.
    """

    target: str | None
    inputs: list[_Op] = field(default_factory=list)
    users: list[_Op] = field(default_factory=list)


def _link(source: _Op, user: _Op) -> None:
    if source is not user and user not in source.users:
        source.users.append(user)
        user.inputs.append(source)


def layer_type(module: nn.Module) -> str | None:
    """The AMCT type of ``module`` (:data:`cfglang.capabilities.QUANTIZABLE`), None for a module AMCT does not
    quantize: its class name when that is a quantizable type (AMCT's own rule), else the name of the first
    quantizable ``torch.nn`` class its class derives from (torchvision's ``Conv3DSimple`` is a ``Conv3d``;
    ``NonDynamicallyQuantizableLinear`` and the ``ParametrizedLinear`` of ``torch.nn.utils.parametrize`` are
    ``Linear``s), and ``Linear`` for transformers' ``Conv1D`` (:func:`weight_transposed`)."""
    cls = type(module)
    if cls.__name__ in QUANTIZABLE:
        return cls.__name__
    if weight_transposed(module):
        return "Linear"
    for base in cls.__mro__[1:]:
        if base.__name__ in QUANTIZABLE and base.__module__.startswith("torch.nn."):
            return base.__name__
    return None


def weight_transposed(module: nn.Module) -> bool:
    """Whether ``module`` is transformers' ``Conv1D`` (GPT-2's projections): a Linear whose weight is stored
    ``(in, out)`` and applied as ``x @ weight + bias``. Recognised without importing transformers."""
    cls = type(module)
    weight = getattr(module, "weight", None)
    return (cls.__name__ == "Conv1D" and cls.__module__.startswith("transformers.") and hasattr(module, "nf")
            and isinstance(weight, nn.Parameter) and weight.dim() == 2)


def _is_leaf(module: nn.Module) -> bool:
    """A module of the inventory: one without children, a layer (whose children, such as the
    parametrizations of a weight-normed convolution, are its own) or a parametrized module."""
    return (not any(True for _ in module.children()) or layer_type(module) is not None
            or hasattr(module, "parametrizations"))


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The inventory's modules (:func:`_is_leaf`) in ``named_modules()`` order, none inside another."""
    out: list[tuple[str, nn.Module]] = []
    inside: str | None = None
    for name, m in model.named_modules():
        if not name or (inside is not None and name.startswith(inside)):
            continue
        if _is_leaf(m):
            out.append((name, m))
            inside = name + "."
    return out


def _weights(model: nn.Module, leaves: list[tuple[str, nn.Module]]) -> tuple[Weight, ...]:
    """The weights no quantizable layer holds: leaves of another type with parameters, and the parameters
    a module holds beside its children (outside every leaf), in ``named_modules()`` order."""
    leaf = dict(leaves)
    inside = tuple(f"{name}." for name in leaf)
    out: list[Weight] = []
    for name, m in model.named_modules():
        if name in leaf:
            if layer_type(m) is None and any(True for _ in m.parameters()):
                out.append(Weight(name, type(m).__name__))
        elif not name.startswith(inside):
            out.extend(Weight(_path(name, p), type(m).__name__, parameter=True)
                       for p, _ in m.named_parameters(recurse=False))
    return tuple(out)


def _path(module: str, name: str) -> str:
    """The path of ``name`` (a parameter, a child) of the module at path ``module`` (``""``: the model)."""
    return f"{module}.{name}" if module else name


def _shared(model: nn.Module) -> tuple[tuple[str, ...], ...]:
    """The paths of each parameter that several modules hold (tied weights), by the parameter's identity."""
    paths: dict[int, list[str]] = {}
    for name, m in model.named_modules():
        for p_name, p in m.named_parameters(recurse=False):
            paths.setdefault(id(p), []).append(_path(name, p_name))
    return tuple(tuple(group) for group in paths.values() if len(group) > 1)


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def module_attributes(module: nn.Module) -> dict[str, Any]:
    """What AMCT's width rules read of a quantizable module, from its own attributes."""
    kind = layer_type(module)
    if kind is None or kind == "AvgPool2d":
        return {}
    if kind in ("LSTM", "GRU"):
        bias, bidirectional = getattr(module, "bias", None), getattr(module, "bidirectional", None)
        dropout, proj_size = getattr(module, "dropout", None), getattr(module, "proj_size", None)
        rnn = {"in_channels": _positive(getattr(module, "input_size", None)),
               "hidden_size": _positive(getattr(module, "hidden_size", None)),
               "bias": bias if isinstance(bias, bool) else None,
               "num_layers": _positive(getattr(module, "num_layers", None)),
               "bidirectional": bidirectional if isinstance(bidirectional, bool) else None,
               "dropout": float(dropout) if isinstance(dropout, (int, float)) and dropout >= 0 else None}
        if kind == "LSTM":  # torch's GRU has the attribute too, always 0
            rnn["proj_size"] = proj_size if isinstance(proj_size, int) and proj_size >= 0 else None
        return rnn
    found = {"bias": getattr(module, "bias", None) is not None}
    if weight_transposed(module):  # Conv1D keeps no `in_features`: its weight is (in, out)
        found["in_channels"] = _positive(int(module.weight.shape[0]))
    elif kind == "Linear":
        found["in_channels"] = _positive(getattr(module, "in_features", None))
    else:
        found["in_channels"] = _positive(getattr(module, "in_channels", None))
        found["groups"] = _positive(getattr(module, "groups", None))
    return found


#: ``torch.nn`` modules whose forward reads a child's weights without calling the child: torch's
#: MultiheadAttention passes ``out_proj.weight`` and ``.bias`` to ``F.multi_head_attention_forward``
_READ_NOT_CALLED: tuple[tuple[type[nn.Module], tuple[str, ...]], ...] = ((nn.MultiheadAttention, ("out_proj",)),)


@dataclass(frozen=True)
class _Modules:
    """What an ``nn.Module``'s inventory takes from the module itself, whatever gives its graph."""

    label: str
    modules: dict[str, nn.Module]  # the inventory's modules (:func:`_leaves`)
    types_of: dict[str, str]  # their AMCT type (:func:`layer_type`), else their class name
    weights: tuple[Weight, ...]
    shared: tuple[tuple[str, ...], ...]
    read_not_called: frozenset[str]  # leaves whose parent's forward reads their weights (:data:`_READ_NOT_CALLED`)

    @classmethod
    def of(cls, model: nn.Module, label: str) -> _Modules:
        leaves = _leaves(model)
        read = frozenset(_path(name, child) for name, m in model.named_modules()
                         for cls, children in _READ_NOT_CALLED if isinstance(m, cls) for child in children)
        return cls(label, dict(leaves), {n: layer_type(m) or type(m).__name__ for n, m in leaves},
                   _weights(model, leaves), _shared(model), read)

    def layer(self, name: str, called: bool = True) -> Layer:
        """The layer ``name``: its AMCT type, its own class where that differs, its attributes."""
        module = self.modules[name]
        own = type(module).__name__
        return Layer(name, self.types_of[name], **module_attributes(module),
                     class_name=own if own != self.types_of[name] else None,
                     weight_transposed=weight_transposed(module), called=called)

    def inventory(self, order: list[str], foldable: tuple[Foldable, ...], activations: tuple[Activation, ...],
                  inside_calls: tuple[str, ...] = ()) -> Inventory:
        """A traced module's inventory: the called leaves in ``order``, then the others, marked not called
        unless inside a module the graph calls without showing its insides (``inside_calls``: fx keeps
        ``torch.nn`` modules such as ``nn.TransformerEncoderLayer`` opaque); a leaf whose weights its parent
        reads without calling it is never called."""
        called = set(order)
        opaque = tuple(f"{name}." for name in inside_calls)
        rest = [n for n in self.types_of if n not in called]
        layers = [self.layer(n, n not in self.read_not_called) for n in order]
        layers += [self.layer(n, n.startswith(opaque) and n not in self.read_not_called) for n in rest]
        return Inventory(tuple(layers), foldable, activations, True, self.label, self.weights, self.shared)

    def untraced(self) -> Inventory:
        """The inventory without a graph: names, types and attributes, every leaf called but those read."""
        return Inventory(tuple(self.layer(n, n not in self.read_not_called) for n in self.types_of), traced=False,
                         model=self.label, weights=self.weights, shared=self.shared)


def model_inventory(model: Any, name: str | None = None, example: Any = None) -> Inventory:
    """The :class:`~cfglang.inventory.Inventory` of ``model``: an ``nn.Module`` or an ``ExportedProgram``.

    ``example``: one batch of the model's inputs (a tensor, a tuple of them or a dict of keywords). When
    torch.fx cannot trace the module (transformers models, ``nn.TransformerEncoder``), the graph comes from
    ``torch.export`` on that batch instead, before falling back to module names only."""
    import torch.export

    if isinstance(model, torch.export.ExportedProgram):
        return _program_inventory(model, name or "ExportedProgram")
    if not isinstance(model, nn.Module):
        raise TypeError(f"found a `{type(model).__name__}`, expected a `torch.nn.Module` "
                        "or a `torch.export.ExportedProgram`")
    label = name or type(model).__name__
    found = _Modules.of(model, label)
    try:
        graph = _LeafTracer().trace(model)
    except Exception as exc:  # fx raises many kinds: control flow on tensors, unsupported ops
        why = f"cannot trace `{label}` with torch.fx ({type(exc).__name__}: {_first_line(exc)[:200]})"
        if example is not None:
            try:
                return _exported_inventory(model, example, found)
            except Exception as export_exc:  # torch.export raises as many kinds
                why += f", nor export it on the example batch ({type(export_exc).__name__}: " \
                       f"{_first_line(export_exc)[:200]})"
        warnings.warn(TraceWarning(
            f"{why}: layer names and types are known, but not which BatchNorm follows which convolution nor "
            "which activation follows a layer; the inventory is marked `traced: false`, no fusion is planned "
            "and `skip_fusion_layers` is not checked (a `torch.export` program file of the model gives the "
            "graph, if it exports)"), stacklevel=2)
        return found.untraced()
    ops: dict[fx.Node, _Op] = {}
    for node in graph.nodes:
        op = ops[node] = _Op(node.target if node.op == "call_module" else None)
        for source in node.all_input_nodes:
            _link(ops[source], op)
    opaque = tuple(op.target for op in ops.values() if op.target is not None and op.target not in found.types_of)
    return found.inventory(*_relations(list(ops.values()), found.types_of), inside_calls=opaque)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Outputs(nn.Module):
    """``model`` returning the tensors of its output only: torch.export cannot return a transformers cache."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return tuple(tensor for _, tensor in output_tensors(self.model(*args, **kwargs)))


def _exported_inventory(model: nn.Module, example: Any, found: _Modules) -> Inventory:
    """The inventory from the graph of ``torch.export`` (non-strict) on one batch: the program's rules, the
    module's own names, types and attributes; leaves the batch does not call come last, as with fx."""
    import torch.export

    args, kwargs = batch_arguments(example)
    # quiet: the program names the wrapper's paths (its own warnings would too), and a failure prints the
    # graph below Python's streams
    with quiet():
        program = torch.export.export(_Outputs(model), args, kwargs, strict=False)
        graph = _program_inventory(program, found.label, {f"model.{n}": t for n, t in found.types_of.items()})
    name = (lambda path: path.removeprefix("model."))
    return found.inventory([name(layer.name) for layer in graph.layers if name(layer.name) in found.types_of],
                           tuple(Foldable(name(p.conv), name(p.bn)) for p in graph.foldable),
                           tuple(Activation(name(a.layer), name(a.activation), a.type) for a in graph.activations))


def _relations(ops: list[_Op], types_of: dict[str, str]) -> tuple[list[str], tuple[Foldable, ...],
                                                                   tuple[Activation, ...]]:
    """The called leaf modules in first-call order, the foldable pairs and the activations."""
    calls = [op for op in ops if op.target in types_of]
    order: list[str] = []
    count: dict[str, int] = {}
    for op in calls:
        count[op.target] = count.get(op.target, 0) + 1
        if count[op.target] == 1:
            order.append(op.target)
    foldable = _foldable(calls, types_of, count)
    activations = _activations(calls, types_of, count, {p.conv: p.bn for p in foldable})
    return order, foldable, activations


def _only_user(op: _Op) -> _Op | None:
    """The module call that alone reads ``op``'s result, reading nothing else."""
    if len(op.users) != 1:
        return None
    user = op.users[0]
    if user.target is None or user.inputs != [op]:
        return None
    return user


def _foldable(calls: list[_Op], types_of: dict[str, str], count: dict[str, int]) -> tuple[Foldable, ...]:
    """Conv1d/2d/3d whose output goes only to a BatchNorm that reads only it (each called once)."""
    pairs = []
    for op in calls:
        if types_of[op.target] not in FOLDABLE_CONV or count[op.target] != 1:
            continue
        user = _only_user(op)
        if user is not None and types_of.get(user.target) in BATCH_NORM and count[user.target] == 1:
            pairs.append(Foldable(op.target, user.target))
    return tuple(pairs)


def _activations(calls: list[_Op], types_of: dict[str, str], count: dict[str, int],
                 folded: dict[str, str]) -> tuple[Activation, ...]:
    """An activation module consuming a quantizable layer's output (through its folded BatchNorm)."""
    by_target = {op.target: op for op in calls}
    out = []
    for op in calls:
        layer_type = types_of[op.target]
        if layer_type not in QUANTIZABLE or count[op.target] != 1:
            continue
        producer = by_target[folded[op.target]] if op.target in folded else op
        user = _only_user(producer)
        if user is not None and types_of.get(user.target) in ADA_FUSED_ACTIVATIONS:
            out.append(Activation(op.target, user.target, types_of[user.target]))
    return tuple(out)


def _innermost(node: fx.Node, leaves: frozenset[str]) -> tuple[str, str, str] | None:
    """``(call key, module path, class name)`` of the innermost module ``node`` was called from, or of the
    outermost one among ``leaves`` (a parametrized layer, whose parametrizations are modules too)."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return None
    key, (path, cls) = next(((k, v) for k, v in stack.items() if v[0] in leaves), next(reversed(stack.items())))
    return key, path, _class_name(cls)


#: the qualified name of each class ``torch.nn.utils.parametrize`` makes, less the base class's name
_PARAMETRIZED = "torch.nn.utils.parametrize.Parametrized"


def _qualified(cls: Any) -> str:
    """The qualified name of an ``nn_module_stack`` entry's class: a class, or (a loaded program) its name."""
    return cls if isinstance(cls, str) else f"{cls.__module__}.{getattr(cls, '__qualname__', cls.__name__)}"


def _class_name(cls: Any) -> str:
    """The class name of an ``nn_module_stack`` entry (:func:`_qualified`)."""
    return _qualified(cls).rpartition(".")[2]


def _program_inventory(program: Any, label: str, known: Mapping[str, str] | None = None) -> Inventory:
    """The inventory of a program. ``known``: the layers of the exported module (:func:`_leaves`) by path,
    with their AMCT types, which the graph's rules then read (a program only names classes). A layer is one
    node of the graph though other modules are inside it: those of ``known``, and in a program file the
    ``Parametrized<Type>`` modules that ``torch.nn.utils.parametrize`` makes of a quantizable type (weight
    norm), whose type is that one; other subclasses keep their class name."""
    from quant.modelref import ModelRefError

    nodes = list(program.graph.nodes)
    qualified = {path: _qualified(cls) for node in nodes if node.op == "call_function"
                 for path, cls in (node.meta.get("nn_module_stack") or {}).values()}
    known = {**{path: q.removeprefix(_PARAMETRIZED) for path, q in qualified.items()
                if q.startswith(_PARAMETRIZED) and q.removeprefix(_PARAMETRIZED) in QUANTIZABLE}, **(known or {})}
    leaves = frozenset(known)
    signature = program.graph_signature
    user_inputs, user_outputs = set(signature.user_inputs), set(signature.user_outputs)
    innermost = {node: _innermost(node, leaves) for node in nodes if node.op == "call_function"}
    if innermost and all(entry is None for entry in innermost.values()):
        raise ModelRefError(f"`{label}` has no `nn_module_stack` metadata on its operations, so they cannot be "
                            "traced back to the model's layers; export the nn.Module with "
                            "`torch.export.export(model, args)` and save that program as it is")
    # every module path the program knows: from the metadata and from its weights' names
    owners = {fqn.rpartition(".")[0] for fqn in (*signature.parameters, *signature.buffers)}
    called = {path for node in nodes if node.op == "call_function"
              for path, _ in (node.meta.get("nn_module_stack") or {}).values()}
    parents = {path[:i] for path in (*owners, *called) for i, ch in enumerate(path) if ch == "."}
    ops: dict[fx.Node, _Op] = {}
    calls: dict[str, _Op] = {}
    types_of: dict[str, str] = {}
    for node in nodes:
        if node.op == "get_attr" or (node.op == "placeholder" and node.name not in user_inputs):
            continue  # weights, buffers, constants and control-flow subgraphs are not values of the data flow
        entry = innermost.get(node)
        if entry is not None and entry[1] and (entry[1] in leaves or entry[1] not in parents):
            key, path, type_name = entry
            op = calls.get(key)
            if op is None:
                op = calls[key] = _Op(path)
                types_of.setdefault(path, known.get(path, type_name))
        else:
            op = _Op(None)
        ops[node] = op
        for source in node.all_input_nodes:
            if source in ops and (node.op != "output" or source.name in user_outputs):
                _link(ops[source], op)  # buffer updates among the outputs are not uses
    order, foldable, activations = _relations(list(dict.fromkeys(ops.values())), types_of)
    inside = tuple(f"{path}." for path in leaves)
    unseen = sorted(path for path in owners
                    if path and path not in parents and path not in types_of and not path.startswith(inside))
    if unseen:
        more = f" and {len(unseen) - 6} more" if len(unseen) > 6 else ""
        shown = ", ".join(f"`{path}`" for path in unseen[:6]) + more
        warnings.warn(TraceWarning(
            f"`{label}`: {shown} {'has' if len(unseen) == 1 else 'have'} weights in the program but no operation "
            "of its graph is attributed to them (not called, used through another module, or called inside "
            "control flow such as `torch.cond`), so they are not in the inventory"), stacklevel=2)
    groups = _program_groups(nodes, innermost)
    classes = {path: _class_name(q) for path, q in qualified.items()}
    layers = tuple(Layer(n, types_of[n], **_program_attributes(program, n, types_of[n], groups.get(n)),
                         class_name=classes[n] if classes.get(n, types_of[n]) != types_of[n] else None)
                   for n in order)
    return Inventory(layers, foldable, activations, True, label,
                     _program_weights(signature.parameters, types_of, parents, classes, inside))


def _program_weights(parameters: list[str], types_of: dict[str, str], parents: set[str],
                     classes: dict[str, str], inside: tuple[str, ...]) -> tuple[Weight, ...]:
    """A program's weights outside its quantizable layers (see :func:`_weights`), from its parameters' names;
    ``inside``: the path prefixes of the layers whose own modules hold weights (parametrizations)."""
    out: dict[str, Weight] = {}
    for fqn in parameters:
        owner = fqn.rpartition(".")[0]
        if fqn.startswith(inside):
            continue
        if owner in types_of and types_of[owner] not in QUANTIZABLE:
            out.setdefault(owner, Weight(owner, types_of[owner]))
        elif owner in parents or not owner:
            out[fqn] = Weight(fqn, classes.get(owner, "Module"), parameter=True)
    return tuple(out.values())


def _program_groups(nodes: list[fx.Node], innermost: dict[fx.Node, Any]) -> dict[str, int]:
    """The ``groups`` argument of each module's convolution operation (aten's schema gives its place)."""
    out: dict[str, int] = {}
    for node in nodes:
        entry = innermost.get(node)
        schema = getattr(node.target, "_schema", None)
        if entry is None or schema is None or "conv" not in schema.name:
            continue
        names = [argument.name for argument in schema.arguments]
        if "groups" not in names:
            continue
        i = names.index("groups")
        if i < len(node.args):
            value = node.args[i]
        elif "groups" in node.kwargs:
            value = node.kwargs["groups"]
        else:
            value = schema.arguments[i].default_value if schema.arguments[i].has_default_value() else None
        if _positive(value) is not None:
            out.setdefault(entry[1], value)
    return out


def _program_attributes(program: Any, path: str, kind: str, groups: int | None) -> dict[str, Any]:
    """A program's layer attributes from its weights' shapes (a program keeps no module objects)."""
    if kind not in QUANTIZABLE or kind == "AvgPool2d":
        return {}
    state = program.state_dict

    def dim(key: str, axis: int) -> int | None:
        tensor = state.get(f"{path}.{key}")
        if tensor is None and key == "weight":  # a parametrized weight: the original of its shape (weight norm: v)
            original = f"{path}.parametrizations.weight.original"
            tensor = state.get(original, state.get(f"{original}1"))
        return int(tensor.shape[axis]) if tensor is not None and tensor.dim() > axis else None

    if kind in ("LSTM", "GRU"):  # the layer count and directions from the weights' names; dropout is not kept
        layer_weight = re.compile(re.escape(path) + r"\.weight_ih_l\d+")
        rnn: dict[str, Any] = {"in_channels": dim("weight_ih_l0", 1), "hidden_size": dim("weight_hh_l0", 1),
                               "bias": f"{path}.bias_ih_l0" in state,
                               "num_layers": sum(1 for key in state if layer_weight.fullmatch(key)) or None,
                               "bidirectional": f"{path}.weight_ih_l0_reverse" in state}
        if kind == "LSTM":
            rnn["proj_size"] = dim("weight_hr_l0", 0) or 0
        return rnn
    found: dict[str, Any] = {"bias": f"{path}.bias" in state}
    if kind == "Linear":
        found["in_channels"] = dim("weight", 1)
    elif kind.startswith("ConvTranspose"):
        found.update(in_channels=dim("weight", 0), groups=groups)
    else:  # a convolution's weight holds in_channels / groups per output channel
        per_group = dim("weight", 1)
        found.update(in_channels=per_group * groups if per_group and groups else None, groups=groups)
    return found


def inventory_from_ref(ref: str) -> Inventory:
    """The inventory of the model ``ref`` names: ``package.module:factory``, or a ``torch.export`` program
    file (an existing file, or a name ending in ``.pt2``; see :mod:`quant.modelref`)."""
    from quant.modelref import is_program_file, load_model, load_program

    model = load_program(ref) if is_program_file(ref) else load_model(ref)
    return model_inventory(model, ref)
