"""Capability rules (C): what each layer type supports (:mod:`cfglang.capabilities`), where no model is needed,
with their checks and the model-aware twin of each.

An `override_layer_types` entry names its type, so an impossible value there is
an error at that value. `common_config` reaches every type; where AMCT falls
back quietly, an info says so. Each rule's check sits below it: on the top-level
message (``@CHECKS.on``) or on each ``CalibrationConfig`` with where it sits
(``@CHECKS.in_context``). With a model, the resolver gives the layers of a type
that cannot take a value their fallback, and the checks of M007 and M008
(:mod:`cfglang.rules.model`) say so in the words of the rule's :data:`FALLBACKS` entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cfglang import capabilities as caps
from cfglang.capabilities import TARGETS, Target
from cfglang.diagnostics import Severity
from cfglang.message import enum_name, is_set, which
from cfglang.rules import rule
from cfglang.rules.findings import Checks, Context, ContextChecker, Finding

__all__ = [
    "CHECKS",
    "FALLBACKS",
    "type_hint",
    "NOT_QUANTIZABLE_TYPE",
    "QUANT_BITS_UNSUPPORTED",
    "QUANT_BITS_FALLBACK",
    "ADA_UNSUPPORTED",
    "CHANNEL_WISE_UNSUPPORTED",
    "DMQ_UNSUPPORTED",
    "ASYMMETRIC_UNSUPPORTED",
    "WEIGHTS_ON_WEIGHTLESS_TYPE",
    "SKIPS_EVERY_TYPE",
    "DST_TYPE_UNSUPPORTED",
    "DST_TYPE_FALLBACK",
]

_C = "capability"

CHECKS = Checks()

#: the model-aware twin of a rule: for the value (an ``Event.what`` of :mod:`cfglang.resolution`) that a
#: layer's type cannot take, ``(why, what the layer gets instead)`` given the value and the target
FALLBACKS: dict[str, Callable[[Any, Target], tuple[str, str]]] = {}


def _fallback(what: str):
    """Decorator: the model-aware words of the rule above it, for the resolver's events ``what``."""

    def add(text: Callable[[Any, Target], tuple[str, str]]) -> Callable[[Any, Target], tuple[str, str]]:
        FALLBACKS[what] = text
        return text

    return add


def _names(types: frozenset[str]) -> str:
    return ", ".join(t for t in caps.QUANTIZABLE if t in types)


def _listed(types: frozenset[str], last: str = "and") -> str:
    """``Conv2d, ConvTranspose2d and Linear``: the types of a set in the usual order, for the rule docs."""
    names = [t for t in caps.QUANTIZABLE if t in types]
    return ", ".join(names[:-1]) + f" {last} " + names[-1] if len(names) > 1 else names[0]


# the type sets that are the same in every target, as the rule docs state them
_DOCUMENTED = caps.get_target()
_EVERY = frozenset(caps.QUANTIZABLE)


def per_target(describe) -> str:
    """One sentence per target, from its capability table (``describe(target)``; None: nothing to say)."""
    lines = [f"`{t.name}`: {text}." for t in TARGETS.values() if (text := describe(t))]
    return " By target: " + " ".join(lines) if lines else ""


def _partial_bits(t: Target) -> str | None:
    by_types: dict[frozenset[str], list[str]] = {}
    for bits, types in sorted(t.weight_bits.items()):
        if types < t.weighted:
            by_types.setdefault(types, []).append(str(bits))
    partial = [f"quant_bits {' and '.join(bits)} for {_names(types)} only" for types, bits in by_types.items()]
    return "; ".join(partial) if partial else None


def _partial_dst(t: Target) -> str | None:
    partial = [f"{name} for {_names(types)}" for name, (_bits, types) in t.activation_bits.items()
               if types < frozenset(t.quantizable)]
    return "; ".join(f"dst_type {p} only" for p in partial) if partial else "INT8 only"


