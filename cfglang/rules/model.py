"""Model-aware rules (M): what only a config resolved against a model can show.

They run when a model or a layer inventory is given (``amct lint --layers``,
``amct plan``); :mod:`cfglang.modelcheck` finds them in a finished resolution.
"""

from __future__ import annotations

from cfglang.diagnostics import Severity
from cfglang.rules import rule

__all__ = [
    "UNKNOWN_LAYER",
    "NOT_QUANTIZABLE_LAYER",
    "UNUSED_LAYER_TYPE",
    "SKIPPED_AND_OVERRIDDEN",
    "NOTHING_TO_QUANTIZE",
    "NO_FOLDABLE_BN",
    "CAPABILITY_FALLBACK",
    "UNSUPPORTED_FOR_LAYER",
    "CHANNEL_WISE_REACHES",
    "OVERRIDE_DROPS_BALANCER",
    "OVERRIDE_DROPS_SETTING",
    "OVERRIDE_CHANGES_NOTHING",
    "ASYMMETRIC_PRECEDENCE",
    "GRAPH_UNKNOWN",
    "SKIP_FUSION_NOT_CONV",
    "OVERRIDE_NOT_QUANTIZABLE",
    "LAYER_NAMED_LIKE_GLOBAL",
    "INT4_NOT_PACKABLE",
    "INT16_TYPE_OVERRIDE_REFUSED",
    "LAYER_ATTRIBUTES_UNKNOWN",
]

_M = "model"

_LAYERS = "The examples assume a model with layers conv1 (Conv2d), bn1 (BatchNorm2d), relu1 (ReLU), conv2 (Conv2d) and fc (Linear)."

UNKNOWN_LAYER = rule(
    "M001", "unknown-layer", Severity.ERROR,
    "a layer name that is not a module of the model",
    "`skip_layers`, `skip_fusion_layers` and `override_layer_configs` name modules as "
    "`model.named_modules()` spells them (`layer1.0.conv1`). AMCT refuses a config with such a name: "
    "\"Layer ... does not exist in the graph.\" (`skip_layers`, `override_layer_configs`) and "
    "\"Layer \\\"...\\\" in skip_fusion_layers does not exist in the graph.\" (`skip_fusion_layers`). " + _LAYERS,
    "skip_layers: \"conv_1\"\n",
    "skip_layers: \"conv1\"\n",
    family=_M,
)

NOT_QUANTIZABLE_LAYER = rule(
    "M002", "not-quantizable-layer", Severity.ERROR,
    "`skip_layers` names a module AMCT does not quantize",
    "Only Conv1d/2d/3d, ConvTranspose1d/2d, Linear, AvgPool2d, LSTM and GRU layers are quantized. "
    "AMCT refuses a config that skips another module (\"Layer ... does not support quantization.\"); "
    "an `override_layer_configs` entry for one is M016. " + _LAYERS,
    "skip_layers: \"bn1\"\n",
    "skip_layers: \"conv1\"\n",
    family=_M,
)

UNUSED_LAYER_TYPE = rule(
    "M003", "unused-layer-type", Severity.WARNING,
    "an `override_layer_types` or `skip_layer_types` type that no layer of the model has",
    "The entry applies to no layer, so it does nothing for this model; it is often left over "
    "from another model or a wrong type. " + _LAYERS,
    "override_layer_types {\n  layer_type: \"Conv1d\"\n"
    "  calibration_config { arq_quantize { channel_wise: false } }\n}\n",
    "override_layer_types {\n  layer_type: \"Conv2d\"\n"
    "  calibration_config { arq_quantize { channel_wise: false } }\n}\n",
    family=_M,
)

SKIPPED_AND_OVERRIDDEN = rule(
    "M004", "skipped-and-overridden", Severity.WARNING,
    "a layer (or type) that is both skipped and overridden",
    "Skipping wins: a skipped layer is not quantized, so its override is never used. Remove one "
    "of the two. " + _LAYERS,
    "skip_layers: \"fc\"\noverride_layer_configs {\n  layer_name: \"fc\"\n"
    "  calibration_config { hfmg_quantize { } }\n}\n",
    "override_layer_configs {\n  layer_name: \"fc\"\n  calibration_config { hfmg_quantize { } }\n}\n",
    family=_M,
)

NOTHING_TO_QUANTIZE = rule(
    "M005", "nothing-to-quantize", Severity.ERROR,
    "every quantizable layer of the model is skipped, or the model has none",
    "With every layer skipped, quantization produces the float model unchanged, and AMCT refuses the "
    "config (\"Except skip_layers or skip_types, no layer need to quantize.\"); a model without any "
    "quantizable layer is refused too (\"No layer support quantization in the graph.\"). " + _LAYERS,
    "skip_layer_types: [\"Conv2d\", \"Linear\"]\n",
    "skip_layer_types: \"Linear\"\n",
    family=_M,
)

