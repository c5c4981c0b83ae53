"""AdaRound speed: iterations per second on a 512x512 Linear with 1,024 cached samples.

Peer: AIMET's AdaRound when ``aimet-torch`` installs without replacing torch; on this project's
machines its install would replace torch, so the peer is a plain reference loop written from the paper
(Nagel et al. 2020): the same loss, the same regulariser and beta schedule, recomputed without any of
``quant.adaround``'s sharing. Both run the same number of iterations on the same layer and samples, in
the same process; the figure is the median of three runs.

    python bench/adaround.py [--iterations 500] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quant import adaround as ada  # noqa: E402
from quant.arq import arq_scale  # noqa: E402


def reference_loop(layer: nn.Linear, scale: torch.Tensor, x: torch.Tensor, y: torch.Tensor, iterations: int,
                   batch: int = 32) -> torch.Tensor:
    """AdaRound straight from the paper's equations, one tensor op at a time."""
    zeta, gamma, lam, b0, b1, warm = 1.1, -0.1, 0.01, 20.0, 2.0, 0.2
    w = layer.weight.detach()
    floor = torch.floor(w / scale)
    rest = w / scale - floor
    v = (-torch.log((zeta - gamma) / (rest - gamma) - 1)).requires_grad_(True)
    opt = torch.optim.Adam([v], lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for t in range(iterations):
        idx = torch.randint(x.shape[0], (batch,), generator=gen)
        h = torch.clamp(torch.sigmoid(v) * (zeta - gamma) + gamma, 0, 1)
        w_soft = scale * torch.clamp(floor + h, -128, 127)
        out = nn.functional.linear(x[idx], w_soft, layer.bias.detach())
        loss = (out - y[idx]).pow(2).sum(1).mean()
        if t >= warm * iterations:
            rel = (t - warm * iterations) / ((1 - warm) * iterations)
            beta = b1 + 0.5 * (b0 - b1) * (1 + math.cos(math.pi * rel))
            h2 = torch.clamp(torch.sigmoid(v) * (zeta - gamma) + gamma, 0, 1)
            loss = loss + lam * (1 - (2 * h2 - 1).abs().pow(beta)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return scale * torch.clamp(floor + (v >= 0).float(), -128, 127)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    layer = nn.Linear(512, 512)
    x = torch.randn(1024, 16) @ torch.randn(16, 512) + 0.1 * torch.randn(1024, 512)
    y = layer(x).detach()
    scale = arq_scale(layer.weight, 8, channel_wise=False)
    params = ada.AdaRoundParams(num_iteration=args.iterations, max_samples=1024)

    def timed(fn) -> tuple[float, torch.Tensor]:
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            out = fn()
            runs.append(time.perf_counter() - start)
        return statistics.median(runs), out

    ours_s, ours_w = timed(lambda: ada.optimize_rounding(layer, scale, x, y, params))
    ref_s, ref_w = timed(lambda: reference_loop(layer, scale, x, y, args.iterations))
    nearest = torch.round(layer.weight.detach() / scale).clamp(-128, 127) * scale

    def err(w: torch.Tensor) -> float:
        return (nn.functional.linear(x, w, layer.bias) - y).pow(2).sum(1).mean().item()

    print(f"layer 512x512 Linear, 1024 cached samples, batch 32, {args.iterations} iterations, "
          f"{args.threads} threads")
    print(f"quant.adaround : {args.iterations / ours_s:8.1f} it/s  ({ours_s:.2f} s)  output MSE / nearest "
          f"{err(ours_w) / err(nearest):.3f}")
    print(f"reference loop : {args.iterations / ref_s:8.1f} it/s  ({ref_s:.2f} s)  output MSE / nearest "
          f"{err(ref_w) / err(nearest):.3f}")
    print(f"speed ratio ours / reference: {ref_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
