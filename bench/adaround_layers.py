"""AdaRound's cost per iteration on layers of a few sizes: the floor of the estimate that `amct plan` and
`amct quantize` print when AdaRound is planned (``amct_cli.planning.ADAROUND_SECONDS_PER_ITERATION``).

Each layer gets 1,024 cached samples and the engine's settings (batch 32, Adam); the figure is the
median of three runs of ``--iterations`` steps of ``quant.adaround.optimize_rounding``.

    python bench/adaround_layers.py [--iterations 1000] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quant.adaround import AdaRoundParams, optimize_rounding  # noqa: E402


def layers() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    torch.manual_seed(0)
    return {
        "Linear(20, 16)": (nn.Linear(20, 16), torch.randn(1024, 20)),
        "Linear(256, 256)": (nn.Linear(256, 256), torch.randn(1024, 256)),
        "Conv2d(16, 32, 3) on 8x8": (nn.Conv2d(16, 32, 3, padding=1), torch.randn(1024, 16, 8, 8)),
    }


def seconds_per_iteration(layer: nn.Module, x: torch.Tensor, iterations: int) -> float:
    with torch.no_grad():
        y = layer(x)
    scale = layer.weight.detach().abs().max() / 127
    runs = []
    with torch.enable_grad():
        optimize_rounding(layer, scale, x, y, AdaRoundParams(num_iteration=20))  # warm-up
        for _ in range(3):
            start = time.perf_counter()
            optimize_rounding(layer, scale, x, y, AdaRoundParams(num_iteration=iterations))
            runs.append((time.perf_counter() - start) / iterations)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, {args.iterations} iterations, median of 3")
    for name, (layer, x) in layers().items():
        print(f"{name}: {seconds_per_iteration(layer, x, args.iterations) * 1000:.2f} ms per iteration")


if __name__ == "__main__":
    main()
