"""analyze and tune on transformers: a small Llama (random weights, fixed seed) and the real MiniLM."""

from __future__ import annotations

import warnings

import pytest

import cfglang
import quant
from cfglang.report import load_report
from quant.analyze import analyze
from quant.tune import Goal, tune

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow  # 10-60 s each on 2 busy cores


def inventory(model, batch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # transformers models are traced with torch.export
        return quant.model_inventory(model, example=batch)


def test_a_llama_decoder_is_analyzed_and_tuned():
    from engine.zoo.architectures import architecture

    model, batches = architecture("llama")()
    inv = inventory(model, batches[0])
    text = "batch_num: 2\n"
    report = analyze(model, cfglang.resolve(text, inv), batches, config_text=text)
    load_report(report)
    assert len(report["layers"]) == 15 and report["samples"] == 4
    assert all(0.99 < r["cumulative_cosine"] <= 1 and r["histogram"] for r in report["layers"])
    before = report["figures"]["cosine_min"]
    goal = Goal("cosine_min", before + (1 - before) / 2)
    outcome = tune(model, text, inv, batches, goal, setting_layers=0)
    assert outcome.met and outcome.steps and all(s.candidate.skip for s in outcome.steps)
    plan = cfglang.resolve(outcome.edited, inv)
    assert {l.name for l in plan.layers if not l.quantize} == {s.candidate.layer for s in outcome.steps}


def test_minilm_ranks_an_ffn_down_projection_first():
    from pooled import batches, minilm_embedder, minilm_support

    model = minilm_embedder()
    calib = batches("calib", 8)
    evaluation = batches("eval", 24)[:1]
    inv = inventory(model, calib[0])
    text = (minilm_support.ROOT / "examples" / "minilm.cfg").read_text(encoding="utf-8")
    report = analyze(model, cfglang.resolve(text, inv), calib, evaluation, config_text=text)
    load_report(report)
    worst = sorted(report["layers"], key=lambda r: r["isolated_cosine_min"])
    assert worst[0]["name"].endswith(".output.dense") and ".attention." not in worst[0]["name"]
    assert report["figures"]["cosine_min"] < 0.99
