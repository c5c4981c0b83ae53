"""Value constraints (the V rules of docs/rules.md) and the capability rules that need no model (the C rules).

A table of small checker functions, in the manner of jsonschema's keyword
checkers: each looks at one message of the final ``AMCTConfig`` (defaults
applied, as AMCT would see it) and yields :class:`Finding` values naming the
offending field by a path relative to that message. The engine in
:mod:`cfglang.checker` turns the path into a location and the code into a
severity; checkers never see spans.

Floats are stored as float32, so bounds are compared as float32 too (``0.8``
in the file is 0.800000011920929 in the message, and must still be accepted).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from cfglang import capabilities as caps
from cfglang.capabilities import Target
from cfglang.float32 import as_float32
from cfglang.ranges import NUM_OF_BINS, VALUE_RANGES
from cfglang.rules import capability as C
from cfglang.rules import schema as F
from cfglang.rules import value as V
from cfglang.schema import fields_of_kind, format_number

__all__ = ["Finding", "Context", "VALUE_CHECKS", "CAPABILITY_CHECKS", "non_finite", "repeated_keys", "type_hint"]

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
CapabilityChecker = Callable[[Any, Context], Iterator[Finding]]


_f32 = as_float32
_BATCH_NUM = VALUE_RANGES[("AMCTConfig", "batch_num")]


def _show(message: Any, name: str) -> str:
    """``0.9`` or ``the default 20``: how a message quotes a value."""
    text = format_number(getattr(message, name))
    return text if message.HasField(name) else f"the default {text}"


def _anchor(message: Any, *names: str) -> tuple[str, ...]:
    """The first of ``names`` that the file sets, else the block itself."""
    for name in names:
        if message.HasField(name):
            return (name,)
    return ()


def _finite(message: Any, *names: str) -> bool:
    return all(math.isfinite(getattr(message, n)) for n in names)


def non_finite(message: Any, type_name: str) -> Iterator[Finding]:
    """V014 for every float field the file sets to inf or nan (or past the float32 range)."""
    for info in fields_of_kind(type_name, "float"):
        if not info.repeated and message.HasField(info.name):
            value = getattr(message, info.name)
            if not math.isfinite(value):
                yield Finding(V.NON_FINITE_FLOAT, f"`{info.name}` is {format_number(value)}, expected a finite number",
                              (info.name,))


# --- AMCTConfig --------------------------------------------------------------

def _batch_num(m: Any, target: Target) -> Iterator[Finding]:
    if m.HasField("batch_num") and m.batch_num < _BATCH_NUM.low:
        yield Finding(V.BATCH_NUM_ZERO, "`batch_num` is 0, expected at least 1 calibration batch", ("batch_num",))


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


def _layer_types(m: Any, target: Target) -> Iterator[Finding]:
    for i, name in enumerate(m.skip_layer_types):
        if name not in target.quantizable:
            yield Finding(C.NOT_QUANTIZABLE_TYPE, f"`skip_layer_types` names `{name}`, expected a quantizable layer type",
                          ("skip_layer_types", i), type_hint(name, in_skip_list=True))
    for i, entry in enumerate(m.override_layer_types):
        if entry.HasField("layer_type") and entry.layer_type not in target.quantizable:
            yield Finding(C.NOT_QUANTIZABLE_TYPE,
                          f"`layer_type` is `{entry.layer_type}`, expected a quantizable layer type",
                          ("override_layer_types", i, "layer_type"), type_hint(entry.layer_type))


def _repeated_items(m: Any, target: Target) -> Iterator[Finding]:
    """A name given twice in a skip list: AMCT's `check_no_repeated` raises "Please delete repeated items"."""
    for list_name in ("skip_layers", "skip_layer_types", "skip_fusion_layers"):
        first: dict[str, int] = {}
        for i, name in enumerate(getattr(m, list_name)):
            if name in first:
                yield Finding(F.REPEATED_SKIP_ITEM, f"`\"{name}\"` appears again in `{list_name}`, expected each once",
                              (list_name, i), "delete the repeat (AMCT: \"Please delete repeated items\")",
                              (((list_name, first[name]), "first given here"),))
            else:
                first[name] = i


