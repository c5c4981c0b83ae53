"""Every architecture of the zoo gets an inventory and a valid plan, and its float forward runs."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from cfglang import resolve
from cfglang.jsonschemas import validation_errors
from cfglang.plan import Plan

from .architectures import ARCHITECTURES, Architecture

CONFIG = """batch_num: 2
common_config {
  arq_quantize { channel_wise: false }
  ifmr_quantize { }
}
"""


def _params(archs=ARCHITECTURES) -> list:
    return [pytest.param(arch, id=arch.name, marks=[pytest.mark.slow] if arch.needs_transformers else [])
            for arch in archs]


@pytest.mark.parametrize("arch", _params())
def test_inventory_and_plan(arch: Architecture) -> None:
    if arch.needs_transformers:
        pytest.importorskip("transformers")
    import quant

    model, batches = arch()
    with torch.no_grad():
        for batch in batches:
            model(**batch) if isinstance(batch, dict) else model(batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # untraceable models warn; the inventory still lists their layers
        inventory = quant.model_inventory(model, arch.name)
    names = set(dict(model.named_modules()))
    assert inventory.quantizable, "no quantizable layer found"
    assert all(layer.name in names for layer in inventory.layers)
    plan = resolve(CONFIG, inventory)
    assert plan.ok, [d.message for d in plan.diagnostics]
    data = json.loads(json.dumps(plan.to_dict()))
    assert validation_errors(data, "plan") == []
    assert Plan.from_dict(data) == plan
    assert [layer.name for layer in plan.layers] == [layer.name for layer in inventory.quantizable]


@pytest.mark.parametrize("arch", _params())
def test_an_example_batch_gives_the_graph_where_fx_cannot(arch: Architecture) -> None:
    """With one batch, a model torch.fx cannot trace gets its graph from torch.export: the same layers
    and attributes, marked traced, and the model is left as it was (eval mode, same weights)."""
    if arch.needs_transformers:
        pytest.importorskip("transformers")
    import quant

    model, batches = arch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_name = quant.model_inventory(model, arch.name)
        with_batch = quant.model_inventory(model, arch.name, example=batches[0])
    assert with_batch.traced
    assert sorted(layer.name for layer in with_batch.layers) == sorted(layer.name for layer in by_name.layers)
    assert ({layer.name: (layer.type, layer.attributes()) for layer in with_batch.quantizable}
            == {layer.name: (layer.type, layer.attributes()) for layer in by_name.quantizable})
    if by_name.traced:  # fx traced it: the example changes nothing
        assert with_batch == by_name
    assert not model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
