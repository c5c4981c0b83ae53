"""Shared fixtures for engine II: the bundled digits CNN (quant.demo), BatchNorm folded."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import pytest
import torch
from torch import nn


@dataclass(frozen=True)
class Digits:
    original: nn.Module  # as trained, with its BatchNorms
    model: nn.Module  # folded, eval mode
    train_x: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    #: each weighted layer and the activation that consumes its output (None: the logits)
    fused: dict[str, str | None]


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> Digits:
    import quant
    from cfglang.plan import Fusion
    from quant import demo
    from quant.fold import fold_pairs

    data = demo.load_digits_data()
    original = demo.trained_model(cache=tmp_path_factory.mktemp("digits"), data=data)
    model = copy.deepcopy(original)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inventory = quant.model_inventory(model)
    fold_pairs(model, [Fusion(p.conv, p.bn) for p in inventory.foldable])
    weighted = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    fused = {n: act.activation if (act := inventory.activation_of(n)) else None for n in weighted}
    return Digits(original, model.eval(), data.train_x, data.test_x, data.test_y, fused)
