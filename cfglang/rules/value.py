"""Value rules (V): the value constraints of the AMCT user documentation, and their checks.

Checked on the values AMCT would use, so defaults count: a lone
`beta_range_end: 30` breaks `beta_range_start > beta_range_end`. Each rule's
check sits below it (``@CHECKS.on(message)``); a rule that a value lies in an
interval is declared with :func:`_range_rule`, whose summary and check come
from the interval in :mod:`cfglang.ranges` (which the JSON Schema states too).

Floats are stored as float32, so bounds are compared as float32 too (``0.8``
in the file is 0.800000011920929 in the message, and must still be accepted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from cfglang.capabilities import TARGETS, Target
from cfglang.diagnostics import Severity
from cfglang.float32 import as_float32, format_number
from cfglang.message import enum_name, is_set
from cfglang.ranges import NUM_OF_BINS, VALUE_RANGES
from cfglang.rules import rule
from cfglang.rules.findings import Checker, Checks, Finding

__all__ = [
    "CHECKS",
    "non_finite",
    "BATCH_NUM_ZERO",
    "QUANT_BITS_VALUE",
    "NUM_OF_BINS_VALUE",
    "MIGRATION_STRENGTH_RANGE",
    "REG_PARAM_RANGE",
    "WARM_START_RANGE",
    "BETA_RANGE_ORDER",
    "NUM_ITERATION_ZERO",
    "SEARCH_RANGE_ORDER",
    "SEARCH_STEP_RANGE",
    "TOO_MANY_IFMR_CANDIDATES",
    "PERCENTILE_RANGE",
    "DST_TYPE_INT16",
    "NON_FINITE_FLOAT",
]

_V = "value"

CHECKS = Checks()


def _by_target(values) -> str:
    return " ".join(f"`{t.name}`: {', '.join(str(v) for v in values(t))}." for t in TARGETS.values())


def _show(message: Any, name: str) -> str:
    """``0.9`` or ``the default 20``: how a message quotes a value."""
    text = format_number(getattr(message, name))
    return text if is_set(message, name) else f"the default {text}"


def _anchor(message: Any, *names: str) -> tuple[str, ...]:
    """The first of ``names`` that the file sets, else the block itself."""
    for name in names:
        if is_set(message, name):
            return (name,)
    return ()


def _finite(message: Any, *names: str) -> bool:
    return all(math.isfinite(getattr(message, n)) for n in names)


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


def _in_range(code: str, message: str, name: str) -> Checker:
    """The check that ``name`` of ``message`` lies in its interval of :data:`cfglang.ranges.VALUE_RANGES`."""
    bound = VALUE_RANGES[(message, name)]
    assert bound.low is not None and bound.high is not None
    low, high = as_float32(bound.low), as_float32(bound.high)

    def check(m: Any, target: Target) -> Iterator[Finding]:
        if not is_set(m, name) or not _finite(m, name):
            return
        value = getattr(m, name)
        above = low <= value if bound.closed_low else low < value
        below = value <= high if bound.closed_high else value < high
        if not (above and below):
            yield Finding(code, f"`{name}` is {format_number(value)}, expected a value in {bound}", (name,))

    check.__name__ = f"_{name}_range"
    return check


def _range_rule(code: str, name: str, severity: Severity, fields: tuple[tuple[str, str], ...], explanation: str,
                bad: str, good: str) -> str:
    """Register a rule that each of ``fields`` ((message, field) keys of :data:`cfglang.ranges.VALUE_RANGES`, one
    interval) lies in its interval, and its checks; the summary names the fields and the interval."""
    bound = VALUE_RANGES[fields[0]]
    assert all(VALUE_RANGES[key] == bound for key in fields)
    summary = " or ".join(f"`{field}`" for _, field in fields) + f" outside {bound}"
    rule(code, name, severity, summary, explanation, bad, good, family=_V)
    for message, field in fields:
        CHECKS.on(message)(_in_range(code, message, field))
    return code


BATCH_NUM_ZERO = rule(
    "V001", "batch-num-zero", Severity.ERROR,
    "`batch_num` is 0",
    "`batch_num` is the number of calibration batches AMCT runs; it must be at least 1.",
    "batch_num: 0\n",
    "batch_num: 1\n",
    family=_V,
)

_BATCH_NUM = VALUE_RANGES[("AMCTConfig", "batch_num")]


@CHECKS.on("AMCTConfig")
def _batch_num(m: Any, target: Target) -> Iterator[Finding]:
    if is_set(m, "batch_num") and m.batch_num < _BATCH_NUM.low:
        yield Finding(BATCH_NUM_ZERO, "`batch_num` is 0, expected at least 1 calibration batch", ("batch_num",))


QUANT_BITS_VALUE = rule(
    "V002", "quant-bits-value", Severity.ERROR,
    "`quant_bits` is not a width the target accepts",
    "ARQ weight quantization takes `quant_bits` (default 8). The documentation (target `documented`, "
    "the default) lists 6, 7 and 8; AMCT's code since 9.1 also accepts 4 (A8W4, `weight num_bits is not "
    "in [4, 6, 7, 8]` otherwise). The message names the targets that accept the value. Accepted by "
    "target: " + _by_target(lambda t: t.bits_values()),
    "common_config { arq_quantize { quant_bits: 4 } }\n",
    "common_config { arq_quantize { quant_bits: 8 } }\n",
    family=_V,
)


@CHECKS.on("ARQuantize")
def _quant_bits(m: Any, target: Target) -> Iterator[Finding]:
    if is_set(m, "quant_bits") and m.quant_bits not in target.weight_bits:
        expected = _or_list([str(b) for b in target.bits_values()])
        accepted, hint = _accepted_by(target, "quant_bits", m.quant_bits)
        yield Finding(QUANT_BITS_VALUE, f"`quant_bits` is {m.quant_bits}, expected {expected} under target "
                                        f"`{target.name}`{accepted}", ("quant_bits",), hint)


NUM_OF_BINS_VALUE = rule(
    "V003", "num-of-bins-value", Severity.ERROR,
    f"`num_of_bins` is not {_or_list([str(n) for n in NUM_OF_BINS])}",
    "The HFMG activation algorithm builds a histogram of `num_of_bins` bins; AMCT supports "
    "1024, 2048, 4096 (the default) and 8192.",
    "common_config { hfmg_quantize { num_of_bins: 1000 } }\n",
    "common_config { hfmg_quantize { num_of_bins: 1024 } }\n",
    family=_V,
)


@CHECKS.on("HFMGQuantize")
def _num_of_bins(m: Any, target: Target) -> Iterator[Finding]:
    if is_set(m, "num_of_bins") and m.num_of_bins not in NUM_OF_BINS:
        yield Finding(NUM_OF_BINS_VALUE,
                      f"`num_of_bins` is {m.num_of_bins}, expected {_or_list([str(n) for n in NUM_OF_BINS])}",
                      ("num_of_bins",))


MIGRATION_STRENGTH_RANGE = _range_rule(
    "V004", "migration-strength-range", Severity.ERROR,
    (("DMQBalancer", "migration_strength"),),
    "The DMQ balancer moves quantization difficulty from activations to weights with exponent "
    "`migration_strength`; AMCT accepts 0.2 to 0.8 inclusive (default 0.5).",
    "common_config { dmq_balancer { migration_strength: 0.9 } }\n",
    "common_config { dmq_balancer { migration_strength: 0.8 } }\n",
)

REG_PARAM_RANGE = _range_rule(
    "V005", "reg-param-range", Severity.ERROR,
    (("ADAquantize", "reg_param"),),
    "AdaRound weighs its rounding regularizer with `reg_param`; it must lie strictly between "
    "0 and 1 (default 0.01).",
    "common_config { ada_quantize { reg_param: 1 } }\n",
    "common_config { ada_quantize { reg_param: 0.01 } }\n",
)

WARM_START_RANGE = _range_rule(
    "V006", "warm-start-range", Severity.ERROR,
    (("ADAquantize", "warm_start"),),
    "`warm_start` is the fraction of AdaRound iterations run before the rounding term is "
    "switched on; it must lie strictly between 0 and 1 (default 0.2).",
    "common_config { ada_quantize { warm_start: 0 } }\n",
    "common_config { ada_quantize { warm_start: 0.2 } }\n",
)

BETA_RANGE_ORDER = rule(
    "V007", "beta-range-order", Severity.ERROR,
    "not `beta_range_start > beta_range_end > 0`",
    "AdaRound anneals beta from `beta_range_start` (default 20) down to `beta_range_end` "
    "(default 2), so start must be greater than end and end greater than 0. Defaults count: a "
    "lone `beta_range_end: 30` is compared with the default start 20.",
    "common_config { ada_quantize { beta_range_end: 30 } }\n",
    "common_config { ada_quantize { beta_range_start: 40 beta_range_end: 30 } }\n",
    family=_V,
)


@CHECKS.on("ADAquantize")
def _beta_range(m: Any, target: Target) -> Iterator[Finding]:
    if not _finite(m, "beta_range_start", "beta_range_end"):
        return
    start, end = m.beta_range_start, m.beta_range_end
    if end <= 0:
        yield Finding(BETA_RANGE_ORDER, f"`beta_range_end` is {_show(m, 'beta_range_end')}, expected a value above 0",
                      _anchor(m, "beta_range_end", "beta_range_start"))
    elif start <= end:
        at = _anchor(m, "beta_range_end", "beta_range_start")
        other = "beta_range_start" if at == ("beta_range_end",) else "beta_range_end"
        related = (((other,), "compared with this"),) if is_set(m, other) else ()
        yield Finding(BETA_RANGE_ORDER,
                      f"`beta_range_start` ({_show(m, 'beta_range_start')}) is not greater than `beta_range_end` "
                      f"({_show(m, 'beta_range_end')}), expected start > end (beta anneals downwards)",
                      at, f"set `beta_range_start` above {format_number(end)} or `beta_range_end` below "
                          f"{format_number(start)}", related)


NUM_ITERATION_ZERO = rule(
    "V008", "num-iteration-zero", Severity.WARNING,
    "`num_iteration: 0` turns AdaRound into plain rounding",
    "With zero iterations AdaRound never optimizes the rounding and the weights are rounded to "
    "nearest, the same as ARQ but slower to set up. Use `arq_quantize`, or a positive count "
    "(default 10000).",
    "common_config { ada_quantize { num_iteration: 0 } }\n",
    "common_config { ada_quantize { num_iteration: 10000 } }\n",
    family=_V,
)


@CHECKS.on("ADAquantize")
def _num_iteration(m: Any, target: Target) -> Iterator[Finding]:
    if is_set(m, "num_iteration") and m.num_iteration == 0:
        yield Finding(NUM_ITERATION_ZERO, "`num_iteration` is 0, so AdaRound only rounds to nearest",
                      ("num_iteration",), "use `arq_quantize`, or a positive `num_iteration` (default 10000)")


SEARCH_RANGE_ORDER = rule(
    "V009", "search-range-order", Severity.ERROR,
    "not `0 < search_range_start < search_range_end`",
    "IFMR tries clip ratios from `search_range_start` (default 0.7) up to `search_range_end` "
    "(default 1.3); both must be positive and start below end. Defaults count.",
    "common_config { ifmr_quantize { search_range_start: 1.5 } }\n",
    "common_config { ifmr_quantize { search_range_start: 0.9 } }\n",
    family=_V,
)

SEARCH_STEP_RANGE = rule(
    "V010", "search-step-range", Severity.ERROR,
    "not `0 < search_step <= search_range_end - search_range_start`",
    "IFMR steps through the search range by `search_step` (default 0.01); a step of 0 or less "
    "never ends, and a step larger than the range tries a single ratio.",
    "common_config { ifmr_quantize { search_step: 0 } }\n",
    "common_config { ifmr_quantize { search_step: 0.01 } }\n",
    family=_V,
)

TOO_MANY_IFMR_CANDIDATES = rule(
    "V011", "too-many-ifmr-candidates", Severity.WARNING,
    "more than 1000 IFMR candidates",
    "IFMR evaluates `(search_range_end - search_range_start) / search_step` candidate clip "
    "values at every layer over all calibration data; above 1000 candidates calibration takes so "
    "long that it looks hung. The defaults give 60.",
    "common_config { ifmr_quantize { search_step: 0.0001 } }\n",
    "common_config { ifmr_quantize { search_step: 0.01 } }\n",
    family=_V,
)


@CHECKS.on("FMRQuantize")
def _search(m: Any, target: Target) -> Iterator[Finding]:
    """V009, V010 and V011: the search range, its step and the number of candidates it gives."""
    if not _finite(m, "search_range_start", "search_range_end", "search_step"):
        return
    start, end, step = m.search_range_start, m.search_range_end, m.search_step
    if start <= 0 or start >= end:
        at = _anchor(m, "search_range_start", "search_range_end") if start <= 0 else \
            _anchor(m, "search_range_end", "search_range_start")
        yield Finding(SEARCH_RANGE_ORDER,
                      f"`search_range_start` is {_show(m, 'search_range_start')} and `search_range_end` is "
                      f"{_show(m, 'search_range_end')}, expected 0 < start < end", at)
        return
    width = end - start
    if step <= 0 or step > width * (1 + 1e-6):
        yield Finding(SEARCH_STEP_RANGE,
                      f"`search_step` is {_show(m, 'search_step')}, expected a value in (0, {width:.6g}] "
                      f"(the width of the search range)", _anchor(m, "search_step", "search_range_end",
                                                                   "search_range_start"))
        return
    candidates = width / step
    if candidates > 1000:
        yield Finding(TOO_MANY_IFMR_CANDIDATES,
                      f"the search range gives {math.ceil(candidates - 1e-6)} IFMR candidates, expected at most 1000",
                      _anchor(m, "search_step", "search_range_end", "search_range_start"),
                      "calibration evaluates every candidate at every layer; use a larger `search_step`")


PERCENTILE_RANGE = _range_rule(
    "V012", "percentile-range", Severity.ERROR,
    (("FMRQuantize", "max_percentile"), ("FMRQuantize", "min_percentile")),
    "IFMR starts from the given percentile of the data (default 0.999999); AMCT accepts values "
    "above 0.5 up to and including 1.0.",
    "common_config { ifmr_quantize { max_percentile: 0.4 } }\n",
    "common_config { ifmr_quantize { max_percentile: 0.999999 } }\n",
)

DST_TYPE_INT16 = rule(
    "V013", "dst-type-int16", Severity.ERROR,
    "`dst_type` is not an activation type the target accepts",
    "`CalibrationDataType` declares INT16, so the file parses, but the documentation (target "
    "`documented`, the default) says the current version supports INT8 only. AMCT's code since 9.1 "
    "quantizes activations with INT16 (A16W8) for the types of its INT16 table (see C010 and C011). The "
    "message names the targets that accept the value. Accepted by target: "
    + _by_target(lambda t: t.dst_types()),
    "common_config { ifmr_quantize { dst_type: INT16 } }\n",
    "common_config { ifmr_quantize { dst_type: INT8 } }\n",
    family=_V,
)


@CHECKS.on("FMRQuantize")
@CHECKS.on("HFMGQuantize")
def _dst_type(m: Any, target: Target) -> Iterator[Finding]:
    if not is_set(m, "dst_type"):
        return
    name = enum_name(m, "dst_type")
    if name not in target.activation_bits:
        expected = _or_list(list(target.dst_types()))
        accepted, hint = _accepted_by(target, "dst_type", name)
        yield Finding(DST_TYPE_INT16, f"`dst_type` is {name}, expected {expected} under target "
                                      f"`{target.name}`{accepted}", ("dst_type",),
                      hint or "remove `dst_type`; INT8 is the default")


NON_FINITE_FLOAT = rule(
    "V014", "non-finite-float", Severity.ERROR,
    "`inf` or `nan` (or a float too large for float32)",
    "protobuf reads `inf`, `nan` and literals beyond the float32 range (which become `inf`), but "
    "no field of the config means anything with a non-finite value.",
    "common_config { ada_quantize { reg_param: nan } }\n",
    "common_config { ada_quantize { reg_param: 0.01 } }\n",
    family=_V,
)


def non_finite(message: Any, floats: Iterable[str]) -> Iterator[Finding]:
    """V014 for every singular float field of ``floats`` that the file sets to inf or nan (or past the float32
    range); the checker runs it on every message with the message's float fields."""
    for name in floats:
        if is_set(message, name):
            value = getattr(message, name)
            if not math.isfinite(value):
                yield Finding(NON_FINITE_FLOAT, f"`{name}` is {format_number(value)}, expected a finite number",
                              (name,))
