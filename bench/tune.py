"""``amct tune`` against a brute-force greedy search, and the cost of ``amct analyze`` at two model sizes.

    python bench/tune.py minilm [--brute-minutes 45] [--threads 2]
    python bench/tune.py scaling [--threads 2]

``minilm``: all-MiniLM-L6-v2 (mean-pooled sentence embeddings), W8A8 under AMCT's rules
(``examples/minilm.cfg``), calibrated on the 32 calibration sentences (4 batches of 8) and measured on
the first 48 held-out sentences (2 batches of 24). Prints the figures of the config as written, of the
hand-made ``examples/minilm_skip.cfg`` (the six FFN down projections in float), of
``quant.tune.tune(..., Goal("cosine_min", 0.99))``, and of a brute-force greedy search that quantizes the
whole model for every candidate (each layer in float, each remaining layer once per step) and keeps the
best, step after step, until the target is met or ``--brute-minutes`` have passed.

``scaling``: ``quant.analyze`` on an MLP of 8 and of 16 quantized layers (same width and data): model
forwards counted (calibration excluded) and seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "analyze"))

import cfglang  # noqa: E402
import quant  # noqa: E402
from cfglang.edit import apply_edits, layer_edits  # noqa: E402
from quant.analyze import Evaluator, analyze, float_reference  # noqa: E402
from quant.tune import Candidate, Goal, tune  # noqa: E402


def _row(label: str, figures: dict, floats: int, cost: str) -> str:
    return f"| {label} | {floats} | {figures['cosine_mean']:.4f} | {figures['cosine_min']:.4f} | {cost} |"


def brute_force(model: nn.Module, text: str, inventory, calib, evaluator: Evaluator, goal: Goal,
                minutes: float) -> tuple[list[str], dict, int, float, bool]:
    """Greedy: per step, every remaining layer in float, each with a full quantization; the best is kept."""
    started = time.perf_counter()
    document = cfglang.parse(text)
    names = [layer.name for layer in cfglang.resolve(text, inventory).layers if layer.quantize]
    skipped: list[str] = []
    figures = evaluator.figures(quant.quantize(model, cfglang.resolve(text, inventory), calib, progress=False).model)
    quantizations = 1
    while not goal.met(figures):
        best = None
        for name in names:
            if name in skipped:
                continue
            if time.perf_counter() - started > minutes * 60:
                return skipped, figures, quantizations, time.perf_counter() - started, False
            changes = [Candidate(n, "skip", skip=True).change("") for n in [*skipped, name]]
            plan = cfglang.resolve(apply_edits(text, layer_edits(document, changes)), inventory)
            candidate = evaluator.figures(quant.quantize(model, plan, calib, progress=False).model)
            quantizations += 1
            if best is None or goal.score(candidate) > goal.score(best[1]):
                best = (name, candidate)
        skipped.append(best[0])
        figures = best[1]
        print(f"  brute force step {len(skipped)}: {best[0]} -> {goal.score(figures):.4f} "
              f"({quantizations} quantizations, {time.perf_counter() - started:.0f} s)", flush=True)
    return skipped, figures, quantizations, time.perf_counter() - started, True


def minilm(args: argparse.Namespace) -> None:
    import pooled

    model = pooled.minilm_embedder()
    calib = pooled.batches("calib", 8)
    evaluation = pooled.batches("eval", 24)[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inventory = quant.model_inventory(model, example=calib[0])
    text = (ROOT / "examples" / "minilm.cfg").read_text(encoding="utf-8")
    goal = Goal("cosine_min", 0.99)
    plan = cfglang.resolve(text, inventory)
    evaluator = Evaluator(float_reference(model, plan), evaluation)
    rows = []
    hand = cfglang.resolve((ROOT / "examples" / "minilm_skip.cfg").read_text(encoding="utf-8"), inventory)
    start = time.perf_counter()
    hand_figures = evaluator.figures(quant.quantize(model, hand, calib, progress=False).model)
    rows.append(_row("`minilm_skip.cfg` (hand-made: every FFN down projection in float)", hand_figures, 6,
                     f"1 quantization, {time.perf_counter() - start:.0f} s"))

    outcome = tune(model, text, inventory, calib, goal, eval_batches=evaluation)
    skips = [s.candidate.layer for s in outcome.steps if s.candidate.skip]
    settings = [f"{s.candidate.layer}: {s.candidate.summary}" for s in outcome.steps if not s.candidate.skip]
    rows.insert(0, _row("`minilm.cfg` as written", outcome.before, 0, "-"))
    rows.append(_row("`amct tune --target-cosine 0.99`", outcome.after, len(skips),
                     f"{outcome.quantizations} quantizations ({outcome.evaluations} evaluations after the analysis), "
                     f"{outcome.seconds:.0f} s"))
    print(f"tune: settings {settings or 'none'}; float layers {skips}; met {outcome.met}", flush=True)
    print(outcome.edited, flush=True)

    skipped, figures, count, seconds, finished = brute_force(model, text, inventory, calib, evaluator, goal,
                                                             args.brute_minutes)
    label = "brute-force greedy (whole model quantized per candidate)"
    if not finished:
        label += f", stopped after {args.brute_minutes:g} minutes, target not reached"
    rows.append(_row(label, figures, len(skipped), f"{count} quantizations, {seconds:.0f} s"))
    print(f"brute force: float layers {skipped}")
    print("\n| run | float layers | mean cosine | lowest cosine | cost |\n|---|---|---|---|---|")
    print("\n".join(rows))


CALLS = [0]


class _MLP(nn.Module):
    def __init__(self, depth: int, width: int = 256) -> None:
        super().__init__()
        self.body = nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(depth)])

    def forward(self, x):
        CALLS[0] += 1
        return self.body(x)


def scaling(args: argparse.Namespace) -> None:
    print("| quantized layers | model forwards (analysis) | forwards per evaluation batch | seconds |\n|---|---|---|---|")
    for depth in (8, 16):
        torch.manual_seed(0)
        model = _MLP(depth).eval()
        plan = cfglang.resolve("batch_num: 4", quant.model_inventory(model))
        calib = [torch.randn(64, 256) for _ in range(4)]
        evaluation = [torch.randn(256, 256) for _ in range(8)]
        result = quant.quantize(model, plan, calib, progress=False)
        CALLS[0] = 0
        start = time.perf_counter()
        analyze(model, plan, calib, evaluation, result=result)
        seconds = time.perf_counter() - start
        print(f"| {depth} | {CALLS[0]} | {CALLS[0] / len(evaluation):.0f} | {seconds:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("minilm", "scaling"))
    parser.add_argument("--brute-minutes", type=float, default=45.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    minilm(args) if args.what == "minilm" else scaling(args)


if __name__ == "__main__":
    main()
