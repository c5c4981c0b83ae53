"""Capability rules (C): what each layer type supports (:mod:`cfglang.capabilities`), where no model is needed.

An `override_layer_types` entry names its type, so an impossible value there is
an error at that value. `common_config` reaches every type; where AMCT falls
back quietly, an info says so.
"""

from __future__ import annotations

from cfglang.capabilities import TARGETS, Target
from cfglang.diagnostics import Severity
from cfglang.rules import rule

__all__ = [
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


def _names(types: frozenset[str]) -> str:
    from cfglang.capabilities import QUANTIZABLE

    return ", ".join(t for t in QUANTIZABLE if t in types)


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
    "`override_layer_types` and `skip_layer_types` name PyTorch classes (`type(module).__name__`); "
    "AMCT quantizes Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, Linear, AvgPool2d, "
    "LSTM and GRU. Names are case-sensitive; any other name never matches a quantizable layer, "
    "which usually hides a typo. AMCT's documentation samples use the placeholder `\"Optype\"`, "
    "which must be replaced with a real type. An ONNX, Caffe or TensorFlow op type (`Gemm`, "
    "`InnerProduct`, `Pooling`, ...) gets the PyTorch class as a hint, and a value in `skip_layer_types` "
    "that looks like a layer name (`layer1.0`) a hint at `skip_layers`.",
    "skip_layer_types: \"conv2d\"\n",
    "skip_layer_types: \"Conv2d\"\n",
    family=_C,
)

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

ADA_UNSUPPORTED = rule(
    "C004", "ada-unsupported", Severity.ERROR,
    "`ada_quantize` in a type override for a type AdaRound does not support",
    "AdaRound (`ada_quantize`) is implemented for Conv2d, ConvTranspose2d and Linear only.",
    "override_layer_types {\n  layer_type: \"Conv1d\"\n"
    "  calibration_config { ada_quantize { } }\n}\n",
    "override_layer_types {\n  layer_type: \"Conv2d\"\n"
    "  calibration_config { ada_quantize { } }\n}\n",
    family=_C,
)

CHANNEL_WISE_UNSUPPORTED = rule(
    "C005", "channel-wise-unsupported", Severity.ERROR,
    "`channel_wise: true` in a type override for Linear or AvgPool2d",
    "Per-channel weight scales are not supported for Linear and AvgPool2d, and AMCT has no "
    "fallback: it fails with \"The channel_wise must be False for layer type Linear\".",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { arq_quantize { channel_wise: true } }\n}\n",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { arq_quantize { channel_wise: false } }\n}\n",
    family=_C,
)

DMQ_UNSUPPORTED = rule(
    "C006", "dmq-unsupported", Severity.ERROR,
    "`dmq_balancer` in a type override for a type the balancer does not support",
    "The DMQ balancer scales input channels of Linear, Conv1d, Conv2d, Conv3d, ConvTranspose1d "
    "and ConvTranspose2d; AvgPool2d, LSTM and GRU do not support it.",
    "override_layer_types {\n  layer_type: \"LSTM\"\n"
    "  calibration_config { dmq_balancer { } }\n}\n",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { dmq_balancer { } }\n}\n",
    family=_C,
)

ASYMMETRIC_UNSUPPORTED = rule(
    "C007", "asymmetric-unsupported", Severity.ERROR,
    "`asymmetric: true` in a type override for Conv3d",
    "Conv3d activations are always quantized symmetrically; an override that asks Conv3d for "
    "asymmetric activations cannot be honoured.",
    "override_layer_types {\n  layer_type: \"Conv3d\"\n"
    "  calibration_config { ifmr_quantize { asymmetric: true } }\n}\n",
    "override_layer_types {\n  layer_type: \"Conv3d\"\n"
    "  calibration_config { ifmr_quantize { asymmetric: false } }\n}\n",
    family=_C,
)

WEIGHTS_ON_WEIGHTLESS_TYPE = rule(
    "C008", "weights-on-weightless-type", Severity.WARNING,
    "a weight algorithm in a type override for AvgPool2d, which has no weights",
    "AvgPool2d layers get activation quantization only; an `arq_quantize` block in their type "
    "override has no effect.",
    "override_layer_types {\n  layer_type: \"AvgPool2d\"\n"
    "  calibration_config { arq_quantize { } ifmr_quantize { } }\n}\n",
    "override_layer_types {\n  layer_type: \"AvgPool2d\"\n"
    "  calibration_config { ifmr_quantize { } }\n}\n",
    family=_C,
)

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
