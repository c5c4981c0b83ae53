"""quant.analyze: the figures of a bad layer, the forward count, user metrics and their failures."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import cfglang
import quant
from cfglang.report import load_report
from quant.analyze import AnalyzeError, UserMetric, analyze

from metrics_support import accuracy


@pytest.fixture(scope="module")
def bad_report(demo_case):
    plan = cfglang.resolve(demo_case.bad, demo_case.inventory)
    return analyze(demo_case.model, plan, demo_case.calib, demo_case.evaluation, config_text=demo_case.bad)


def test_the_report_is_valid_and_ranks_the_bad_layer_first(bad_report, demo_case):
    report = load_report(bad_report)
    assert report.samples == 500 and len(report.layers) == 6
    worst = min(bad_report["layers"], key=lambda r: r["isolated_cosine_min"])
    assert worst["name"] == "conv1"
    conv1 = bad_report["layers"][0]
    # the narrow range clips a large share of the input, whose maximum is far beyond the range
    assert conv1["clipped_share"] > 0.1 and conv1["observed_max"] > 2 * conv1["clip_max"]
    assert conv1["output_cosine"] < 0.9 and conv1["cumulative_cosine"] < 0.9
    assert all(r["clipped_share"] < 0.01 for r in bad_report["layers"][1:])
    # downstream layers are fine alone, and poor in the fully quantized model (their input is conv1's)
    conv2 = bad_report["layers"][1]
    assert conv2["output_cosine"] > 0.999 and conv2["isolated_cosine_mean"] > 0.999
    assert conv2["cumulative_cosine"] < 0.9
    assert bad_report["figures"]["cosine_min"] < 0.5
    hist = conv1["histogram"]
    assert sum(hist["counts"]) == 500 * 64 and hist["edges"][0] <= conv1["observed_min"]


def test_the_good_config_is_close_to_float(demo_case):
    plan = cfglang.resolve(demo_case.good, demo_case.inventory)
    report = analyze(demo_case.model, plan, demo_case.calib, demo_case.evaluation)
    assert report["figures"]["cosine_min"] > 0.999
    assert all(r["weight_sqnr_db"] is None or r["weight_sqnr_db"] > 30 for r in report["layers"])
    load_report(report)


CALLS = [0]


class Counted(nn.Module):
    """A small MLP that counts its forwards (in a global: the analysis works on copies of it)."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(depth)])

    def forward(self, x):
        CALLS[0] += 1
        return self.body(x)


@pytest.mark.parametrize("depth", [2, 5])
def test_the_analysis_takes_l_plus_2_forwards_per_evaluation_batch(depth):
    torch.manual_seed(0)
    model = Counted(8, depth).eval()
    plan = cfglang.resolve("batch_num: 2", quant.model_inventory(model))
    calib = [torch.randn(4, 8) for _ in range(2)]
    evaluation = [torch.randn(4, 8) for _ in range(3)]
    result = quant.quantize(model, plan, calib, progress=False)
    CALLS[0] = 0
    report = analyze(model, plan, calib, evaluation, result=result)
    assert len(report["layers"]) == depth
    assert CALLS[0] == (depth + 2) * len(evaluation)


def test_a_user_metric_is_averaged_over_the_batches(demo_case):
    plan = cfglang.resolve(demo_case.good, demo_case.inventory)
    report = analyze(demo_case.model, plan, demo_case.calib, demo_case.labelled, UserMetric("accuracy", accuracy))
    with torch.no_grad():
        logits = demo_case.model(torch.cat([b["x"] for b in demo_case.labelled]))
    labels = torch.cat([b["labels"] for b in demo_case.labelled])
    assert report["figures"]["metric_float"] == pytest.approx(float((logits.argmax(1) == labels).float().mean()) * 100)
    assert report["figures"]["metric"] > 90 and report["metric"] == {"name": "accuracy", "user": True,
                                                                      "higher_is_better": True}
    assert all(r["isolated_metric"] is not None for r in report["layers"])
    load_report(report)


@pytest.mark.parametrize("fn, message", [
    (lambda outputs, batch: 1 / 0, "the metric `m` raised on evaluation batch 0: ZeroDivisionError: division by zero"),
    (lambda outputs, batch: "high", "the metric `m` returned `'high'` on evaluation batch 0, expected a finite number"),
    (lambda outputs, batch: float("nan"), "returned `nan` on evaluation batch 0"),
])
def test_a_failing_metric_is_one_clear_error(demo_case, fn, message):
    plan = cfglang.resolve(demo_case.good, demo_case.inventory)
    with pytest.raises(AnalyzeError, match=re.escape(message)):
        analyze(demo_case.model, plan, demo_case.calib, demo_case.evaluation, UserMetric("m", fn))


def test_no_evaluation_batch_is_an_error(demo_case):
    plan = cfglang.resolve(demo_case.good, demo_case.inventory)
    with pytest.raises(AnalyzeError, match="no evaluation batch"):
        analyze(demo_case.model, plan, demo_case.calib, [])
