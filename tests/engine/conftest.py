"""Engine fixtures: the digits CNN trained once per test session (into a temporary cache, never the
user's), the same model with its BatchNorms folded, and the two paths of quant.histogram."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import pytest
import torch
from torch import nn


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """``(model, data, cache)``: the bundled digits CNN as trained, its data and its cache folder."""
    from quant import demo

    cache = tmp_path_factory.mktemp("amct-cache") / "amct-cfg"
    data = demo.load_digits_data()
    model = demo.trained_model(cache, data)
    return model, data, cache


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
def folded_digits(digits) -> Digits:
    """The digits CNN with its BatchNorms folded, and the activation fused after each weighted layer."""
    import quant
    from cfglang.plan import Fusion
    from quant.fold import fold_pairs

    original, data, _ = digits
    model = copy.deepcopy(original)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inventory = quant.model_inventory(model)
    fold_pairs(model, [Fusion(p.conv, p.bn) for p in inventory.foldable])
    weighted = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    fused = {n: act.activation if (act := inventory.activation_of(n)) else None for n in weighted}
    return Digits(original, model.eval(), data.train_x, data.test_x, data.test_y, fused)


@pytest.fixture(params=["native", "fallback"])
def histogram_path(request, monkeypatch):
    """Run a test with the compiled loops, then with the torch and numpy code."""
    from quant import histogram

    if request.param == "native":
        assert histogram.NATIVE, "quant._histogram was not built (no C compiler at install?)"
    else:
        monkeypatch.setattr(histogram, "_native", None)
    return request.param
