"""Hand-built native plans (issue 5's layout) and small models for the engine tests."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

WEIGHTED = {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Linear"}
CHANNEL_WISE = WEIGHTED - {"Linear"}


def ifmr(asymmetric: bool = True, **overrides: Any) -> dict[str, Any]:
    act = {"algo": "ifmr", "bits": 8, "asymmetric": asymmetric, "search_range_start": 0.7, "search_range_end": 1.3,
           "search_step": 0.01, "max_percentile": 0.999999, "min_percentile": 0.999999}
    act.update(overrides)
    return act


def hfmg(asymmetric: bool = True, num_of_bins: int = 4096) -> dict[str, Any]:
    return {"algo": "hfmg", "bits": 8, "asymmetric": asymmetric, "num_of_bins": num_of_bins}


def layer(name: str, kind: str, *, act: dict[str, Any] | None = None, bits: int = 8,
          channel_wise: bool | None = None, quantize: bool = True, weight: dict | None = None,
          dmq: dict | None = None) -> dict[str, Any]:
    if not quantize:
        return {"name": name, "type": kind, "quantize": False,
                "skip": {"reason": "skip_layers", "line": 1, "column": 1},
                "weight": None, "activation": None, "dmq_balancer": None, "provenance": {}}
    if weight is None and kind in WEIGHTED:
        weight = {"algo": "arq", "bits": bits,
                  "channel_wise": kind in CHANNEL_WISE if channel_wise is None else channel_wise}
    return {"name": name, "type": kind, "quantize": True, "skip": None, "weight": weight,
            "activation": act or ifmr(), "dmq_balancer": dmq, "provenance": {}}


def plan(layers: list[dict[str, Any]], *, batch_num: int = 2, fusions: list[tuple[str, str]] = (),
         do_fusion: bool = True, fakequant_precision_mode: str | None = None) -> dict[str, Any]:
    return {"version": 1, "config": None, "batch_num": batch_num, "do_fusion": do_fusion,
            "fakequant_precision_mode": fakequant_precision_mode, "activation_offset": True,
            "skip_fusion_layers": [], "fusions": [{"conv": c, "bn": b} for c, b in fusions], "layers": layers}


class SmallCNN(nn.Module):
    """Conv+BN+ReLU, AvgPool2d, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.relu(self.bn(self.conv(x)))), 1))


def small_cnn() -> SmallCNN:
    torch.manual_seed(0)
    model = SmallCNN()
    with torch.no_grad():  # non-trivial BN statistics
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


def small_cnn_plan(**kwargs: Any) -> dict[str, Any]:
    act = kwargs.pop("act", None)
    return plan([layer("conv", "Conv2d", act=act), layer("pool", "AvgPool2d", act=act), layer("fc", "Linear", act=act)],
                fusions=[("conv", "bn")], **kwargs)


class MixedConvs(nn.Module):
    """Conv1d, Conv3d, grouped Conv2d, ConvTranspose1d/2d (grouped), for the less common kinds."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(4, 6, 3, padding=1)
        self.t1 = nn.ConvTranspose1d(6, 4, 3, stride=2, padding=1, output_padding=1)
        self.c2 = nn.Conv2d(4, 8, 3, padding=1, groups=2)
        self.t2 = nn.ConvTranspose2d(8, 6, 2, stride=2, groups=2)
        self.c3 = nn.Conv3d(2, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seq = self.t1(torch.relu(self.c1(x)))  # [B, 4, 2L]
        img = seq.reshape(seq.shape[0], 4, 4, -1)
        img = self.t2(self.c2(img))
        return img, self.c3(v)


def mixed_plan(batch_num: int = 2) -> dict[str, Any]:
    return plan([layer("c1", "Conv1d"), layer("t1", "ConvTranspose1d"), layer("c2", "Conv2d"),
                 layer("t2", "ConvTranspose2d"), layer("c3", "Conv3d", act=ifmr(asymmetric=False))],
                batch_num=batch_num)
