"""quant.tune on the digits CNN: a bad setting is fixed by a setting, not a skip; the edit lints, formats
and matches the report's tune section; a metric target; a skip when settings are not tried."""

from __future__ import annotations

import pytest

import cfglang
from cfglang.formatter import format_text
from cfglang.lint import lint
from cfglang.report import apply_edits, load_report, text_sha256
from quant.analyze import UserMetric
from quant.tune import Goal, tune

from metrics_support import accuracy

pytestmark = pytest.mark.slow  # each test quantizes the CNN several times (10-50 s on 2 busy cores)


@pytest.fixture(scope="module")
def fixed(demo_case):
    return tune(demo_case.model, demo_case.bad, demo_case.inventory, demo_case.calib, Goal("cosine_min", 0.999),
                eval_batches=demo_case.evaluation, path="quant.cfg")


def test_the_bad_layer_gets_a_setting_not_a_skip(fixed):
    assert fixed.before["cosine_min"] < 0.5 and fixed.met and fixed.after["cosine_min"] >= 0.999
    assert [(s.candidate.layer, s.candidate.skip) for s in fixed.steps] == [("conv1", False)]
    assert "skip_layers" not in fixed.edited
    assert "# amct tune: lowest output cosine" in fixed.edited


def test_the_edit_lints_as_the_original_and_is_formatted(fixed, demo_case):
    codes = sorted(d.code for d in lint(fixed.edited).diagnostics)
    assert codes == sorted(d.code for d in lint(demo_case.bad).diagnostics)
    assert format_text(fixed.edited) == fixed.edited


def test_the_report_offers_the_same_edit(fixed, demo_case):
    report = load_report(fixed.report)
    assert report.tune.config_sha256 == text_sha256(demo_case.bad) == report.config_sha256
    assert apply_edits(demo_case.bad, report.tune.edits) == fixed.edited
    assert fixed.report["tune"]["met"] and fixed.report["tune"]["changes"][0]["kind"] == "setting"


def test_a_target_on_a_metric_drop(demo_case):
    outcome = tune(demo_case.model, demo_case.bad, demo_case.inventory, demo_case.calib, Goal("metric", 1.0, drop=True),
                   eval_batches=demo_case.labelled, metric=UserMetric("accuracy", accuracy), setting_layers=1)
    assert outcome.before["metric_float"] - outcome.before["metric"] > 5
    assert outcome.met and outcome.after["metric"] >= outcome.after["metric_float"] - 1.0
    assert outcome.goal.at_least == pytest.approx(outcome.before["metric_float"] - 1.0)


def test_without_settings_the_bad_layer_is_skipped(demo_case):
    outcome = tune(demo_case.model, demo_case.bad, demo_case.inventory, demo_case.calib, Goal("cosine_min", 0.999),
                   eval_batches=demo_case.evaluation, setting_layers=0)
    assert [(s.candidate.layer, s.candidate.skip) for s in outcome.steps] == [("conv1", True)]
    assert outcome.met and '# amct tune: lowest output cosine' in outcome.edited
    assert 'skip_layers: "conv1"' in outcome.edited and format_text(outcome.edited) == outcome.edited


def test_a_config_that_meets_the_target_is_left_alone(demo_case):
    outcome = tune(demo_case.model, demo_case.good, demo_case.inventory, demo_case.calib, Goal("cosine_min", 0.99),
                   eval_batches=demo_case.evaluation)
    assert outcome.met and outcome.steps == [] and outcome.edited == demo_case.good
    assert outcome.report["tune"]["changes"] == [] and outcome.quantizations == 1


def test_accepted_modules_are_swapped_in_and_the_edit_is_quantized_in_full_once(demo_case, monkeypatch):
    import quant.tune as tune_module

    plans = []
    real = tune_module.quantize

    def counting(model, plan, batches, **kwargs):
        plans.append(sum(layer.quantize for layer in plan.layers))
        return real(model, plan, batches, **kwargs)

    monkeypatch.setattr(tune_module, "quantize", counting)
    outcome = tune(demo_case.model, demo_case.bad, demo_case.inventory, demo_case.calib, Goal("cosine_min", 0.999),
                   eval_batches=demo_case.evaluation, setting_layers=0)
    # the config as written, then the verification of the edit: no full quantization per accepted step
    assert len(plans) == outcome.quantizations == 2 and plans[0] == plans[1] + 1
    # `after` is the edited file's own figures
    plan = cfglang.resolve(outcome.edited, demo_case.inventory)
    fresh = tune_module.Evaluator(tune_module.float_reference(demo_case.model, plan), demo_case.evaluation, None)
    assert fresh.figures(real(demo_case.model, plan, demo_case.calib, progress=False).model) == outcome.after


def test_a_swapped_model_that_misses_in_full_goes_on_from_the_full_quantization(demo_case, monkeypatch):
    """The swapped model's figures are made to lie: conv1's skip (the fix) looks useless and the next
    layer's skip looks enough; the verification shows the target missed, and the search goes on from the
    fully quantized model to skip conv1."""
    import quant.tune as tune_module

    real = tune_module._Search.with_module
    lied: list[str] = []

    def lying(self, result, name, module):
        figures = real(self, result, name, module)
        if len(lied) < 2 and name not in lied:
            lied.append(name)
            return dict(figures, cosine_min=0.0 if name == "conv1" else 1.0)
        return figures

    monkeypatch.setattr(tune_module._Search, "with_module", lying)
    outcome = tune(demo_case.model, demo_case.bad, demo_case.inventory, demo_case.calib, Goal("cosine_min", 0.999),
                   eval_batches=demo_case.evaluation, setting_layers=0)
    assert lied[0] == "conv1"  # the most sensitive layer, tried first
    assert [(s.candidate.layer, s.candidate.skip) for s in outcome.steps] == [(lied[1], True), ("conv1", True)]
    assert outcome.met and outcome.quantizations == 3  # the config, the first verification, the second