def _skips_every_type(m: Any, target: Target) -> Iterator[Finding]:
    """AMCT's `check_skip_types`: "Except skip_types, no type need to quantize." (even without a model)."""
    skipped = set(m.skip_layer_types)
    if len(m.skip_layer_types) and skipped >= set(target.quantizable):
        yield Finding(C.SKIPS_EVERY_TYPE,
                      f"`skip_layer_types` lists all {len(target.quantizable)} quantizable types, expected at least "
                      f"one type left to quantize", ("skip_layer_types", len(m.skip_layer_types) - 1),
                      "AMCT refuses such a file (\"Except skip_types, no type need to quantize\"); to quantize "
                      "nothing, do not run calibration")


def repeated_keys(m: Any) -> Iterator[Finding]:
    """`layer_type` or `layer_name` used by two override entries (the only check across entries)."""
    for list_name, key, code in (("override_layer_types", "layer_type", F.DUPLICATE_LAYER_TYPE),
                                 ("override_layer_configs", "layer_name", F.DUPLICATE_LAYER_NAME)):
        first: dict[str, int] = {}
        for i, entry in enumerate(getattr(m, list_name)):
            if not entry.HasField(key):
                continue
            value = getattr(entry, key)
            if value in first:
                yield Finding(code, f"`{key}: \"{value}\"` appears again in `{list_name}`, expected each once",
                              (list_name, i, key), "merge the two entries into one (AMCT: \"Please delete repeated items\")",
                              (((list_name, first[value], key), "first used here"),))
            else:
                first[value] = i


def _repeated_override_keys(m: Any, target: Target) -> Iterator[Finding]:
    return repeated_keys(m)


# --- weight, activation and balancer blocks ----------------------------------

def _or_list(values: list[str]) -> str:
    return ", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else values[0]


def _accepted_by(target: Target, what: str, value: object) -> tuple[str, str | None]:
    """`` (targets `amct-9.1` and `amct-9.2` accept it)`` for the message and the option as a hint
    (empty and None when no other target accepts the value)."""
    others = target.accepting(what, value)
    if not others:
        return "", None
    names = " and ".join(f"`{o}`" for o in others)
    return (f" (target{'s' if len(others) > 1 else ''} {names} accept{'' if len(others) > 1 else 's'} it)",
            f"if the file is for AMCT's code rather than its documentation, check it with `--target {others[0]}`")


def _quant_bits(m: Any, target: Target) -> Iterator[Finding]:
    if m.HasField("quant_bits") and m.quant_bits not in target.weight_bits:
        expected = _or_list([str(b) for b in target.bits_values()])
        accepted, hint = _accepted_by(target, "quant_bits", m.quant_bits)
        yield Finding(V.QUANT_BITS_VALUE, f"`quant_bits` is {m.quant_bits}, expected {expected} under target "
                                          f"`{target.name}`{accepted}", ("quant_bits",), hint)


def _num_of_bins(m: Any, target: Target) -> Iterator[Finding]:
    if m.HasField("num_of_bins") and m.num_of_bins not in NUM_OF_BINS:
        yield Finding(V.NUM_OF_BINS_VALUE,
                      f"`num_of_bins` is {m.num_of_bins}, expected {_or_list([str(n) for n in NUM_OF_BINS])}",
                      ("num_of_bins",))


def _dst_type(m: Any, target: Target) -> Iterator[Finding]:
    if not m.HasField("dst_type"):
        return
    name = type(m).CalibrationDataType.Name(m.dst_type)
    if name not in target.activation_bits:
        expected = _or_list(list(target.dst_types()))
        accepted, hint = _accepted_by(target, "dst_type", name)
        yield Finding(V.DST_TYPE_INT16, f"`dst_type` is {name}, expected {expected} under target "
                                        f"`{target.name}`{accepted}", ("dst_type",),
                      hint or "remove `dst_type`; INT8 is the default")


