"""A table of resolution cases: at least one per rule of docs/semantics.md.

Each case is a config, a small inventory, the values some layers must get
(``layer.key`` -> value, keys as in the plan's provenance), the level each
must come from, and the exact codes resolution reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from .conftest import run

NET = [("conv1", "Conv2d"), ("bn1", "BatchNorm2d"), ("relu1", "ReLU"), ("conv2", "Conv2d"), ("fc", "Linear")]
FOLD = [("conv1", "bn1")]
WIDE = [("c1", "Conv1d"), ("c3", "Conv3d"), ("t2", "ConvTranspose2d"), ("lstm", "LSTM"), ("pool", "AvgPool2d"),
        ("fc", "Linear"), ("conv", "Conv2d")]


@dataclass
class Case:
    id: str
    cfg: str
    values: dict[str, object]  # "layer.key" -> value (None: block absent)
    sources: dict[str, str] = field(default_factory=dict)  # "layer.key" -> provenance level
    codes: list[str] = field(default_factory=list)  # resolution diagnostics, sorted
    layers: list = field(default_factory=lambda: NET)
    foldable: list = field(default_factory=lambda: FOLD)


CASES = [
    Case("defaults", "", {
        "conv1.weight.algo": "arq", "conv1.weight.bits": 8, "conv1.weight.channel_wise": True,
        "fc.weight.channel_wise": False, "conv1.activation.algo": "ifmr", "conv1.activation.asymmetric": True,
        "conv1.activation.search_range_start": 0.7, "conv1.activation.max_percentile": 0.999999,
        "conv1.dmq_balancer": None,
    }, {"conv1.weight.bits": "default", "conv1.activation.asymmetric": "default"}),
    Case("precedence-layer-type-common", """
common_config { hfmg_quantize { num_of_bins: 2048 } }
override_layer_types { layer_type: "Conv2d" calibration_config { ifmr_quantize { search_step: 0.02 } } }
override_layer_configs { layer_name: "conv2" calibration_config { arq_quantize { quant_bits: 6 } } }
""", {"fc.activation.algo": "hfmg", "fc.activation.num_of_bins": 2048, "conv1.activation.search_step": 0.02,
      "conv2.weight.bits": 6, "conv2.activation.algo": "ifmr", "conv2.activation.search_step": 0.01},
        {"fc.activation.num_of_bins": "common_config", "conv1.activation.search_step": "override_layer_types",
         "conv2.weight.bits": "override_layer_configs", "conv2.activation.search_step": "default"},
        ["M011"]),
    Case("replacement-not-merging", """
common_config {
  arq_quantize { channel_wise: false }
  ifmr_quantize { search_range_start: 0.8 }
  dmq_balancer { migration_strength: 0.3 }
}
override_layer_configs { layer_name: "conv1" calibration_config { arq_quantize { quant_bits: 7 } } }
""", {"conv1.weight.channel_wise": True, "conv1.activation.search_range_start": 0.7, "conv1.dmq_balancer": None,
      "conv2.weight.channel_wise": False, "conv2.activation.search_range_start": 0.8,
      "conv2.dmq_balancer.migration_strength": 0.3},
        {"conv1.weight.channel_wise": "default", "conv2.dmq_balancer.migration_strength": "common_config"},
        ["M010", "M011"]),
    Case("asymmetric-from-own-source", """
activation_offset: true
override_layer_configs { layer_name: "fc" calibration_config { hfmg_quantize { asymmetric: false } } }
""", {"fc.activation.asymmetric": False, "conv1.activation.asymmetric": True},
        {"fc.activation.asymmetric": "override_layer_configs", "conv1.activation.asymmetric": "activation_offset"}),
    Case("asymmetric-from-common-same-algo", """
common_config { ifmr_quantize { asymmetric: false } }
override_layer_configs { layer_name: "fc" calibration_config { ifmr_quantize { search_step: 0.02 } } }
""", {"fc.activation.asymmetric": False}, {"fc.activation.asymmetric": "common_config"}),
    Case("asymmetric-common-other-algo-does-not-reach", """
common_config { ifmr_quantize { asymmetric: false } }
override_layer_configs { layer_name: "fc" calibration_config { hfmg_quantize { num_of_bins: 1024 } } }
""", {"fc.activation.asymmetric": True, "conv1.activation.asymmetric": False},
        {"fc.activation.asymmetric": "default"}, ["M013"]),
    Case("asymmetric-common-reaches-override-without-block", """
common_config { ifmr_quantize { asymmetric: false } }
override_layer_configs { layer_name: "fc" calibration_config { dmq_balancer { } } }
""", {"fc.activation.asymmetric": False}, {"fc.activation.asymmetric": "common_config"}),
    Case("asymmetric-from-activation-offset", """
