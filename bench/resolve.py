"""Resolution time against the number of layers (one override per layer).

For N in 1,000 .. 10,000: an inventory of N layers (Conv2d/Linear mixed, a BatchNorm after each
conv), a config with N `override_layer_configs` entries (one per layer) plus N/10 skips, checked
once; then `cfglang.resolve(check_result, inventory)` is timed (best of 5, wall and CPU), which includes every
model-aware diagnostic. The peer is the same call at N = 1,000: linear growth means time/N stays
flat (per-layer CPU time, column `vs 1k`). Run: `python bench/resolve.py`.
"""

from __future__ import annotations

import platform
import time

from cfglang.checker import check
from cfglang.inventory import Inventory
from cfglang.planner import resolve

SIZES = (1000, 2000, 5000, 10000)


def workload(n: int) -> tuple[str, Inventory]:
    layers, foldable, parts = [], [], ["common_config { ifmr_quantize { asymmetric: false } dmq_balancer { } }\n"]
    for i in range(n):
        conv = i % 3 != 2
        name = f"block{i}.conv" if conv else f"block{i}.fc"
        layers.append((name, "Conv2d" if conv else "Linear"))
        if conv:
            layers.append((f"block{i}.bn", "BatchNorm2d"))
            foldable.append((name, f"block{i}.bn"))
        block = "arq_quantize { quant_bits: 7 }" if conv else "hfmg_quantize { num_of_bins: 2048 }"
        parts.append(f'override_layer_configs {{ layer_name: "{name}" calibration_config {{ {block} }} }}\n')
        if i % 10 == 0:
            parts.append(f'skip_layers: "{name}"\n')
    return "".join(parts), Inventory.of(layers, foldable)


def best(fn, repeat: int = 5) -> tuple[float, float]:
    """Best wall time and best CPU time of ``repeat`` runs (CPU time is steadier on a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'layers':>7} {'overrides':>9} {'check s':>8} {'resolve s':>9} {'cpu s':>6} {'us/layer':>9} {'vs 1k':>6}")
    base = None
    for n in SIZES:
        text, inventory = workload(n)
        start = time.perf_counter()
        checked = check(text)
        check_s = time.perf_counter() - start
        assert not checked.has_errors, checked.diagnostics[:3]
        seconds, cpu = best(lambda: resolve(checked, inventory))
        per = cpu / n * 1e6
        base = base or per
        print(f"{n:>7} {n:>9} {check_s:>8.3f} {seconds:>9.3f} {cpu:>6.3f} {per:>9.1f} {per / base:>6.2f}")


if __name__ == "__main__":
    main()