def _between(code: str, message: str, name: str) -> Checker:
    """A checker for ``low < value < high`` (``closed``: ``low <= value <= high``), the bounds from
    :data:`cfglang.ranges.VALUE_RANGES` (both ends closed or both open)."""
    bound = VALUE_RANGES[(message, name)]
    low, high, closed = bound.low, bound.high, bound.closed_low
    assert low is not None and high is not None and bound.closed_high == closed
    lo, hi = _f32(low), _f32(high)
    shown = f"[{format_number(low)}, {format_number(high)}]" if closed else f"({format_number(low)}, {format_number(high)})"

    def check(m: Any, target: Target) -> Iterator[Finding]:
        if not m.HasField(name) or not _finite(m, name):
            return
        value = getattr(m, name)
        inside = lo <= value <= hi if closed else lo < value < hi
        if not inside:
            yield Finding(code, f"`{name}` is {format_number(value)}, expected a value in {shown}", (name,))

    check.__name__ = f"_{name}_range"
    return check


def _percentiles(m: Any, target: Target) -> Iterator[Finding]:
    for name in ("max_percentile", "min_percentile"):
        bound = VALUE_RANGES[("FMRQuantize", name)]  # (0.5, 1.0]
        if m.HasField(name) and _finite(m, name) and not _f32(bound.low) < getattr(m, name) <= bound.high:
            yield Finding(V.PERCENTILE_RANGE, f"`{name}` is {format_number(getattr(m, name))}, expected a value in "
                                              f"({format_number(bound.low)}, {bound.high!r}]", (name,))


def _beta_range(m: Any, target: Target) -> Iterator[Finding]:
    if not _finite(m, "beta_range_start", "beta_range_end"):
        return
    start, end = m.beta_range_start, m.beta_range_end
    if end <= 0:
        yield Finding(V.BETA_RANGE_ORDER, f"`beta_range_end` is {_show(m, 'beta_range_end')}, expected a value above 0",
                      _anchor(m, "beta_range_end", "beta_range_start"))
    elif start <= end:
        at = _anchor(m, "beta_range_end", "beta_range_start")
        other = "beta_range_start" if at == ("beta_range_end",) else "beta_range_end"
        related = (((other,), "compared with this"),) if m.HasField(other) else ()
        yield Finding(V.BETA_RANGE_ORDER,
                      f"`beta_range_start` ({_show(m, 'beta_range_start')}) is not greater than `beta_range_end` "
                      f"({_show(m, 'beta_range_end')}), expected start > end (beta anneals downwards)",
                      at, f"set `beta_range_start` above {format_number(end)} or `beta_range_end` below "
                          f"{format_number(start)}", related)


def _num_iteration(m: Any, target: Target) -> Iterator[Finding]:
    if m.HasField("num_iteration") and m.num_iteration == 0:
        yield Finding(V.NUM_ITERATION_ZERO, "`num_iteration` is 0, so AdaRound only rounds to nearest",
                      ("num_iteration",), "use `arq_quantize`, or a positive `num_iteration` (default 10000)")


def _search(m: Any, target: Target) -> Iterator[Finding]:
    if not _finite(m, "search_range_start", "search_range_end", "search_step"):
        return
    start, end, step = m.search_range_start, m.search_range_end, m.search_step
    if start <= 0 or start >= end:
        at = _anchor(m, "search_range_start", "search_range_end") if start <= 0 else \
            _anchor(m, "search_range_end", "search_range_start")
        yield Finding(V.SEARCH_RANGE_ORDER,
                      f"`search_range_start` is {_show(m, 'search_range_start')} and `search_range_end` is "
                      f"{_show(m, 'search_range_end')}, expected 0 < start < end", at)
        return
    width = end - start
    if step <= 0 or step > width * (1 + 1e-6):
        yield Finding(V.SEARCH_STEP_RANGE,
                      f"`search_step` is {_show(m, 'search_step')}, expected a value in (0, {width:.6g}] "
                      f"(the width of the search range)", _anchor(m, "search_step", "search_range_end",
                                                                   "search_range_start"))
        return
    candidates = width / step
    if candidates > 1000:
        yield Finding(V.TOO_MANY_IFMR_CANDIDATES,
                      f"the search range gives {math.ceil(candidates - 1e-6)} IFMR candidates, expected at most 1000",
                      _anchor(m, "search_step", "search_range_end", "search_range_start"),
                      "calibration evaluates every candidate at every layer; use a larger `search_step`")