NOT_QUANTIZABLE_TYPE = rule(
    "C001", "not-quantizable-type", Severity.ERROR,
    "a layer type that AMCT cannot quantize",
    "`override_layer_types` and `skip_layer_types` name PyTorch classes (`type(module).__name__`, or for a "
    "subclass of a quantizable `torch.nn` class that class's name; transformers' `Conv1D` is a Linear); "
    f"AMCT quantizes {_listed(_EVERY)}. Names are case-sensitive; any other name never matches a quantizable layer, "
    "which usually hides a typo. AMCT's documentation samples use the placeholder `\"Optype\"`, "
    "which must be replaced with a real type. An ONNX, Caffe or TensorFlow op type (`Gemm`, "
    "`InnerProduct`, `Pooling`, ...) gets the PyTorch class as a hint, and a value in `skip_layer_types` "
    "that looks like a layer name (`layer1.0`) a hint at `skip_layers`.",
    "skip_layer_types: \"conv2d\"\n",
    "skip_layer_types: \"Conv2d\"\n",
    family=_C,
)


def type_hint(name: str, in_skip_list: bool = False) -> str:
    """What a name that is not a quantizable type most likely means."""
    foreign = caps.FOREIGN_OP_TYPES.get(name)
    if foreign is not None:
        return f"`{name}` is an op type of {foreign[1]} configs; the PyTorch class is `{foreign[0]}`"
    guess = caps.suggest_type(name)
    if guess is not None and name.casefold() == guess.casefold():
        return f"did you mean `{guess}`?"
    if in_skip_list and ("." in name or "/" in name or name[:1].islower()):
        return f"`{name}` looks like a layer name: layers are skipped by name in `skip_layers`"
    if guess is not None:
        return f"did you mean `{guess}`?"
    return "quantizable types: " + ", ".join(f"`{t}`" for t in caps.QUANTIZABLE)


@CHECKS.on("AMCTConfig")
def _layer_types(m: Any, target: Target) -> Iterator[Finding]:
    for i, name in enumerate(m.skip_layer_types):
        if name not in target.quantizable:
            yield Finding(NOT_QUANTIZABLE_TYPE, f"`skip_layer_types` names `{name}`, expected a quantizable layer type",
                          ("skip_layer_types", i), type_hint(name, in_skip_list=True))
    for i, entry in enumerate(m.override_layer_types):
        if is_set(entry, "layer_type") and entry.layer_type not in target.quantizable:
            yield Finding(NOT_QUANTIZABLE_TYPE,
                          f"`layer_type` is `{entry.layer_type}`, expected a quantizable layer type",
                          ("override_layer_types", i, "layer_type"), type_hint(entry.layer_type))


QUANT_BITS_UNSUPPORTED = rule(
    "C002", "quant-bits-unsupported", Severity.ERROR,
    "a `quant_bits` value in a type override for a type that cannot take it",
    "Some weight widths exist for some types only (INT6 and INT7 weights for Conv2d). An "
    "`override_layer_types` entry that asks for one for another type cannot be honoured: AMCT raises "
    "\"quant_bits {} not support for {} type\"." + per_target(_partial_bits),
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { arq_quantize { quant_bits: 6 } }\n}\n",
    "override_layer_types {\n  layer_type: \"Conv2d\"\n"
    "  calibration_config { arq_quantize { quant_bits: 6 } }\n}\n",
    family=_C,
)

QUANT_BITS_FALLBACK = rule(
    "C003", "quant-bits-fallback", Severity.INFO,
    "a `quant_bits` value in `common_config` that some types cannot take: they use 8 bits",
    "`common_config` applies to every layer without an override. INT6/INT7 weights exist for "
    "Conv2d only, so Linear, ConvTranspose and the other types fall back to 8 bits (AMCT logs "
    "\"Layer ... does not support weight num bits ..., set int8\")." + per_target(_partial_bits),
    "common_config { arq_quantize { quant_bits: 7 } }\n",
    "common_config { arq_quantize { quant_bits: 8 } }\n"
    "override_layer_types {\n  layer_type: \"Conv2d\"\n"
    "  calibration_config { arq_quantize { quant_bits: 7 } }\n}\n",
    family=_C,
)


