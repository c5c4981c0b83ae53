"""Models, configs and the multi-process runner of the distributed tests (importable by the children
that ``torch.multiprocessing`` spawns and by ``amct quantize --model dist_support:...``)."""

from __future__ import annotations

import functools
import os
import socket
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

HERE = Path(__file__).resolve().parent

#: the algorithms compared: IFMR and HFMG activations, and DMQ (with IFMR) balancing
ALGOS = ("ifmr", "hfmg", "dmq")


def demo_cnn() -> nn.Module:
    """The demo's CNN (``quant.demo.DigitsCNN``) with seeded random weights and BatchNorm statistics."""
    from quant.demo import DigitsCNN

    torch.manual_seed(0)
    model = DigitsCNN()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def tiny_transformer() -> nn.Module:
    """A two-layer ``nn.TransformerEncoder`` (width 16, 2 heads) with seeded random weights."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()


MODELS = {"cnn": demo_cnn, "transformer": tiny_transformer}


def batches(model: str, count: int, size: int = 4) -> list[torch.Tensor]:
    """``count`` random calibration batches for ``model``, of unequal sizes (so that the ranks' shares
    hold unequal numbers of values) and growing spread (so that the ranges widen batch after batch).
    The CNN's batches hold ``size`` to ``size + 2`` images: from 20 up, IFMR's inputs exceed its exact
    limit (it keeps a histogram), from 40 up its buffer flushes more than once."""
    gen = torch.Generator(device="cpu").manual_seed(1)
    if model == "cnn":
        return [torch.randn(size + i % 3, 1, 8, 8, generator=gen) * (1 + i) for i in range(count)]
    return [torch.randn(2 + i % 2, 5 + i % 4, 16, generator=gen) * (1 + 0.5 * i) for i in range(count)]


def config_text(algo: str, batch_num: int) -> str:
    """A config quantizing every supported layer with ``algo`` (``dmq``: IFMR with a DMQ balancer;
    ``ada``: IFMR with AdaRound weights, a few iterations)."""
    act = "hfmg_quantize { num_of_bins: 1024 }" if algo == "hfmg" else "ifmr_quantize { }"
    weight = "ada_quantize { num_iteration: 30 }" if algo == "ada" else "arq_quantize { channel_wise: false }"
    dmq = "  dmq_balancer { migration_strength: 0.5 }\n" if algo == "dmq" else ""
    return (f"batch_num: {batch_num}\nactivation_offset: true\ndo_fusion: true\n"
            f"common_config {{\n  {weight}\n  {act}\n{dmq}}}\n")


def plan_for(model: nn.Module, text: str, example: Any) -> Any:
    import cfglang
    import quant

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inventory = quant.model_inventory(model, example=example)
    plan = cfglang.resolve(text, inventory)
    errors = [d for d in plan.diagnostics if d.severity.name == "ERROR"]
    assert not errors, errors
    return plan


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init(rank: int, world: int, port: int) -> None:
    torch.set_num_threads(1)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)


def case_batches(case: dict[str, Any]) -> list[Any]:
    """The calibration batches of a case: ``batches(model, count, size)``, with batch ``nan`` holding a
    nan and batch ``bad`` of a shape the model rejects."""
    data = batches(case["model"], case["count"], case.get("size", 4))
    if "nan" in case:
        data[case["nan"]] = data[case["nan"]].clone()
        data[case["nan"]].view(-1)[3] = float("nan")
    if "bad" in case:
        data[case["bad"]] = torch.zeros(2, 3, 8, 8)
    return data


@functools.cache
def _plan(model: str, algo: str, batch_num: int) -> Any:
    return plan_for(MODELS[model](), config_text(algo, batch_num), batches(model, 1)[0])


def case_plan(case: dict[str, Any]) -> Any:
    """The plan of a case, made once per process (and inherited by the forked ranks: tracing a model
    for its inventory is most of a small case's time)."""
    return _plan(case["model"], case["algo"], case.get("batch_num", case["count"]))


def quantize_case(case: dict[str, Any], forwards: list[int], group: Any = None, rank: int = 0, world: int = 1) -> Any:
    """``quant.quantize`` on a case (``model``, ``algo``, ``count``, optional ``size``, ``batch_num``,
    ``assignment``: the rank of each batch, round-robin when absent), single-process without ``group``;
    ``forwards[0]`` counts the model's forwards."""
    import quant

    net = MODELS[case["model"]]()
    data = case_batches(case)
    plan = case_plan(case)
    net.register_forward_pre_hook(lambda *_: forwards.__setitem__(0, forwards[0] + 1))
    if group is None:
        return quant.quantize(net, plan, data, progress=False)
    assignment = case.get("assignment") or [b % world for b in range(len(data))]
    indices = [b for b, r in enumerate(assignment) if r == rank]
    return quant.quantize(net, plan, [data[b] for b in indices], group=group, batch_indices=indices,
                          progress=False)


def run_cases(rank: int, world: int, port: int, cases: dict[str, dict[str, Any]], out: str) -> None:
    """One rank of a group running every case in turn (``torch.multiprocessing.spawn``'s target): rank 0
    saves each result into ``out/NAME``; a case that fails leaves ``out/NAME/error-RANK.txt`` on each
    rank (the message, the model's forward count, the error's class) and the group goes on with the next
    case."""
    from quant import distributed
    from quant.core import QuantizeError

    keep = distributed.KEEP_BYTES
    init(rank, world, port)
    try:
        for name, case in cases.items():
            # `keep_bytes`: 0 makes the second pass run the forwards again instead of reading kept inputs
            distributed.KEEP_BYTES = case.get("keep_bytes", keep)
            folder = Path(out) / name
            folder.mkdir(parents=True, exist_ok=True)
            forwards = [0]
            try:
                result = quantize_case(case, forwards, torch.distributed.group.WORLD, rank, world)
            except QuantizeError as exc:
                (folder / f"error-{rank}.txt").write_text(f"{exc}\n{forwards[0]}\n{type(exc).__name__}")
                continue
            if rank == 0:
                result.save(folder)
    finally:
        torch.distributed.destroy_process_group()


def spawn(world: int, cases: dict[str, dict[str, Any]], out: Path) -> None:
    """Run ``cases`` in a group of ``world`` processes on this machine (gloo on loopback). The processes
    are forked: a fresh interpreter per rank would spend most of a test's time importing torch."""
    import torch.multiprocessing as mp

    for case in cases.values():
        case_plan(case)
    mp.start_processes(run_cases, args=(world, free_port(), cases, str(out)), nprocs=world, start_method="fork")