VALUE_CHECKS: dict[str, tuple[Checker, ...]] = {
    "AMCTConfig": (_batch_num, _layer_types, _repeated_items, _skips_every_type, _repeated_override_keys),
    "ARQuantize": (_quant_bits,),
    "ADAquantize": (
        _num_iteration,
        _between(V.REG_PARAM_RANGE, "ADAquantize", "reg_param"),
        _beta_range,
        _between(V.WARM_START_RANGE, "ADAquantize", "warm_start"),
    ),
    "DMQBalancer": (_between(V.MIGRATION_STRENGTH_RANGE, "DMQBalancer", "migration_strength"),),
    "FMRQuantize": (_search, _percentiles, _dst_type),
    "HFMGQuantize": (_num_of_bins, _dst_type),
}


# --- capabilities (CalibrationConfig in context) -------------------------------

def _weight_bits(cc: Any, ctx: Context) -> Iterator[Finding]:
    """A `quant_bits` the target takes for some types only: a fallback in `common_config`, an error in a
    type override for another type (AMCT: `check_and_down_grade_winograd_num_bits` / "quant_bits {} not
    support for {} type")."""
    if cc.WhichOneof("wts_quant_algo") != "arq_quantize" or not cc.arq_quantize.HasField("quant_bits"):
        return
    target, bits = ctx.target, cc.arq_quantize.quant_bits
    takers = target.bits_types(bits)
    if not takers or takers >= target.weighted:
        return  # refused everywhere (V002) or taken everywhere
    at = ("arq_quantize", "quant_bits")
    if ctx.level == "common_config":
        yield Finding(C.QUANT_BITS_FALLBACK,
                      f"`quant_bits: {bits}` in `common_config` applies to {caps.type_names(takers)} layers only; "
                      f"layers of other types fall back to 8 bits", at,
                      f"to make this explicit, set `quant_bits` in `override_layer_types` entries for "
                      f"{caps.type_names(takers)}")
    elif ctx.level == "override_layer_types" and ctx.layer_type in target.weighted - takers:
        yield Finding(C.QUANT_BITS_UNSUPPORTED,
                      f"`quant_bits: {bits}` for `{ctx.layer_type}`, expected 8 (INT{bits} weights exist for "
                      f"{caps.type_names(takers)} only)", at)


def _with_bias(takers: frozenset[str], target: caps.Target) -> str:
    """`` (`Linear` with a bias)``: the types of the table that take INT16 only with a bias (a model tells)."""
    needing = takers & target.int16_needs_bias
    return f" ({caps.type_names(needing)} with a bias)" if needing else ""


