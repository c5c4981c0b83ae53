"""Value rules (V): the value constraints of the AMCT user documentation.

Checked on the values AMCT would use, so defaults count: a lone
`beta_range_end: 30` breaks `beta_range_start > beta_range_end`.
"""

from __future__ import annotations

from cfglang.capabilities import TARGETS
from cfglang.diagnostics import Severity
from cfglang.rules import rule

__all__ = [
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


def _by_target(values) -> str:
    return " ".join(f"`{t.name}`: {', '.join(str(v) for v in values(t))}." for t in TARGETS.values())

BATCH_NUM_ZERO = rule(
    "V001", "batch-num-zero", Severity.ERROR,
    "`batch_num` is 0",
    "`batch_num` is the number of calibration batches AMCT runs; it must be at least 1.",
    "batch_num: 0\n",
    "batch_num: 1\n",
    family=_V,
)

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

NUM_OF_BINS_VALUE = rule(
    "V003", "num-of-bins-value", Severity.ERROR,
    "`num_of_bins` is not 1024, 2048, 4096 or 8192",
    "The HFMG activation algorithm builds a histogram of `num_of_bins` bins; AMCT supports "
    "1024, 2048, 4096 (the default) and 8192.",
    "common_config { hfmg_quantize { num_of_bins: 1000 } }\n",
    "common_config { hfmg_quantize { num_of_bins: 1024 } }\n",
    family=_V,
)

MIGRATION_STRENGTH_RANGE = rule(
    "V004", "migration-strength-range", Severity.ERROR,
    "`migration_strength` outside [0.2, 0.8]",
    "The DMQ balancer moves quantization difficulty from activations to weights with exponent "
    "`migration_strength`; AMCT accepts 0.2 to 0.8 inclusive (default 0.5).",
    "common_config { dmq_balancer { migration_strength: 0.9 } }\n",
    "common_config { dmq_balancer { migration_strength: 0.8 } }\n",
    family=_V,
)

REG_PARAM_RANGE = rule(
    "V005", "reg-param-range", Severity.ERROR,
    "`reg_param` outside (0, 1)",
    "AdaRound weighs its rounding regularizer with `reg_param`; it must lie strictly between "
    "0 and 1 (default 0.01).",
    "common_config { ada_quantize { reg_param: 1 } }\n",
    "common_config { ada_quantize { reg_param: 0.01 } }\n",
    family=_V,
)

WARM_START_RANGE = rule(
    "V006", "warm-start-range", Severity.ERROR,
    "`warm_start` outside (0, 1)",
    "`warm_start` is the fraction of AdaRound iterations run before the rounding term is "
    "switched on; it must lie strictly between 0 and 1 (default 0.2).",
    "common_config { ada_quantize { warm_start: 0 } }\n",
    "common_config { ada_quantize { warm_start: 0.2 } }\n",
    family=_V,
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

PERCENTILE_RANGE = rule(
    "V012", "percentile-range", Severity.ERROR,
    "`max_percentile` or `min_percentile` outside (0.5, 1.0]",
    "IFMR starts from the given percentile of the data (default 0.999999); AMCT accepts values "
    "above 0.5 up to and including 1.0.",
    "common_config { ifmr_quantize { max_percentile: 0.4 } }\n",
    "common_config { ifmr_quantize { max_percentile: 0.999999 } }\n",
    family=_V,
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

NON_FINITE_FLOAT = rule(
    "V014", "non-finite-float", Severity.ERROR,
    "`inf` or `nan` (or a float too large for float32)",
    "protobuf reads `inf`, `nan` and literals beyond the float32 range (which become `inf`), but "
    "no field of the config means anything with a non-finite value.",
    "common_config { ada_quantize { reg_param: nan } }\n",
    "common_config { ada_quantize { reg_param: 0.01 } }\n",
    family=_V,
)