activation_offset: false
common_config { hfmg_quantize { } }
""", {"conv1.activation.asymmetric": False}, {"conv1.activation.asymmetric": "activation_offset"}),
    Case("asymmetric-type-override-blocked-by-layer-override", """
override_layer_types { layer_type: "Linear" calibration_config { ifmr_quantize { asymmetric: false } } }
override_layer_configs { layer_name: "fc" calibration_config { ifmr_quantize { search_step: 0.02 } } }
""", {"fc.activation.asymmetric": True}, {"fc.activation.asymmetric": "default"}, ["M013"]),
    Case("fallback-quant-bits", """
common_config { arq_quantize { quant_bits: 7 } }
""", {"conv1.weight.bits": 7, "fc.weight.bits": 8}, {"fc.weight.bits": "fallback", "conv1.weight.bits": "common_config"},
        []),  # the checker's C003 reports this fallback at the same place (no model needed)
    Case("fallback-ada", "common_config { ada_quantize { num_iteration: 100 } }\n",
         {"c1.weight.algo": "arq", "t2.weight.algo": "ada", "t2.weight.num_iteration": 100, "fc.weight.algo": "ada"},
         {"c1.weight.algo": "fallback", "t2.weight.num_iteration": "common_config"}, ["M007"] * 3, WIDE, []),
    Case("fallback-dmq", "common_config { dmq_balancer { } }\n",
         {"lstm.dmq_balancer": None, "pool.dmq_balancer": None, "fc.dmq_balancer.migration_strength": 0.5},
         {"lstm.dmq_balancer": "fallback", "fc.dmq_balancer.migration_strength": "default"},
         ["M007", "M007"], WIDE, []),
    Case("fallback-asymmetric-conv3d", "common_config { ifmr_quantize { asymmetric: true } }\n",
         {"c3.activation.asymmetric": False, "c1.activation.asymmetric": True},
         {"c3.activation.asymmetric": "fallback"}, ["M007"], WIDE, []),
    Case("conv3d-default-offset-is-silent", "", {"c3.activation.asymmetric": False},
         {"c3.activation.asymmetric": "fallback"}, [], WIDE, []),
    Case("error-low-bits-on-linear-layer", """
override_layer_configs { layer_name: "fc" calibration_config { arq_quantize { quant_bits: 6 } } }
""", {"fc.weight.bits": 8}, {"fc.weight.bits": "fallback"}, ["M008"]),
    Case("error-ada-on-conv1d-layer", """
override_layer_configs { layer_name: "c1" calibration_config { ada_quantize { } } }
""", {"c1.weight.algo": "arq"}, {}, ["M008"], WIDE, []),
    Case("error-dmq-on-lstm-layer", """
override_layer_configs { layer_name: "lstm" calibration_config { dmq_balancer { } } }
""", {"lstm.dmq_balancer": None}, {}, ["M008"], WIDE, []),
    Case("error-asymmetric-on-conv3d-layer", """
override_layer_configs { layer_name: "c3" calibration_config { ifmr_quantize { asymmetric: true } } }
""", {"c3.activation.asymmetric": False}, {}, ["M008"], WIDE, []),
    Case("channel-wise-common-reaches-linear", "common_config { arq_quantize { channel_wise: true } }\n",
         {"fc.weight.channel_wise": False, "conv1.weight.channel_wise": True}, {"fc.weight.channel_wise": "fallback"},
         ["M009"]),
    Case("channel-wise-common-fixed-by-type-override", """
common_config { arq_quantize { channel_wise: true } }
override_layer_types { layer_type: "Linear" calibration_config { arq_quantize { channel_wise: false } } }
""", {"fc.weight.channel_wise": False}, {"fc.weight.channel_wise": "override_layer_types"}, []),
    Case("channel-wise-layer-override", """
override_layer_configs { layer_name: "fc" calibration_config { arq_quantize { channel_wise: true } } }
""", {"fc.weight.channel_wise": False}, {}, ["M009"]),
    Case("skip-by-name", 'skip_layers: "conv2"\n', {"conv2.quantize": False, "conv2.weight": None,
                                                    "conv1.quantize": True}),
    Case("skip-by-type", 'skip_layer_types: "Conv2d"\n', {"conv1.quantize": False, "conv2.quantize": False,
                                                         "fc.quantize": True}),
    Case("skip-wins-over-override", """
skip_layers: "fc"
override_layer_configs { layer_name: "fc" calibration_config { hfmg_quantize { } } }
""", {"fc.quantize": False, "fc.activation": None}, {}, ["M004"]),
    Case("all-skipped", 'skip_layer_types: ["Conv2d", "Linear"]\n', {"fc.quantize": False}, {}, ["M005"]),
    Case("unknown-layer", 'skip_layers: "conv_2"\n', {"conv2.quantize": True}, {}, ["M001"]),
    Case("not-quantizable-layer", 'skip_layers: "bn1"\n', {}, {}, ["M002"]),
    Case("unused-type", """