NO_FOLDABLE_BN = rule(
    "M006", "no-foldable-batchnorm", Severity.WARNING,
    "`skip_fusion_layers` names a layer that has no BatchNorm to fold",
    "Only a Conv1d/2d/3d whose output goes to a BatchNorm alone (and the BatchNorm reads nothing "
    "else) is folded, so listing a convolution without one changes nothing; AMCT accepts it. A layer "
    "of another type is an error (M015). " + _LAYERS,
    "skip_fusion_layers: \"conv2\"\n",
    "skip_fusion_layers: \"conv1\"\n",
    family=_M,
)

CAPABILITY_FALLBACK = rule(
    "M007", "capability-fallback", Severity.INFO,
    "a `common_config` value that some layer types of the model cannot use: they fall back",
    "`common_config` reaches every layer without an override. Where a value is impossible for a "
    "type (quant_bits 6/7 outside Conv2d, ada_quantize outside Conv2d/ConvTranspose2d/Linear, "
    "dmq_balancer on AvgPool2d/LSTM/GRU, asymmetric activations on Conv3d), AMCT quietly uses the "
    "fallback (8 bits, default ARQ, no balancing, symmetric). The diagnostic says how many layers of "
    "the model are affected. Under the `amct-9.x` targets INT16 activations also fall back to INT8 for a "
    "Linear without bias (the inventory's `bias`), from `common_config` and from a type override while "
    "`common_config` asks for INT16 too (otherwise M019). " + _LAYERS,
    "common_config { ada_quantize { } }\n",
    "common_config { ada_quantize { } }\noverride_layer_types {\n  layer_type: \"Conv1d\"\n"
    "  calibration_config { arq_quantize { } }\n}\n",
    family=_M,
)

UNSUPPORTED_FOR_LAYER = rule(
    "M008", "unsupported-for-layer", Severity.ERROR,
    "an `override_layer_configs` value that the layer's type cannot use",
    "An override that names a layer asks for something explicitly, so an impossible value for the "
    "layer's type (its target's capability table, which `amct explain TARGET` prints) is an error, not a "
    "fallback. Under the `amct-9.x` targets so is "
    "`dst_type: INT16` for a Linear without bias (the inventory's `bias`). " + _LAYERS,
    "override_layer_configs {\n  layer_name: \"fc\"\n"
    "  calibration_config { arq_quantize { quant_bits: 6 } }\n}\n",
    "override_layer_configs {\n  layer_name: \"conv1\"\n"
    "  calibration_config { arq_quantize { quant_bits: 6 } }\n}\n",
    family=_M,
)

CHANNEL_WISE_REACHES = rule(
    "M009", "channel-wise-reaches-unsupported", Severity.ERROR,
    "`channel_wise: true` reaches a Linear or AvgPool2d layer",
    "AMCT has no fallback for `channel_wise`: a Linear or AvgPool2d layer that gets "
    "`channel_wise: true` from any level, `common_config` included, fails with \"The channel_wise "
    "must be False for layer type Linear\". A `common_config` with `channel_wise: true` therefore "
    "needs an `override_layer_types` entry for each such type in the model. " + _LAYERS,
    "common_config { arq_quantize { channel_wise: true } }\n",
    "common_config { arq_quantize { channel_wise: true } }\noverride_layer_types {\n"
    "  layer_type: \"Linear\"\n  calibration_config { arq_quantize { channel_wise: false } }\n}\n",
    family=_M,
)

OVERRIDE_DROPS_BALANCER = rule(
    "M010", "override-drops-balancer", Severity.WARNING,
    "an override silently drops the `dmq_balancer` of `common_config`",
    "Overrides replace `common_config`, they do not merge with it: a layer whose override has no "
    "`dmq_balancer` is not balanced, even though `common_config` asks for balancing. " + _LAYERS,
    "common_config { dmq_balancer { } }\noverride_layer_configs {\n  layer_name: \"fc\"\n"
    "  calibration_config { hfmg_quantize { } }\n}\n",
    "common_config { dmq_balancer { } }\noverride_layer_configs {\n  layer_name: \"fc\"\n"
    "  calibration_config { hfmg_quantize { } dmq_balancer { } }\n}\n",
    family=_M,
)

