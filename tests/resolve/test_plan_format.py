"""The native plan JSON beyond the resolved values: the fused activation of each layer, and what a
hand-written plan may leave out."""

from __future__ import annotations

import pytest

from cfglang.plan import Plan, PlanError, parameter_defaults
from cfglang.schema import defaults_of

from .conftest import run

NET = [("conv1", "Conv2d"), ("bn1", "BatchNorm2d"), ("relu1", "ReLU"), ("conv2", "Conv2d"), ("relu2", "ReLU"),
       ("fc", "Linear")]
FOLDABLE = [("conv1", "bn1")]
ACTIVATIONS = [("conv1", "relu1", "ReLU"), ("conv2", "relu2", "ReLU")]


@pytest.mark.parametrize("cfg, conv1", [
    ("", "relu1"),  # the BatchNorm in between is folded: AdaRound reconstructs through the ReLU
    ("do_fusion: false\n", None),  # kept: the ReLU does not consume conv1's output
    ('skip_fusion_layers: "conv1"\n', None),
])
def test_each_layer_carries_its_fused_activation_only_through_a_folded_batchnorm(cfg: str, conv1: str | None) -> None:
    plan = run(cfg, NET, FOLDABLE, ACTIVATIONS).plan
    assert [(layer.name, layer.fused_activation) for layer in plan.layers] == [
        ("conv1", conv1), ("conv2", "relu2"), ("fc", None)]
    assert "fused_activation" not in plan.layer("fc").to_dict()  # written only when there is one


def test_a_skipped_layer_has_no_fused_activation() -> None:
    plan = run('skip_layers: "conv2"\n', NET, FOLDABLE, ACTIVATIONS).plan
    assert plan.layer("conv2").fused_activation is None


def test_parameter_defaults_are_the_config_schemas_as_the_resolver_writes_them() -> None:
    plan = run("common_config { ada_quantize {} hfmg_quantize {} dmq_balancer {} }\n", NET).plan
    conv = plan.layer("conv1")
    assert {key: getattr(conv.weight, key) for key in parameter_defaults("ada")} == parameter_defaults("ada")
    assert conv.activation.num_of_bins == parameter_defaults("hfmg")["num_of_bins"] == defaults_of("HFMGQuantize")[
        "num_of_bins"]
    assert conv.dmq_balancer.migration_strength == parameter_defaults("dmq_balancer")["migration_strength"]
    assert parameter_defaults("ifmr")["search_range_start"] == 0.7 and parameter_defaults("arq") == {}


def test_a_hand_written_plan_may_leave_out_algorithm_parameters() -> None:
    full = run("common_config { ada_quantize {} ifmr_quantize {} dmq_balancer {} }\n", NET).plan.to_dict()
    short = {**full, "layers": []}
    for layer in full["layers"]:
        weight = {key: layer["weight"][key] for key in ("algo", "bits", "channel_wise")}
        act = {key: layer["activation"][key] for key in ("algo", "bits", "asymmetric")}
        short["layers"].append({**layer, "weight": weight, "activation": act, "dmq_balancer": {}})
    assert Plan.from_dict(short).to_dict() == full


@pytest.mark.parametrize("change, message", [
    (lambda w, a: w.update(bits=5), r"`layers\[0\]\.weight\.bits`: found 5, expected one of 4, 6, 7, 8"),
    (lambda w, a: w.update(algo="ada", bits=4), r"`layers\[0\]\.weight\.bits`: found 4, expected one of 8"),
    (lambda w, a: w.update(algo="foo"), r"`layers\[0\]\.weight\.algo`: found \"foo\", expected one of \"arq\""),
    (lambda w, a: w.update(reg_param=0.1), r"`layers\[0\]\.weight`: found \"reg_param\", expected one of \"algo\""),
    (lambda w, a: a.update(bits=12), r"`layers\[0\]\.activation\.bits`: found 12, expected one of 8, 16"),
    (lambda w, a: a.update(num_of_bins=1024), r"`layers\[0\]\.activation`: found \"num_of_bins\""),
])
def test_a_bad_layer_block_is_named_by_its_key(change, message: str) -> None:
    data = run("", NET).plan.to_dict()
    change(data["layers"][0]["weight"], data["layers"][0]["activation"])
    with pytest.raises(PlanError, match=message):
        Plan.from_dict(data)
