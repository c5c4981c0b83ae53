"""Calibration benchmark (issue 6): IFMR and HFMG against torch's observers, and end to end.

    python bench/calib.py [--batches 16] [--numel 1000000] [--threads N] [--skip-exact] [--e2e-only] [--rounds 7]
                          [--profile]

Every figure of one run is measured in that run, on the same batches; ratios are against the peers
named (end to end: best against best, median against median, and the median of each round's ratio). Peak memory is the growth of the process's peak RSS in a fresh subprocess per method (batches
generated one at a time, so only what a method keeps counts).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quant import qmath  # noqa: E402
from quant.calibrators import HFMGCalibrator, IFMRCalibrator, ifmr_ratios, percentile_index  # noqa: E402
from quant.core import HFMGSpec, IFMRSpec  # noqa: E402


def make_batch(i: int, numel: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(i)
    x = torch.randn(numel, generator=g)
    return torch.relu(x) * 2.0 + torch.randn(numel, generator=g) * 0.1  # activation-like, a long right tail


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run_ifmr(batches) -> IFMRCalibrator:
    cal = IFMRCalibrator(IFMRSpec(), num_batches=len(batches))
    for b in batches:
        cal.observe(b)
    cal.result = cal.compute()
    return cal


def run_hfmg(batches) -> HFMGCalibrator:
    cal = HFMGCalibrator(HFMGSpec(num_of_bins=4096))
    for b in batches:
        cal.observe(b)
    cal.result = cal.compute()
    return cal


def run_histogram_observer(batches):
    from torch.ao.quantization import HistogramObserver

    obs = HistogramObserver()
    for b in batches:
        obs(b)
    return obs.calculate_qparams()


def run_minmax(batches):
    from torch.ao.quantization import MinMaxObserver

    obs = MinMaxObserver()
    for b in batches:
        obs(b)
    return obs.calculate_qparams()


def amct_exact_ifmr(batches, params: IFMRSpec = IFMRSpec()) -> tuple[list[float], list[float]]:
    """AMCT's way: concatenate every batch, then a full-data MSE for each candidate."""
    x = torch.cat(batches)
    n = x.numel()
    mx = torch.topk(x, percentile_index(n, params.max_percentile)).values[-1].item()
    mn = torch.topk(x, percentile_index(n, params.min_percentile), largest=False).values[-1].item()
    mx, mn = max(mx, 0.0), min(mn, 0.0)
    losses, scales = [], []
    for r in ifmr_ratios(params):
        c = torch.tensor(mx, dtype=torch.float32) * r
        scale, offset = qmath.asymmetric_scale_offset(c, mn, params.bits)
        fq = qmath.fake_quantize(torch.clamp(x, mn, c.item()), scale, offset, params.bits)
        losses.append((x - fq).double().square().mean().item())
        scales.append(scale.item())
    return losses, scales