@CHECKS.in_context
def _weight_bits(cc: Any, ctx: Context) -> Iterator[Finding]:
    """C002 and C003: a `quant_bits` the target takes for some types only: a fallback in `common_config`, an
    error in a type override for another type (AMCT: `check_and_down_grade_winograd_num_bits` / "quant_bits {}
    not support for {} type")."""
    if which(cc, "wts_quant_algo") != "arq_quantize" or not is_set(cc.arq_quantize, "quant_bits"):
        return
    target, bits = ctx.target, cc.arq_quantize.quant_bits
    takers = target.bits_types(bits)
    if not takers or takers >= target.weighted:
        return  # refused everywhere (V002) or taken everywhere
    at = ("arq_quantize", "quant_bits")
    if ctx.level == "common_config":
        yield Finding(QUANT_BITS_FALLBACK,
                      f"`quant_bits: {bits}` in `common_config` applies to {caps.type_names(takers)} layers only; "
                      f"layers of other types fall back to 8 bits", at,
                      f"to make this explicit, set `quant_bits` in `override_layer_types` entries for "
                      f"{caps.type_names(takers)}")
    elif ctx.level == "override_layer_types" and ctx.layer_type in target.weighted - takers:
        yield Finding(QUANT_BITS_UNSUPPORTED,
                      f"`quant_bits: {bits}` for `{ctx.layer_type}`, expected 8 (INT{bits} weights exist for "
                      f"{caps.type_names(takers)} only)", at)


@_fallback("quant_bits")
def _bits_fallback(bits: Any, target: Target) -> tuple[str, str]:
    return (f"{bits} bits are for {caps.type_names(target.bits_types(bits))} only (target `{target.name}`)",
            "8 bits instead")


def _type_override(check: Callable[[Any, str, Target], Iterator[Finding]]) -> ContextChecker:
    """A check of a ``CalibrationConfig`` that runs only in an ``override_layer_types`` entry for a known
    quantizable type (``check(cc, layer_type, target)``)."""

    def run(cc: Any, ctx: Context) -> Iterator[Finding]:
        if ctx.level == "override_layer_types" and ctx.layer_type in ctx.target.quantizable:
            yield from check(cc, ctx.layer_type, ctx.target)

    run.__name__ = check.__name__
    return CHECKS.in_context(run)


ADA_UNSUPPORTED = rule(
    "C004", "ada-unsupported", Severity.ERROR,
    "`ada_quantize` in a type override for a type AdaRound does not support",
    f"AdaRound (`ada_quantize`) is implemented for {_listed(_DOCUMENTED.ada)} only.",
    "override_layer_types {\n  layer_type: \"Conv1d\"\n"
    "  calibration_config { ada_quantize { } }\n}\n",
    "override_layer_types {\n  layer_type: \"Conv2d\"\n"
    "  calibration_config { ada_quantize { } }\n}\n",
    family=_C,
)


@_type_override
def _ada(cc: Any, layer_type: str, target: Target) -> Iterator[Finding]:
    if which(cc, "wts_quant_algo") == "ada_quantize" and layer_type not in target.ada:
        yield Finding(ADA_UNSUPPORTED, f"`ada_quantize` for `{layer_type}`, expected a type AdaRound supports "
                                       f"({caps.type_names(target.ada)})", ("ada_quantize",), "use `arq_quantize`")


@_fallback("ada_quantize")
def _ada_fallback(_value: Any, target: Target) -> tuple[str, str]:
    return f"AdaRound supports {caps.type_names(target.ada)} only", "`arq_quantize` defaults instead"


CHANNEL_WISE_UNSUPPORTED = rule(
    "C005", "channel-wise-unsupported", Severity.ERROR,
    f"`channel_wise: true` in a type override for {_listed(_EVERY - _DOCUMENTED.channel_wise, 'or')}",
    f"Per-channel weight scales are not supported for {_listed(_EVERY - _DOCUMENTED.channel_wise)}, and AMCT has no "
    "fallback: it fails with \"The channel_wise must be False for layer type Linear\".",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { arq_quantize { channel_wise: true } }\n}\n",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { arq_quantize { channel_wise: false } }\n}\n",
    family=_C,
)


@_type_override
def _channel_wise(cc: Any, layer_type: str, target: Target) -> Iterator[Finding]:
    algo = which(cc, "wts_quant_algo")
    if algo is not None and getattr(cc, algo).channel_wise and layer_type not in target.channel_wise:
        yield Finding(CHANNEL_WISE_UNSUPPORTED,
                      f"`channel_wise: true` for `{layer_type}`, expected `false` (AMCT: \"The channel_wise must be "
                      f"False for layer type {layer_type}\")", (algo, "channel_wise"))


DMQ_UNSUPPORTED = rule(
    "C006", "dmq-unsupported", Severity.ERROR,
    "`dmq_balancer` in a type override for a type the balancer does not support",
    "The DMQ balancer scales input channels of Linear, Conv1d, Conv2d, Conv3d, ConvTranspose1d "
    f"and ConvTranspose2d; {_listed(_EVERY - _DOCUMENTED.dmq)} do not support it.",
    "override_layer_types {\n  layer_type: \"LSTM\"\n"
    "  calibration_config { dmq_balancer { } }\n}\n",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { dmq_balancer { } }\n}\n",
    family=_C,
)