def _activation_bits(cc: Any, ctx: Context) -> Iterator[Finding]:
    """`dst_type` the target takes for some types only: AMCT's `check_int16_quantize_layers` falls back to
    INT8 in `common_config`; `_get_override_layer_types` raises "int16_quantizable not support for {} type"."""
    algo = cc.WhichOneof("acts_quant_algo")
    if algo is None or not getattr(cc, algo).HasField("dst_type"):
        return
    block = getattr(cc, algo)
    name = type(block).CalibrationDataType.Name(block.dst_type)
    target = ctx.target
    takers = target.dst_type_types(name)
    if not takers or takers >= set(target.quantizable):
        return
    at = (algo, "dst_type")
    if ctx.level == "common_config":
        yield Finding(C.DST_TYPE_FALLBACK,
                      f"`dst_type: {name}` in `common_config` applies to {caps.type_names(takers)} layers only"
                      f"{_with_bias(takers, target)}; layers of other types fall back to INT8", at,
                      f"AMCT warns \"Layer ... does not support int16_quantizable, set int8\" for each of them")
    elif ctx.level == "override_layer_types" and ctx.layer_type in set(target.quantizable) - takers:
        yield Finding(C.DST_TYPE_UNSUPPORTED,
                      f"`dst_type: {name}` for `{ctx.layer_type}`, expected INT8 ({name} activations exist for "
                      f"{caps.type_names(takers)} only under target `{target.name}`)", at,
                      "AMCT refuses the file: \"int16_quantizable not support for " + ctx.layer_type + " type\"")


def _type_override(check: Callable[[Any, str, Target], Iterator[Finding]]) -> CapabilityChecker:
    """Run ``check`` only in an ``override_layer_types`` entry for a known quantizable type."""

    def run(cc: Any, ctx: Context) -> Iterator[Finding]:
        if ctx.level == "override_layer_types" and ctx.layer_type in ctx.target.quantizable:
            yield from check(cc, ctx.layer_type, ctx.target)

    run.__name__ = check.__name__
    return run


@_type_override
def _ada(cc: Any, layer_type: str, target: Target) -> Iterator[Finding]:
    if cc.WhichOneof("wts_quant_algo") == "ada_quantize" and layer_type not in target.ada:
        yield Finding(C.ADA_UNSUPPORTED, f"`ada_quantize` for `{layer_type}`, expected a type AdaRound supports "
                                         f"({caps.type_names(target.ada)})", ("ada_quantize",), "use `arq_quantize`")


@_type_override
def _channel_wise(cc: Any, layer_type: str, target: Target) -> Iterator[Finding]:
    algo = cc.WhichOneof("wts_quant_algo")
    if algo is not None and getattr(cc, algo).channel_wise and layer_type not in target.channel_wise:
        yield Finding(C.CHANNEL_WISE_UNSUPPORTED,
                      f"`channel_wise: true` for `{layer_type}`, expected `false` (AMCT: \"The channel_wise must be "
                      f"False for layer type {layer_type}\")", (algo, "channel_wise"))


@_type_override
def _dmq(cc: Any, layer_type: str, target: Target) -> Iterator[Finding]:
    if cc.HasField("dmq_balancer") and layer_type not in target.dmq:
        yield Finding(C.DMQ_UNSUPPORTED, f"`dmq_balancer` for `{layer_type}`, expected a type the balancer supports "
                                         f"({caps.type_names(target.dmq)})", ("dmq_balancer",),
                      "remove the `dmq_balancer` block")


@_type_override
def _asymmetric(cc: Any, layer_type: str, target: Target) -> Iterator[Finding]:
    algo = cc.WhichOneof("acts_quant_algo")
    if algo is not None and getattr(cc, algo).asymmetric and layer_type not in target.asymmetric:
        yield Finding(C.ASYMMETRIC_UNSUPPORTED,
                      f"`asymmetric: true` for `{layer_type}`, expected `false` ({layer_type} activations are always "
                      f"quantized symmetrically)", (algo, "asymmetric"))


@_type_override
def _weightless(cc: Any, layer_type: str, target: Target) -> Iterator[Finding]:
    if cc.WhichOneof("wts_quant_algo") == "arq_quantize" and layer_type not in target.weighted:
        yield Finding(C.WEIGHTS_ON_WEIGHTLESS_TYPE,
                      f"`arq_quantize` for `{layer_type}`, which has no weights: the block has no effect",
                      ("arq_quantize",), "remove the `arq_quantize` block")


CAPABILITY_CHECKS: tuple[CapabilityChecker, ...] = (_weight_bits, _activation_bits, _ada, _channel_wise, _dmq,
                                                    _asymmetric, _weightless)