def mse(batches, scale: float, offset: int, qmin: int, qmax: int) -> float:
    total, count = 0.0, 0
    for b in batches:
        fq = torch.fake_quantize_per_tensor_affine(b, scale, offset, qmin, qmax)
        total += (b - fq).double().square().sum().item()
        count += b.numel()
    return total / count


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _fixed_mmap_threshold() -> None:
    """glibc: serve every allocation of 256 KiB or more by its own mapping, returned when freed. By
    default the threshold follows the largest block freed so far, so the batches' 4 MB temporaries end
    up in the heap, which does not shrink: the peak would then measure the allocator's history, not
    what a method keeps."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_mmap_threshold, m_trim_threshold = -3, -1
    libc.mallopt(m_mmap_threshold, 256 << 10)
    libc.mallopt(m_trim_threshold, 256 << 10)


def _peak_worker(method: str, count: int, numel: int, queue) -> None:
    _fixed_mmap_threshold()
    make_batch(0, numel)  # warm up the allocator and the generator
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current RSS
    base = _status_kib("VmRSS")
    if method == "ifmr":
        cal = IFMRCalibrator(IFMRSpec(), num_batches=count)
        for i in range(count):
            cal.observe(make_batch(i, numel))
        cal.compute()
    else:
        amct_exact_ifmr([make_batch(i, numel) for i in range(count)], IFMRSpec(search_range_end=0.72))
    queue.put((_status_kib("VmHWM") - base) / 1024.0)


def peak_mib(method: str, count: int, numel: int) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_worker, args=(method, count, numel, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return value


#: the demo's bundled configs timed end to end
E2E_KINDS = ("ifmr", "hfmg")


def end_to_end(batch_count: int = 16, batch_size: int = 80, rounds: int = 7,
               profile: bool = False) -> tuple[list[float], dict[str, list[float]]]:
    """``rounds`` timings of the FP32 forward passes and of ``quantize()`` with each of the demo's
    configs (``E2E_KINDS``) on the demo CNN, taken in turns after one warm-up of each (the first
    calls pay for caches, the allocator and oneDNN's kernels), so that all see the same state of a
    shared machine."""
    import cfglang
    from quant import demo, quantize
    from quant.inventory import model_inventory

    data = demo.load_digits_data()
    model = demo.trained_model(data=data)
    batches = demo.calibration_batches(data, batch_count, batch_size)

    def forward():
        with torch.no_grad():
            for b in batches:
                model(b)

    def calibration(kind: str):
        # the typed plan, as `amct quantize` passes it (a plan JSON dict adds one schema validation per call)
        plan = cfglang.resolve(demo.config_path(kind).read_text(), model_inventory(model))
        plan = dataclasses.replace(plan, batch_num=batch_count)
        return lambda: quantize(model, plan, batches, progress=False)

    runs = {kind: calibration(kind) for kind in E2E_KINDS}
    forward()
    for fn in runs.values():
        fn()
    fp32: list[float] = []
    calib: dict[str, list[float]] = {kind: [] for kind in runs}
    for _ in range(rounds):
        fp32.append(best_of(forward, 1))
        for kind, fn in runs.items():
            calib[kind].append(best_of(fn, 1))
    if profile:
        for kind, fn in runs.items():
            print(f"profile of quantize() with the demo's {kind} config")
            print_profile(fn, 10)
    return fp32, calib


def print_profile(fn, calls: int, rows: int = 22) -> None:
    """cProfile of ``calls`` calls of ``fn``: the functions with the most time of their own, in ms per
    call (own time, and with what they call)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    for _ in range(calls):
        profiler.runcall(fn)
    stats = pstats.Stats(profiler).stats
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:rows]
    print(f"{'own ms':>8} {'cum ms':>8} {'calls':>6}  function (per quantize() call, profiled)")
    for (path, line, name), (_, ncalls, own, cum, _) in top:
        where = f"{Path(path).name}:{line}({name})" if line else name
        print(f"{own / calls * 1e3:8.2f} {cum / calls * 1e3:8.2f} {ncalls / calls:6.0f}  {where}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, default=16)
    ap.add_argument("--numel", type=int, default=1_000_000)
    ap.add_argument("--skip-exact", action="store_true", help="skip the slow AMCT-style exact IFMR")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--e2e-only", action="store_true", help="only the end-to-end demo CNN figure")
    ap.add_argument("--rounds", type=int, default=7, help="end-to-end rounds (best and median reported)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one end-to-end quantize()")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.e2e_only:
        report_end_to_end(args.rounds, args.profile)
        return
    batches = [make_batch(i, args.numel) for i in range(args.batches)]
    print(f"{args.batches} batches of {args.numel:,} floats; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    t_minmax = best_of(lambda: run_minmax(batches))
    t_hist = best_of(lambda: run_histogram_observer(batches))
    t_ifmr = best_of(lambda: run_ifmr(batches))
    t_hfmg = best_of(lambda: run_hfmg(batches))
    print(f"MinMaxObserver            {t_minmax * 1e3:8.1f} ms")
    print(f"HistogramObserver         {t_hist * 1e3:8.1f} ms")
    print(f"IFMR (streaming)          {t_ifmr * 1e3:8.1f} ms   {t_ifmr / t_hist:.2f}x HistogramObserver")
    print(f"HFMG (4096 bins)          {t_hfmg * 1e3:8.1f} ms   {t_hfmg / t_hist:.2f}x HistogramObserver")

    ifmr = run_ifmr(batches).result
    if not args.skip_exact:
        t0 = time.perf_counter()
        losses, scales = amct_exact_ifmr(batches)
        t_exact = time.perf_counter() - t0
        best = min(losses)
        chosen = losses[min(range(len(scales)), key=lambda i: abs(scales[i] - ifmr.scale))]
        print(f"IFMR AMCT-style exact     {t_exact * 1e3:8.1f} ms   streaming is {t_exact / t_ifmr:.0f}x faster")
        print(f"IFMR chosen-candidate MSE {chosen:.6e} vs exact best {best:.6e}: "
              f"{(chosen / best - 1) * 100:+.4f}%")

    hfmg = run_hfmg(batches).result
    scale, zp = run_histogram_observer(batches)
    l2_hfmg = mse(batches, hfmg.scale, hfmg.offset, -128, 127)
    l2_hist = mse(batches, float(scale), int(zp), 0, 255)
    print(f"L2 (MSE) HFMG {l2_hfmg:.6e} vs HistogramObserver {l2_hist:.6e}: {(l2_hfmg / l2_hist - 1) * 100:+.2f}%")

    small = max(2, args.batches // 4)
    numel = args.numel
    peaks = {(m, c): peak_mib(m, c, numel) for m in ("ifmr", "amct") for c in (small, args.batches)}
    for m, label in (("ifmr", "IFMR streaming"), ("amct", "AMCT-style (holds all)")):
        print(f"peak extra memory {label:24s} {small:3d} batches {peaks[(m, small)]:7.1f} MiB, "
              f"{args.batches:3d} batches {peaks[(m, args.batches)]:7.1f} MiB")

    report_end_to_end(args.rounds, args.profile)


def report_end_to_end(rounds: int, profile: bool) -> None:
    """Best of the rounds against the FP32 best, median against the FP32 median, and the median of each
    round's own ratio (a round's timings are taken one after the other, so they share the host's state
    of the moment: the paired ratio moves least when the host's speed drifts)."""
    fp32, calib = end_to_end(rounds=rounds, profile=profile)
    best, median = min(fp32), statistics.median(fp32)
    print(f"end to end, demo CNN, 16 batches of 80, {rounds} rounds: FP32 forward {best * 1e3:.1f} ms "
          f"(median {median * 1e3:.1f} ms)")
    for kind, times in calib.items():
        paired = statistics.median(t / f for t, f in zip(times, fp32))
        print(f"  quantize() with the {kind} config {min(times) * 1e3:6.1f} ms: {min(times) / best:.2f}x FP32 "
              f"(median {statistics.median(times) * 1e3:.1f} ms: {statistics.median(times) / median:.2f}x; "
              f"paired {paired:.2f}x)")


if __name__ == "__main__":
    main()