@_type_override
def _dmq(cc: Any, layer_type: str, target: Target) -> Iterator[Finding]:
    if is_set(cc, "dmq_balancer") and layer_type not in target.dmq:
        yield Finding(DMQ_UNSUPPORTED, f"`dmq_balancer` for `{layer_type}`, expected a type the balancer supports "
                                       f"({caps.type_names(target.dmq)})", ("dmq_balancer",),
                      "remove the `dmq_balancer` block")


@_fallback("dmq_balancer")
def _dmq_fallback(_value: Any, target: Target) -> tuple[str, str]:
    return f"the balancer supports {caps.type_names(target.dmq)} only", "no balancing instead"


ASYMMETRIC_UNSUPPORTED = rule(
    "C007", "asymmetric-unsupported", Severity.ERROR,
    f"`asymmetric: true` in a type override for {_listed(_EVERY - _DOCUMENTED.asymmetric)}",
    f"{_listed(_EVERY - _DOCUMENTED.asymmetric)} activations are always quantized symmetrically; an override that "
    f"asks {_listed(_EVERY - _DOCUMENTED.asymmetric)} for "
    "asymmetric activations cannot be honoured.",
    "override_layer_types {\n  layer_type: \"Conv3d\"\n"
    "  calibration_config { ifmr_quantize { asymmetric: true } }\n}\n",
    "override_layer_types {\n  layer_type: \"Conv3d\"\n"
    "  calibration_config { ifmr_quantize { asymmetric: false } }\n}\n",
    family=_C,
)


@_type_override
def _asymmetric(cc: Any, layer_type: str, target: Target) -> Iterator[Finding]:
    algo = which(cc, "acts_quant_algo")
    if algo is not None and getattr(cc, algo).asymmetric and layer_type not in target.asymmetric:
        yield Finding(ASYMMETRIC_UNSUPPORTED,
                      f"`asymmetric: true` for `{layer_type}`, expected `false` ({layer_type} activations are always "
                      f"quantized symmetrically)", (algo, "asymmetric"))


@_fallback("asymmetric")
def _asymmetric_fallback(_value: Any, target: Target) -> tuple[str, str]:
    symmetric = frozenset(target.quantizable) - target.asymmetric
    return f"{caps.type_names(symmetric)} activations are always symmetric", "symmetric activations instead"


WEIGHTS_ON_WEIGHTLESS_TYPE = rule(
    "C008", "weights-on-weightless-type", Severity.WARNING,
    f"a weight algorithm in a type override for {_listed(_EVERY - caps.WEIGHTED)}, which has no weights",
    f"{_listed(_EVERY - caps.WEIGHTED)} layers get activation quantization only; an `arq_quantize` block in their type "
    "override has no effect.",
    "override_layer_types {\n  layer_type: \"AvgPool2d\"\n"
    "  calibration_config { arq_quantize { } ifmr_quantize { } }\n}\n",
    "override_layer_types {\n  layer_type: \"AvgPool2d\"\n"
    "  calibration_config { ifmr_quantize { } }\n}\n",
    family=_C,
)


@_type_override
def _weightless(cc: Any, layer_type: str, target: Target) -> Iterator[Finding]:
    if which(cc, "wts_quant_algo") == "arq_quantize" and layer_type not in target.weighted:
        yield Finding(WEIGHTS_ON_WEIGHTLESS_TYPE,
                      f"`arq_quantize` for `{layer_type}`, which has no weights: the block has no effect",
                      ("arq_quantize",), "remove the `arq_quantize` block")


SKIPS_EVERY_TYPE = rule(
    "C009", "skips-every-type", Severity.ERROR,
    "`skip_layer_types` lists every quantizable type",
    "AMCT's `check_skip_types` refuses a config whose `skip_layer_types` leaves no type to quantize "
    "(\"Except skip_types, no type need to quantize.\"), whatever the model. Reported at the last item.",
    "skip_layer_types: [\"Conv1d\", \"Conv2d\", \"Conv3d\", \"ConvTranspose1d\", \"ConvTranspose2d\",\n"
    "  \"Linear\", \"AvgPool2d\", \"LSTM\", \"GRU\"]\n",
    "skip_layer_types: [\"LSTM\", \"GRU\"]\n",
    family=_C,
)