OVERRIDE_DROPS_SETTING = rule(
    "M011", "override-drops-setting", Severity.WARNING,
    "an override silently drops weight or activation settings of `common_config`",
    "Overrides replace, they do not merge: fields the override leaves unset take the built-in "
    "defaults, never the values of `common_config` (the one exception is `asymmetric`, which "
    "carries over when both use the same activation algorithm). " + _LAYERS,
    "common_config { ifmr_quantize { search_range_start: 0.8 } }\noverride_layer_configs {\n"
    "  layer_name: \"fc\"\n  calibration_config { arq_quantize { quant_bits: 8 } }\n}\n",
    "common_config { ifmr_quantize { search_range_start: 0.8 } }\noverride_layer_configs {\n"
    "  layer_name: \"fc\"\n  calibration_config {\n    arq_quantize { quant_bits: 8 }\n"
    "    ifmr_quantize { search_range_start: 0.8 }\n  }\n}\n",
    family=_M,
)

OVERRIDE_CHANGES_NOTHING = rule(
    "M012", "override-changes-nothing", Severity.WARNING,
    "an override whose layers resolve exactly as they would without it",
    "Every layer the entry applies to gets the same weight, activation and balancer settings "
    "from the next level down (a type override or `common_config`), so the entry can be "
    "deleted. " + _LAYERS,
    "common_config { hfmg_quantize { } }\noverride_layer_configs {\n  layer_name: \"fc\"\n"
    "  calibration_config { hfmg_quantize { num_of_bins: 4096 } }\n}\n",
    "common_config { hfmg_quantize { } }\n",
    family=_M,
)

ASYMMETRIC_PRECEDENCE = rule(
    "M013", "asymmetric-precedence", Severity.WARNING,
    "an `asymmetric` that the documented precedence applies to a layer, while AMCT does not",
    "AMCT's documentation gives `asymmetric` the precedence override_layer_configs > "
    "override_layer_types > common_config > activation_offset. AMCT's code takes the value of the "
    "layer's own source, else `common_config`'s only when it uses the same activation algorithm, "
    "else `activation_offset`. So a type override's `asymmetric` never reaches a layer with its own "
    "`override_layer_configs` entry, and `common_config`'s never reaches a layer whose source chose "
    "the other algorithm. We follow the code and warn where the two readings differ. " + _LAYERS,
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { ifmr_quantize { asymmetric: false } }\n}\noverride_layer_configs {\n"
    "  layer_name: \"fc\"\n  calibration_config { ifmr_quantize { search_step: 0.02 } }\n}\n",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { ifmr_quantize { asymmetric: false } }\n}\noverride_layer_configs {\n"
    "  layer_name: \"fc\"\n  calibration_config { ifmr_quantize { search_step: 0.02 asymmetric: false } }\n}\n",
    family=_M,
)

GRAPH_UNKNOWN = rule(
    "M014", "graph-unknown", Severity.INFO,
    "the model's graph is unknown, so no Conv+BatchNorm pairs are planned for folding",
    "The inventory came from a model that could not be traced (`\"traced\": false`): layer names and "
    "types are known, but not which BatchNorm follows which convolution. The plan folds nothing; "
    "`skip_fusion_layers` cannot be checked.",
    "do_fusion: true\n",
    "do_fusion: false\n",
    family=_M,
)

SKIP_FUSION_NOT_CONV = rule(
    "M015", "skip-fusion-not-conv", Severity.ERROR,
    "`skip_fusion_layers` names a layer that is not a convolution AMCT fuses",
    "AMCT's `SkipFusionLayersField` refuses a layer whose type is not in its `FUSE_TYPES` (Conv1d, "
    "Conv2d, Conv3d): \"Skip fusion layer \\\"...\\\"'s type not in supported list\". " + _LAYERS,
    "skip_fusion_layers: \"fc\"\n",
    "skip_fusion_layers: \"conv1\"\n",
    family=_M,
)

OVERRIDE_NOT_QUANTIZABLE = rule(
    "M016", "override-not-quantizable", Severity.WARNING,
    "an `override_layer_configs` entry for a module AMCT does not quantize",
    "AMCT accepts an override for any module of the model, but uses it only for a quantizable layer: "
    "the entry for a BatchNorm or an activation changes nothing. AMCT still checks its per-layer "
    "values, and refuses `channel_wise: true`, `dmq_balancer`, `ada_quantize`, INT16 or 6/7 bits in it: "
    "such an entry is M008, an error, instead. " + _LAYERS,
    "override_layer_configs {\n  layer_name: \"bn1\"\n  calibration_config { ifmr_quantize { } }\n}\n",
    "override_layer_configs {\n  layer_name: \"conv1\"\n  calibration_config { ifmr_quantize { } }\n}\n",
    family=_M,
)

