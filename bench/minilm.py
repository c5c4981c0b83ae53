"""all-MiniLM-L6-v2 W8A8: mean-pooled sentence embeddings against FP32, and calibration times.

Runs, in one process on the same 72 evaluation sentences (calibration on 32 other sentences, 4 batches
of 8): ``examples/minilm.cfg``, ``examples/minilm_skip.cfg``, a DMQ sweep of ``migration_strength``
over [0.2, 0.8] on the first config, and ``torch.ao.quantization.quantize_dynamic`` side by side.
Prints a Markdown table (mean and worst-case cosine, quantize time).

    python bench/minilm.py [--step 0.05] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "engine"))

import minilm_support as ms  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--step", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokenizer, model = ms.load()
    evaluation = ms.batches(tokenizer, ms.sentences("eval"), 24)
    calibration = ms.batches(tokenizer, ms.sentences("calib"), ms.CALIB_BATCH)
    start = time.perf_counter()
    reference = ms.embed(model, evaluation)
    fp32_s = time.perf_counter() - start

    rows = []
    for name in ("minilm", "minilm_skip"):
        quantized, seconds = ms.quantize_config(model, ms.config_text(name), calibration)
        rows.append(ms.evaluate(f"`{name}.cfg`", quantized, reference, evaluation, seconds))
    steps = round((0.8 - 0.2) / args.step)
    for i in range(steps + 1):
        strength = round(0.2 + i * args.step, 4)
        quantized, seconds = ms.quantize_config(model, ms.config_text("minilm", strength), calibration)
        rows.append(ms.evaluate(f"`minilm.cfg` + DMQ {strength:.2f}", quantized, reference, evaluation, seconds))
    dynamic, seconds = ms.dynamic_baseline(model)
    rows.append(ms.evaluate("`quantize_dynamic` (qint8 Linear)", dynamic, reference, evaluation, seconds))

    print(f"{len(ms.sentences('eval'))} sentences, FP32 embedding pass {fp32_s:.2f} s, {args.threads} threads\n")
    print("| run | mean cosine | worst cosine | quantize time (s) |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row.label} | {row.mean:.4f} | {row.worst:.4f} | {row.seconds:.1f} |")
    sweep = [r for r in rows if "DMQ" in r.label]
    best = max(sweep, key=lambda r: r.worst)
    print(f"\nbest DMQ by worst case: {best.label} ({rows[0].worst:.4f} -> {best.worst:.4f})")


if __name__ == "__main__":
    main()
