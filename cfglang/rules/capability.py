"""Capability rules (C): what each layer type supports (SPEC section 5), where no model is needed.

An `override_layer_types` entry names its type, so an impossible value there is
an error at that value. `common_config` reaches every type; where AMCT falls
back quietly, an info says so.
"""

from __future__ import annotations

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
]

_C = "capability"

NOT_QUANTIZABLE_TYPE = rule(
    "C001", "not-quantizable-type", Severity.ERROR,
    "a layer type that AMCT cannot quantize",
    "`override_layer_types` and `skip_layer_types` name PyTorch classes (`type(module).__name__`); "
    "AMCT quantizes Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, Linear, AvgPool2d, "
    "LSTM and GRU. Names are case-sensitive; any other name never matches a quantizable layer, "
    "which usually hides a typo. AMCT's documentation samples use the placeholder `\"Optype\"`, "
    "which must be replaced with a real type.",
    "skip_layer_types: \"conv2d\"\n",
    "skip_layer_types: \"Conv2d\"\n",
    family=_C,
)

QUANT_BITS_UNSUPPORTED = rule(
    "C002", "quant-bits-unsupported", Severity.ERROR,
    "`quant_bits` 6 or 7 in a type override for a type other than Conv2d",
    "INT6 and INT7 weights are supported for Conv2d only. An `override_layer_types` entry that "
    "asks for them for another type cannot be honoured.",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { arq_quantize { quant_bits: 6 } }\n}\n",
    "override_layer_types {\n  layer_type: \"Conv2d\"\n"
    "  calibration_config { arq_quantize { quant_bits: 6 } }\n}\n",
    family=_C,
)

QUANT_BITS_FALLBACK = rule(
    "C003", "quant-bits-fallback", Severity.INFO,
    "`quant_bits` 6 or 7 in `common_config`: types other than Conv2d use 8 bits",
    "`common_config` applies to every layer without an override. INT6/INT7 weights exist for "
    "Conv2d only, so Linear, ConvTranspose and the other types quietly fall back to 8 bits.",
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