LAYER_NAMED_LIKE_GLOBAL = rule(
    "M017", "layer-named-like-global", Severity.ERROR,
    "a quantizable layer whose name is one of the config's global keys",
    "AMCT's config JSON (what its `create_quant_config` writes) keeps one key per layer beside the global keys `version`, "
    "`batch_num`, `activation_offset`, `do_fusion`, `skip_fusion_layers` and `fakequant_precision_mode`; "
    "it refuses a model with a quantizable layer of such a name (\"... is a global parameter, can not be "
    "a layer name\"). Rename the module. The error is reported at the top of the file.",
    "# the model: conv1 (Conv2d), batch_num (Linear)\nbatch_num: 1\n",
    "# the model: conv1 (Conv2d), fc (Linear)\nbatch_num: 1\n",
    family=_M,
)

INT4_NOT_PACKABLE = rule(
    "M018", "int4-not-packable", Severity.WARNING,
    "4-bit weights that AMCT cannot pack along the input channels: the layer gets 8 bits",
    "From commit ddf58b1 (target `amct-9.2`) AMCT stores INT4 weights two per byte along the input "
    "channels. Its `check_int4_weight_quant_axis` gives 8-bit weights, with the warning \"Layer ... "
    "weight cannot be INT4-packed along Cin (grouped conv or odd Cin), downgraded to INT8 (A8W8)\", to a "
    "layer that asks for `quant_bits: 4` from any level (`common_config`, a type override or its own "
    "override) and is a grouped convolution (`groups` > 1, depthwise included) or has an odd number of "
    "input channels (Conv/ConvTranspose `in_channels`, Linear `in_features`; an LSTM/GRU's `input_size` "
    "or `hidden_size`). The check needs the layer inventory's `groups`, `in_channels` and `hidden_size`, "
    "which `amct layers` records; a layer without them keeps 4 bits (M020 says which). Under `amct-9.1` "
    "such layers keep 4 bits. The examples assume a model whose `dw` is a depthwise Conv2d (32 channels, `groups: 32`).",
    "common_config { arq_quantize { quant_bits: 4 } }\n",
    "common_config { arq_quantize { quant_bits: 4 } }\noverride_layer_configs {\n  layer_name: \"dw\"\n"
    "  calibration_config { arq_quantize { quant_bits: 8 } }\n}\n",
    family=_M,
    target="amct-9.2",
)

INT16_TYPE_OVERRIDE_REFUSED = rule(
    "M019", "int16-type-override-refused", Severity.ERROR,
    "INT16 activations from a type override reach a layer that cannot take them",
    "AMCT's INT16 table lists Linear, but its `check_int16_quantize_type` refuses a Linear without "
    "bias (exported as MatMul, which the table leaves out). INT16 from `common_config` falls back to INT8 "
    "for such a layer (M007), and so does INT16 from a type override while `common_config` asks for "
    "INT16 too; INT16 in the layer's own override is refused (M008). INT16 from the `Linear` type "
    "override with `common_config` at INT8 passes the config reading, and `quantize_model` then refuses "
    "the layer (`parse_config_file`: \"current layer ... does not support int16 quant.\"). The check "
    "needs the layer inventory's `bias`, which `amct layers` records. The examples assume a model whose "
    "`head` is a Linear without bias.",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { ifmr_quantize { dst_type: INT16 } }\n}\n",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { ifmr_quantize { dst_type: INT16 } }\n}\noverride_layer_configs {\n"
    "  layer_name: \"head\"\n  calibration_config { ifmr_quantize { } }\n}\n",
    family=_M,
    target="amct-9.1",
)

LAYER_ATTRIBUTES_UNKNOWN = rule(
    "M020", "layer-attributes-unknown", Severity.INFO,
    "the layer inventory does not record the attributes a target's width rules read",
    "M018 (INT4 packing, target `amct-9.2`) and the INT16-without-bias rule of M007/M008/M019 (targets "
    "`amct-9.x`) read a layer's `groups`, `in_channels`, `hidden_size` and `bias`. An inventory written "
    "before `amct layers` recorded them, or by hand, leaves them out; such a layer keeps the width the "
    "config asks for in the plan, while AMCT may give it 8 bits or refuse it. This note says which layers "
    "were not judged, so that a clean lint is not taken for a check that did not run. The examples assume "
    "a model whose `dw` is a Conv2d listed without its attributes.",
    "common_config { arq_quantize { quant_bits: 4 } }\n",
    "common_config { arq_quantize { quant_bits: 4 } }\n# with an inventory from `amct layers`, "
    "which records `groups` and `in_channels`\n",
    family=_M,
    target="amct-9.2",
)
