"""Every architecture of the zoo gets an inventory and a valid plan, and its float forward runs."""

from __future__ import annotations

import json
import warnings
from collections import Counter

import pytest
import torch

from cfglang import resolve
from cfglang.jsonschemas import validation_errors
from cfglang.plan import Plan

from .architectures import ARCHITECTURES, Architecture, architecture

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


# per architecture: the quantizable layers of a subclass type (by label), what the plan leaves in float
# ((reason, type) -> count) and the layers M022 warns about (a weight shared with other modules)
_TRANSPOSED = "Conv1D (Linear, transposed weight)"
_OUT_PROJ = "NonDynamicallyQuantizableLinear (Linear)"
LEFT_IN_FLOAT = {
    "resnet": ({}, {}, []),
    "mobilenet_v3": ({}, {}, []),
    "r3d": ({"Conv3DSimple (Conv3d)": 4}, {}, []),  # all 4 quantized, their BatchNorms folded
    "resnet_fpn": ({}, {("not_called", "Linear"): 1}, []),  # the backbone's unused `body.fc`
    "torchvision_vit": ({_OUT_PROJ: 2}, {("not_called", _OUT_PROJ): 2, ("outside_call", "VisionTransformer"): 2,
                                         ("not_quantizable", "LayerNorm"): 5,
                                         ("outside_call", "MultiheadAttention"): 4}, []),
    "tied_lm": ({}, {("not_quantizable", "Embedding"): 1}, ["lm_head"]),
    "reused_layer": ({}, {}, []),
    "nn_transformer_encoder": ({_OUT_PROJ: 2}, {("not_called", _OUT_PROJ): 2,
                                                ("outside_call", "MultiheadAttention"): 4,
                                                ("not_quantizable", "LayerNorm"): 4}, []),
    "llama": ({}, {("not_quantizable", "Embedding"): 1, ("not_quantizable", "LlamaRMSNorm"): 5}, []),
    "qwen2": ({}, {("not_quantizable", "Embedding"): 1, ("not_quantizable", "Qwen2RMSNorm"): 5}, ["lm_head"]),
    "mistral": ({}, {("not_quantizable", "Embedding"): 1, ("not_quantizable", "MistralRMSNorm"): 5}, []),
    "gpt2": ({_TRANSPOSED: 8}, {("not_quantizable", "Embedding"): 2, ("not_quantizable", "LayerNorm"): 5},
             ["lm_head"]),
    "bert": ({}, {("not_quantizable", "Embedding"): 3, ("not_quantizable", "LayerNorm"): 5}, []),
    "t5": ({}, {("not_quantizable", "Embedding"): 5, ("not_quantizable", "T5LayerNorm"): 12}, []),
    "bart": ({}, {("not_quantizable", "BartScaledWordEmbedding"): 3,
                  ("not_quantizable", "BartLearnedPositionalEmbedding"): 2, ("not_quantizable", "LayerNorm"): 12},
             ["lm_head"]),
    "vit": ({}, {("outside_call", "ViTEmbeddings"): 2, ("not_quantizable", "LayerNorm"): 5}, []),
    "whisper_encoder": ({}, {("not_quantizable", "Embedding"): 1, ("not_quantizable", "LayerNorm"): 5}, []),
}


def test_every_architecture_has_its_expectation() -> None:
    assert set(LEFT_IN_FLOAT) == {arch.name for arch in ARCHITECTURES}


@pytest.mark.parametrize("arch", _params())
def test_every_weight_left_in_float_is_listed_with_its_reason(arch: Architecture) -> None:
    """Subclass layers are planned by their torch.nn base class, every other weight is named with a reason,
    and a quantized layer whose weight other modules share gets M022."""
    if arch.needs_transformers:
        pytest.importorskip("transformers")
    import quant

    model, batches = arch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = resolve(CONFIG, quant.model_inventory(model, arch.name, example=batches[0]))
    subclasses, left, shared = LEFT_IN_FLOAT[arch.name]
    assert dict(Counter(layer.label for layer in plan.layers if layer.class_name)) == subclasses
    assert dict(Counter((reason, label) for _, label, reason in plan.left_in_float())) == left
    assert [d.message.split("`")[1] for d in plan.diagnostics if d.code == "M022"] == shared
    named = {name for name, _, _ in plan.left_in_float()} | {layer.name for layer in plan.layers if layer.quantize}
    parameters = {name for name, _ in model.named_parameters()}
    # every parameter of the model is quantized with its layer, folded into one, or named as left in float
    folded = {f.bn for f in plan.fusions}
    owners = named | folded
    assert all(any(p == o or p.startswith(o + ".") for o in owners) for p in parameters), parameters


def test_a_layer_the_forward_never_calls_is_left_float_and_the_model_quantizes() -> None:
    import quant

    model, batches = architecture("resnet_fpn")()
    plan = resolve(CONFIG, quant.model_inventory(model, "resnet_fpn", example=batches[0]))
    fc = plan.layer("body.fc")
    assert not fc.quantize and fc.skip.reason == "not_called"
    result = quant.quantize(model, plan, batches, progress=False)
    assert len(result.layers) == 26 and "body.fc" not in {layer.name for layer in result.layers}