override_layer_types { layer_type: "LSTM" calibration_config { arq_quantize { } } }
""", {}, {}, ["M003"]),
    Case("override-changes-nothing", """
common_config { hfmg_quantize { } }
override_layer_configs { layer_name: "fc" calibration_config { hfmg_quantize { num_of_bins: 4096 } } }
""", {"fc.activation.num_of_bins": 4096}, {"fc.activation.num_of_bins": "override_layer_configs"}, ["M012"]),
    Case("skip-fusion-without-bn", 'skip_fusion_layers: "conv2"\n', {}, {}, ["M006"]),
    Case("skip-fusion-not-conv", 'skip_fusion_layers: "fc"\n', {}, {}, ["M015"]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_resolution_case(case: Case) -> None:
    result = run(case.cfg, case.layers, case.foldable)
    for key, expected in case.values.items():
        name, _, rest = key.partition(".")
        layer = result.layer(name)
        got = getattr(layer, rest) if rest == "quantize" else layer.value(rest)
        assert got == expected, (key, got)
    for key, level in case.sources.items():
        name, _, rest = key.partition(".")
        assert result.layer(name).provenance[rest].source == level, (key, result.layer(name).provenance[rest])
    assert sorted(d.code for d in result.plan.diagnostics) == case.codes, [
        (d.code, d.message) for d in result.plan.diagnostics]


def test_every_rule_has_a_case() -> None:
    covered = {code for case in CASES for code in case.codes}
    assert {"M001", "M002", "M003", "M004", "M005", "M006", "M007", "M008", "M009", "M010", "M011", "M012",
            "M013", "M015"} <= covered


# fusion and globals (docs/semantics.md) ---------------------------------------

FUSE = [("conv1", "Conv2d"), ("bn1", "BatchNorm2d"), ("conv2", "Conv2d"), ("bn2", "BatchNorm2d")]


@pytest.mark.parametrize("cfg, expected", [
    ("", [("conv1", "bn1"), ("conv2", "bn2")]),
    ("do_fusion: false\n", []),
    ('skip_fusion_layers: "conv2"\n', [("conv1", "bn1")]),
])
def test_fusion_pairs(cfg: str, expected: list) -> None:
    plan = run(cfg, FUSE, [("conv1", "bn1"), ("conv2", "bn2")]).plan
    assert [(f.conv, f.bn) for f in plan.fusions] == expected
    assert [layer.name for layer in plan.layers] == ["conv1", "conv2"]  # the conv keeps its name


def test_untraced_inventory_plans_no_fusion_and_says_so() -> None:
    result = run("", FUSE, traced=False)
    assert result.plan.fusions == ()
    assert [d.code for d in result.plan.diagnostics] == ["M014"]


def test_globals_travel_with_the_plan() -> None:
    plan = run("batch_num: 4\nfakequant_precision_mode: FORCE_FP16_QUANT\ndo_fusion: false\n", NET).plan
    assert (plan.batch_num, plan.fakequant_precision_mode, plan.do_fusion) == (4, "FORCE_FP16_QUANT", False)
    assert run("", NET).plan.fakequant_precision_mode is None


# provenance lines ------------------------------------------------------------


def test_provenance_points_at_the_line_and_column_of_the_value() -> None:
    text = ("common_config {\n"
            "  arq_quantize {\n"
            "    quant_bits: 7\n"
            "  }\n"
            "}\n"
            "skip_layers: \"fc\"\n")
    result = run(text, NET)
    conv = result.layer("conv1")
    assert (conv.provenance["weight.bits"].line, conv.provenance["weight.bits"].column) == (3, 17)
    assert (conv.provenance["weight.algo"].line, conv.provenance["weight.algo"].column) == (2, 3)
    assert conv.provenance["weight.channel_wise"].line is None
    fc = result.layer("fc")
    assert (fc.skip.reason, fc.skip.line, fc.skip.column) == ("skip_layers", 6, 14)


def test_diagnostics_point_into_the_file() -> None:
    text = 'batch_num: 1\nskip_layers: "conv_1"\n'
    d = run(text, NET).diag("M001")
    assert (d.span.line, d.span.column, d.span.end_column) == (2, 14, 22)
    assert d.hint == "did you mean `conv1`?"


def test_channel_wise_error_names_the_entry_to_add() -> None:
    d = run("common_config { arq_quantize { channel_wise: true } }\n", NET).diag("M009")
    assert "`Linear`" in d.message and "`fc`" in d.message
    assert 'override_layer_types { layer_type: "Linear"' in d.hint
