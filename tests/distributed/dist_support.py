"""Models, configs and the multi-process runner of the distributed tests (importable by the children
that ``torch.multiprocessing`` spawns and by ``amct quantize --model dist_support:...``)."""

from __future__ import annotations

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
    """A config quantizing every supported layer with ``algo`` (``dmq``: IFMR with a DMQ balancer)."""
    act = "hfmg_quantize { num_of_bins: 1024 }" if algo == "hfmg" else "ifmr_quantize { }"
    dmq = "  dmq_balancer { migration_strength: 0.5 }\n" if algo == "dmq" else ""
    return (f"batch_num: {batch_num}\nactivation_offset: true\ndo_fusion: true\n"
            f"common_config {{\n  arq_quantize {{ channel_wise: false }}\n  {act}\n{dmq}}}\n")


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


def quantize_rank(rank: int, world: int, port: int, model: str, algo: str, count: int, size: int,
                  assignment: list[int] | None, out: str) -> None:
    """One rank of a run (``torch.multiprocessing.spawn``'s target): rank ``r`` holds the batches
    ``b`` with ``assignment[b] == r`` (round-robin when None); rank 0 saves into ``out``."""
    import quant

    init(rank, world, port)
    try:
        net = MODELS[model]()
        data = batches(model, count, size)
        plan = plan_for(net, config_text(algo, count), data[0])
        indices = None if assignment is None else [b for b, r in enumerate(assignment) if r == rank]
        mine = data[rank::world] if indices is None else [data[b] for b in indices]
        result = quant.quantize(net, plan, mine, group=torch.distributed.group.WORLD, batch_indices=indices,
                                progress=False)
        if rank == 0:
            result.save(out)
    finally:
        torch.distributed.destroy_process_group()


def quantize_single(model: str, algo: str, count: int, size: int, out: str) -> None:
    """The single-process run of the same model, config and batches, saved into ``out``."""
    import quant

    torch.set_num_threads(1)
    net = MODELS[model]()
    data = batches(model, count, size)
    quant.quantize(net, plan_for(net, config_text(algo, count), data[0]), data, progress=False).save(out)