@CHECKS.on("AMCTConfig")
def _skips_every_type(m: Any, target: Target) -> Iterator[Finding]:
    """AMCT's `check_skip_types`: "Except skip_types, no type need to quantize." (even without a model)."""
    skipped = set(m.skip_layer_types)
    if len(m.skip_layer_types) and skipped >= set(target.quantizable):
        yield Finding(SKIPS_EVERY_TYPE,
                      f"`skip_layer_types` lists all {len(target.quantizable)} quantizable types, expected at least "
                      f"one type left to quantize", ("skip_layer_types", len(m.skip_layer_types) - 1),
                      "AMCT refuses such a file (\"Except skip_types, no type need to quantize\"); to quantize "
                      "nothing, do not run calibration")


DST_TYPE_UNSUPPORTED = rule(
    "C010", "dst-type-unsupported", Severity.ERROR,
    "a `dst_type` in a type override for a type that cannot take it",
    "Where the target accepts INT16 activations, it does for some types only. An "
    "`override_layer_types` entry that asks for them for another type makes AMCT raise "
    "\"int16_quantizable not support for {} type\"." + per_target(_partial_dst),
    "override_layer_types {\n  layer_type: \"AvgPool2d\"\n"
    "  calibration_config { ifmr_quantize { dst_type: INT16 } }\n}\n",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { ifmr_quantize { dst_type: INT16 } }\n}\n",
    family=_C,
    target="amct-9.1",
)

DST_TYPE_FALLBACK = rule(
    "C011", "dst-type-fallback", Severity.INFO,
    "a `dst_type` in `common_config` that some types cannot take: they use INT8",
    "`common_config` applies to every layer without an override; where the target's INT16 table "
    "does not list a layer's type, AMCT quantizes that layer's activations with INT8 and logs "
    "\"Layer ... does not support int16_quantizable, set int8\"." + per_target(_partial_dst),
    "common_config { ifmr_quantize { dst_type: INT16 } }\n",
    "common_config { ifmr_quantize { } }\n"
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { ifmr_quantize { dst_type: INT16 } }\n}\n",
    family=_C,
    target="amct-9.1",
)


def _with_bias(takers: frozenset[str], target: Target) -> str:
    """`` (`Linear` with a bias)``: the types of the table that take INT16 only with a bias (a model tells)."""
    needing = takers & target.int16_needs_bias
    return f" ({caps.type_names(needing)} with a bias)" if needing else ""


@CHECKS.in_context
def _activation_bits(cc: Any, ctx: Context) -> Iterator[Finding]:
    """C010 and C011: `dst_type` the target takes for some types only: AMCT's `check_int16_quantize_layers`
    falls back to INT8 in `common_config`; `_get_override_layer_types` raises "int16_quantizable not support
    for {} type"."""
    algo = which(cc, "acts_quant_algo")
    if algo is None or not is_set(getattr(cc, algo), "dst_type"):
        return
    block = getattr(cc, algo)
    name = enum_name(block, "dst_type")
    target = ctx.target
    takers = target.dst_type_types(name)
    if not takers or takers >= set(target.quantizable):
        return
    at = (algo, "dst_type")
    if ctx.level == "common_config":
        yield Finding(DST_TYPE_FALLBACK,
                      f"`dst_type: {name}` in `common_config` applies to {caps.type_names(takers)} layers only"
                      f"{_with_bias(takers, target)}; layers of other types fall back to INT8", at,
                      f"AMCT warns \"Layer ... does not support int16_quantizable, set int8\" for each of them")
    elif ctx.level == "override_layer_types" and ctx.layer_type in set(target.quantizable) - takers:
        yield Finding(DST_TYPE_UNSUPPORTED,
                      f"`dst_type: {name}` for `{ctx.layer_type}`, expected INT8 ({name} activations exist for "
                      f"{caps.type_names(takers)} only under target `{target.name}`)", at,
                      "AMCT refuses the file: \"int16_quantizable not support for " + ctx.layer_type + " type\"")


@_fallback("dst_type")
def _dst_type_fallback(name: Any, target: Target) -> tuple[str, str]:
    return (f"{name} activations are for {caps.type_names(target.dst_type_types(name))} only "
            f"(target `{target.name}`)", "INT8 instead")
