"""What AMCT PyTorch can do with each layer type, per target, as data.

A *target* names the AMCT behaviour a file is checked against (like ruff's
``target-version``): ``documented`` is the capability table as the user documentation
states it; ``amct-9.1`` and ``amct-9.2`` are what the open-source AMCT code reads
at those releases (docs/amct-checks.md says how each was established). Each target
is one :class:`Target` table; the checker, the model-aware checks, the resolver,
the JSON Schemas and ``docs/rules.md`` read the table and never the target's name.

A module is a layer of type T when ``type(module).__name__ == T``, or when its class derives from the
``torch.nn`` class T (``quant.inventory.layer_type``: torchvision's ``Conv3DSimple`` is a ``Conv3d``);
transformers' ``Conv1D`` is a ``Linear`` with a transposed weight.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cfglang.table import table_lines

__all__ = [
    "QUANTIZABLE",
    "WEIGHTED",
    "RECURRENT_LIMITS",
    "recurrent_limit",
    "FOLDABLE_CONV",
    "BATCH_NORM",
    "ADA_FUSED_ACTIVATIONS",
    "Target",
    "TARGETS",
    "DEFAULT_TARGET",
    "TargetError",
    "get_target",
    "type_names",
    "suggest_type",
    "FOREIGN_OP_TYPES",
    "format_target",
    "int4_pack_problem",
    "INT4_PROBLEMS",
    "INT4_PACKING",
]

# the same in every target
QUANTIZABLE: tuple[str, ...] = (
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Linear", "AvgPool2d", "LSTM", "GRU",
)
WEIGHTED = frozenset(QUANTIZABLE) - {"AvgPool2d"}
FOLDABLE_CONV = frozenset({"Conv1d", "Conv2d", "Conv3d"})  # AMCT's FUSE_TYPES
BATCH_NORM = frozenset({"BatchNorm1d", "BatchNorm2d", "BatchNorm3d"})
ADA_FUSED_ACTIVATIONS = frozenset({"ReLU", "RReLU", "LeakyReLU", "PReLU", "GELU", "ReLU6", "Sigmoid", "Tanh"})

# op types of AMCT's ONNX / Caffe / TensorFlow configs and the PyTorch class that plays their part
# (AMCT's own QUANTIZABLE_ONNX_TYPES in capacity_config.csv; Caffe's layer types; TensorFlow's op names)
FOREIGN_OP_TYPES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "Gemm": ("Linear", "ONNX"), "MatMul": ("Linear", "ONNX / TensorFlow"), "Conv": ("Conv2d", "ONNX"),
    "ConvTranspose": ("ConvTranspose2d", "ONNX"), "AveragePool": ("AvgPool2d", "ONNX"),
    "InnerProduct": ("Linear", "Caffe"), "Convolution": ("Conv2d", "Caffe"),
    "Deconvolution": ("ConvTranspose2d", "Caffe"), "Pooling": ("AvgPool2d", "Caffe"),
    "AvgPool": ("AvgPool2d", "TensorFlow"), "Conv2DBackpropInput": ("ConvTranspose2d", "TensorFlow"),
    "DepthwiseConv2dNative": ("Conv2d", "TensorFlow"), "BatchMatMul": ("Linear", "TensorFlow"),
    "BatchMatMulV2": ("Linear", "TensorFlow"), "Dense": ("Linear", "Keras"),
    "FullyConnected": ("Linear", "MindSpore / TFLite"),
})

_CHANNEL_WISE = frozenset({"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "LSTM", "GRU"})
_ADA = frozenset({"Conv2d", "ConvTranspose2d", "Linear"})
_DMQ = frozenset({"Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d"})
_ASYMMETRIC = frozenset(QUANTIZABLE) - {"Conv3d"}
_CONV2D = frozenset({"Conv2d"})
_INT16_9_1 = frozenset({"Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "Linear"})


class TargetError(ValueError):
    """An unknown target name; the message lists the known ones."""


@dataclass(frozen=True)
class Target:
    """One AMCT behaviour as a capability table.

    ``weight_bits`` maps each ``quant_bits`` value the target accepts to the types
    that take it; ``activation_bits`` maps each ``dst_type`` name it accepts to the
    types that take it (and its bit width). Where a type cannot take a value,
    AMCT falls back in ``common_config`` and refuses in a type override.
    """

    name: str
    summary: str  # one line: which AMCT this is
    source: str  # how the table was established
    weight_bits: Mapping[int, frozenset[str]]
    activation_bits: Mapping[str, tuple[int, frozenset[str]]]
    channel_wise: frozenset[str] = _CHANNEL_WISE
    ada: frozenset[str] = _ADA
    dmq: frozenset[str] = _DMQ
    asymmetric: frozenset[str] = _ASYMMETRIC
    # AMCT packs INT4 weights two per byte along the input channels (commit ddf58b1,
    # `check_int4_weight_quant_axis`): a layer whose weights cannot be packed so (a grouped
    # convolution, an odd number of input channels, an LSTM/GRU with an odd input or hidden size)
    # falls back to 8 bits with a warning, at any level
    int4_packed_along_cin: bool = False
    # types whose layers take INT16 activations only with a bias (AMCT's `check_int16_quantize_type`:
    # a Linear without bias exports as MatMul, outside its INT16 table)
    int16_needs_bias: frozenset[str] = frozenset()

    @property
    def quantizable(self) -> tuple[str, ...]:
        return QUANTIZABLE

    @property
    def weighted(self) -> frozenset[str]:
        return WEIGHTED

    def bits_values(self) -> tuple[int, ...]:
        return tuple(sorted(self.weight_bits))

    def bits_types(self, bits: int) -> frozenset[str]:
        """The types that take ``quant_bits: bits`` (empty when the target refuses the value)."""
        return self.weight_bits.get(bits, frozenset())

    def dst_types(self) -> tuple[str, ...]:
        return tuple(self.activation_bits)

    def dst_type_bits(self, name: str) -> int:
        return self.activation_bits[name][0] if name in self.activation_bits else 8

    def dst_type_types(self, name: str) -> frozenset[str]:
        return self.activation_bits[name][1] if name in self.activation_bits else frozenset()

    def accepting(self, what: str, value: object) -> list[str]:
        """Other targets that accept ``quant_bits`` / ``dst_type`` ``value`` (for messages)."""
        out: list[str] = []
        for other in TARGETS.values():
            if other is self:
                continue
            ok = value in other.weight_bits if what == "quant_bits" else value in other.activation_bits
            if ok:
                out.append(other.name)
        return out


def _bits(**by_value: frozenset[str]) -> Mapping[int, frozenset[str]]:
    return MappingProxyType({int(key[1:]): types for key, types in by_value.items()})


_EVERY_TYPE = frozenset(QUANTIZABLE)

TARGETS: Mapping[str, Target] = MappingProxyType({
    "documented": Target(
        "documented",
        "the AMCT user documentation (value ranges, layer capabilities): INT8 activations; INT6/INT7 weights for Conv2d",
        "the AMCT user documentation: value ranges and layer capabilities",
        _bits(b6=_CONV2D, b7=_CONV2D, b8=WEIGHTED),
        MappingProxyType({"INT8": (8, _EVERY_TYPE)}),
    ),
    "amct-9.1": Target(
        "amct-9.1",
        "AMCT 9.1.0 (tag v9.1.0): adds INT4 weights (A8W4) and INT16 activations (A16W8) for "
        "Conv1d/2d, ConvTranspose1d/2d and Linear",
        "hicann/amct tag v9.1.0: common/config/field.py WTS_SUPPORT_NUM_BITS, capacity_config.csv "
        "INT16_QUANTIZABLE_TYPES",
        _bits(b4=WEIGHTED, b6=_CONV2D, b7=_CONV2D, b8=WEIGHTED),
        MappingProxyType({"INT8": (8, _EVERY_TYPE), "INT16": (16, _INT16_9_1)}),
        int16_needs_bias=frozenset({"Linear"}),
    ),
    "amct-9.2": Target(
        "amct-9.2",
        "AMCT after 9.2.0-beta.1 (the master branch from commit ddf58b1): INT16 activations for LSTM and GRU too",
        "hicann/amct master after tag v9.2.0-beta.1, commit ddf58b1 (capacity_config.csv INT16_QUANTIZABLE_TYPES "
        "gains GRU and LSTM)",
        _bits(b4=WEIGHTED, b6=_CONV2D, b7=_CONV2D, b8=WEIGHTED),
        MappingProxyType({"INT8": (8, _EVERY_TYPE), "INT16": (16, _INT16_9_1 | {"LSTM", "GRU"})}),
        int4_packed_along_cin=True,
        int16_needs_bias=frozenset({"Linear"}),
    ),
})

DEFAULT_TARGET = "documented"


def get_target(name: str | Target | None = None) -> Target:
    """The target called ``name`` (None: the default); an unknown name raises :class:`TargetError`."""
    if isinstance(name, Target):
        return name
    if name is None:
        return TARGETS[DEFAULT_TARGET]
    found = TARGETS.get(str(name).strip().lower())
    if found is None:
        raise TargetError(f"unknown target `{name}`, expected one of {', '.join(f'`{t}`' for t in TARGETS)}")
    return found


def type_names(types: frozenset[str]) -> str:
    """``Conv2d``, ``Linear``: the types of a set in the usual order, quoted."""
    return ", ".join(f"`{t}`" for t in QUANTIZABLE if t in types)


def suggest_type(name: str) -> str | None:
    """The quantizable type a misspelt ``name`` most likely means (case first, then spelling)."""
    folded = name.casefold()
    for candidate in QUANTIZABLE:
        if candidate.casefold() == folded:
            return candidate
    by_fold = {c.casefold(): c for c in QUANTIZABLE}
    close = difflib.get_close_matches(folded, list(by_fold), n=1, cutoff=0.75)
    return by_fold[close[0]] if close else None


# what each problem :func:`int4_pack_problem` names is, for messages and the plan's provenance
INT4_PROBLEMS = {
    "grouped convolution": "a grouped convolution, `groups` > 1",
    "odd input channels": "an odd number of input channels",
    "odd input size": "an odd `input_size`",
    "odd hidden size": "an odd `hidden_size`",
}
INT4_PACKING = "AMCT packs INT4 weights two per byte along the input channels"


def int4_pack_problem(layer_type: str, groups: int | None, in_channels: int | None,
                      hidden_size: int | None) -> str | None:
    """Why AMCT cannot pack a layer's INT4 weights two per byte along its input channels, or None.

    AMCT's `GraphQuerier.check_int4_cin_pack_supported` (commit ddf58b1) on the exported ONNX node:
    a grouped Conv/ConvTranspose is refused outright; otherwise the weight's input-channel axis
    (Conv: in_channels; ConvTranspose: in_channels; Linear: in_features; LSTM/GRU: input_size of W
    and hidden_size of R) must be even. An attribute the inventory does not record (None) is not
    judged: the layer keeps 4 bits, as before inventories recorded attributes.
    """
    if layer_type not in WEIGHTED:
        return None
    if groups is not None and groups > 1:
        return "grouped convolution"
    if in_channels is not None and in_channels % 2 == 1:
        return "odd input size" if layer_type in ("LSTM", "GRU") else "odd input channels"
    if hidden_size is not None and hidden_size % 2 == 1 and layer_type in ("LSTM", "GRU"):
        return "odd hidden size"
    return None


#: why AMCT leaves an LSTM or GRU unquantized, for messages and the plan
RECURRENT_LIMITS = ("AMCT quantizes an LSTM or GRU only with num_layers 1, unidirectional, dropout 0 and "
                    "proj_size 0 (its `GraphChecker.check_rnn_limit`), any other stays in float")


def recurrent_limit(layer_type: str, num_layers: int | None, bidirectional: bool | None, dropout: float | None,
                    proj_size: int | None) -> str | None:
    """The attribute for which AMCT leaves an LSTM or GRU in float (``num_layers=2``, ``bidirectional=true``,
    ``dropout=0.1``, ``proj_size=4``), or None when it quantizes the layer.

    AMCT's `GraphChecker.check_rnn_limit` (amct_pytorch/classic/graph_based/amct_pytorch/configuration/
    check.py), which its quantizable-layer check runs: a layer that breaks it is not quantizable at all. An
    attribute the inventory does not record (None) is not judged, as for :func:`int4_pack_problem`.
    """
    if layer_type not in ("LSTM", "GRU"):
        return None
    if num_layers is not None and num_layers != 1:
        return f"num_layers={num_layers}"
    if bidirectional:
        return "bidirectional=true"
    if dropout:
        return f"dropout={dropout:g}"
    if proj_size:
        return f"proj_size={proj_size}"
    return None


def format_target(target: Target) -> str:
    """A target's capability table as plain text (``amct explain NAME``, docs/cli.md)."""
    every = frozenset(QUANTIZABLE)

    def types(found: frozenset[str]) -> str:
        return "every quantizable type" if found >= every else \
            "every type with weights" if found == WEIGHTED else ", ".join(t for t in QUANTIZABLE if t in found) or "none"

    rows = [(f"quant_bits {bits}", types(found)) for bits, found in sorted(target.weight_bits.items())]
    rows += [(f"dst_type {name} ({bits} bits)", types(found)) for name, (bits, found) in target.activation_bits.items()]
    rows += [("channel_wise: true", types(target.channel_wise)), ("ada_quantize", types(target.ada)),
             ("dmq_balancer", types(target.dmq)), ("asymmetric: true", types(target.asymmetric))]
    if target.int16_needs_bias:
        rows.append(("INT16 needs a bias", types(target.int16_needs_bias)))
    if target.int4_packed_along_cin:
        rows.append(("INT4 packed along Cin", "8 bits instead for grouped convolutions, odd input channels, "
                                              "LSTM/GRU with an odd input or hidden size"))
    lines = [f"target {target.name}", "", target.summary, f"established from: {target.source}", ""]
    lines += table_lines(rows, pad_last=False, indent="  ")
    return "\n".join(lines) + "\n"
