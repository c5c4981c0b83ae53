"""Calibration across processes (issue 20): time and bytes exchanged for 1, 2 and 4 ranks.

    python bench/distributed.py [--worlds 1 2 4] [--batches 16] [--rounds 3]

Every rank is a process on this machine (forked, gloo on loopback, one thread each, as torchrun sets
``OMP_NUM_THREADS=1``); 1 rank is the single-process run (no group). Per rank: the batches it holds,
its ``quant.quantize`` wall time, the time inside collectives (waiting for slower ranks included), the
rest (its forwards and its share of the statistics), and the bytes it contributed to the collectives
(``quant.distributed.Exchange``). The wall time of a run is its slowest rank's; each figure is the median
of ``--rounds`` runs. Every run's record is checked against the single process's.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import socket
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cfglang  # noqa: E402
import quant  # noqa: E402
from quant import demo  # noqa: E402


def cnn_workload(algo: str, count: int) -> tuple[nn.Module, Any, list[torch.Tensor]]:
    """The demo: the trained digits CNN, its bundled config, ``count`` batches of 64 digits."""
    data = demo.load_digits_data()
    model = demo.trained_model(data=data).eval()
    text = demo.config_path(algo).read_text().replace("batch_num: 4", f"batch_num: {count}")
    batches = demo.calibration_batches(data, count)
    return model, _plan(model, text, batches[0]), batches


def transformer_workload(algo: str, count: int) -> tuple[nn.Module, Any, list[torch.Tensor]]:
    """A 4-layer ``nn.TransformerEncoder`` (width 256, 4 heads), ``count`` batches of 8 x 128 tokens."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False).eval()
    act = "hfmg_quantize { }" if algo == "hfmg" else "ifmr_quantize { }"
    dmq = "  dmq_balancer { migration_strength: 0.5 }\n" if algo == "dmq" else ""
    text = (f"batch_num: {count}\nactivation_offset: true\ncommon_config {{\n  arq_quantize {{ channel_wise: false }}\n"
            f"  {act}\n{dmq}}}\n")
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randn(8, 128, 256, generator=gen) for _ in range(count)]
    return model, _plan(model, text, batches[0]), batches


def _plan(model: nn.Module, text: str, example: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = cfglang.resolve(text, quant.model_inventory(model, example=example))
    assert not [d for d in plan.diagnostics if d.severity.name == "ERROR"], plan.diagnostics
    return plan


WORKLOADS = {("cnn", "ifmr"): cnn_workload, ("cnn", "hfmg"): cnn_workload,
             ("transformer", "ifmr"): transformer_workload, ("transformer", "hfmg"): transformer_workload,
             ("transformer", "dmq"): transformer_workload}


def _rank(rank: int, world: int, port: int, work: tuple, out: Any) -> None:
    from quant.distributed import Exchange

    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                         world_size=world)
    try:
        model, plan, batches = work
        indices = list(range(rank, len(batches), world))
        exchange = Exchange()
        started = time.perf_counter()
        result = quant.quantize(model, plan, [batches[i] for i in indices], group=exchange, batch_indices=indices,
                                progress=False)
        wall = time.perf_counter() - started
        out.put((rank, len(indices), wall, exchange.seconds, exchange.bytes_sent, exchange.collectives,
                 result.record if rank == 0 else None))
    finally:
        torch.distributed.destroy_process_group()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(work: tuple, world: int) -> list[tuple]:
    """One run on ``world`` ranks: per rank (rank, batches, wall, comm s, bytes, collectives, record)."""
    if world == 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            started = time.perf_counter()
            result = quant.quantize(*work, progress=False)
            return [(0, len(work[2]), time.perf_counter() - started, 0.0, 0, 0, result.record)]
        finally:
            torch.set_num_threads(threads)
    ctx = mp.get_context("fork")
    out = ctx.SimpleQueue()
    port = _port()
    procs = [ctx.Process(target=_rank, args=(r, world, port, work, out)) for r in range(world)]
    for p in procs:
        p.start()
    rows = sorted(out.get() for _ in procs)
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a rank exited with status {p.exitcode}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, torch {torch.__version__}; {args.batches} batches, median of "
          f"{args.rounds} runs, one thread per rank")
    print("| model | algo | ranks | wall s | per rank: batches / compute s / collectives s / KiB sent (collectives) |")
    print("|---|---|---|---|---|")
    for (name, algo), make in WORKLOADS.items():
        work = make(algo, args.batches)
        reference = None
        for world in args.worlds:
            runs = [run(work, world) for _ in range(args.rounds)]
            records = {rows[0][6] for rows in runs}
            if reference is None:
                reference = runs[0][0][6]
            assert records == {reference}, f"{name} {algo} on {world} ranks: the record differs from one process's"
            wall = statistics.median(max(row[2] for row in rows) for rows in runs)
            ranks = []
            for r in range(world):
                mine = [rows[r] for rows in runs]
                comm = statistics.median(row[3] for row in mine)
                compute = statistics.median(row[2] - row[3] for row in mine)
                ranks.append(f"{mine[0][1]} / {compute:.2f} / {comm:.2f} / {mine[0][4] / 1024:.0f} ({mine[0][5]})")
            print(f"| {name} | {algo} | {world} | {wall:.2f} | {'; '.join(ranks)} |", flush=True)


if __name__ == "__main__":
    main()
