"""Every architecture of the zoo quantizes with IFMR, HFMG and DMQ: all outputs written, ONNX Runtime
agrees with the fake-quant model, the saved model reloads exactly, the user's model and its shared
tensors are untouched, and every quantized layer keeps its class and attributes."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import cfglang
from quant.core import output_tensors, run_batch

from .architectures import ARCHITECTURES, Architecture

CONFIGS = {
    "ifmr": "batch_num: 2\n",
    "hfmg": "batch_num: 2\ncommon_config { hfmg_quantize { num_of_bins: 4096 } }\n",
    "dmq": "batch_num: 2\ncommon_config { dmq_balancer { migration_strength: 0.5 } }\n",
}

#: fake-quant model against FP32 on a batch it was not calibrated on: random weights and two small
#: calibration batches, so only a floor that catches a broken layer (measured: bench/zoo.py zoo)
FP32_FLOOR = 0.9


def _params() -> list:
    return [pytest.param(arch, id=arch.name, marks=[pytest.mark.slow] if arch.needs_transformers else [])
            for arch in ARCHITECTURES]


def _first(output) -> np.ndarray:
    return next(iter(output_tensors(output)))[1].detach().numpy()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _fingerprint(model: nn.Module) -> dict[str, str]:
    return {name: hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()
            for name, t in model.state_dict(keep_vars=True).items()}


@pytest.mark.parametrize("arch", _params())
def test_quantize_save_export_reload(arch: Architecture, tmp_path) -> None:
    if arch.needs_transformers:
        pytest.importorskip("transformers")
    import quant

    model, batches = arch()
    before = _fingerprint(model)
    ties = {id(p) for p in model.parameters()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inventory = quant.model_inventory(model, example=batches[0])
    with torch.no_grad():
        reference = _first(run_batch(model, batches[1]))
    for name, config in CONFIGS.items():
        plan = cfglang.resolve(config, inventory)
        result = quant.quantize(model, plan, batches, progress=False)
        # no weight left in float without a line saying why: each weighted module (or parameter) is
        # quantized, folded into the convolution before it, or in the plan's list with its reason
        quantized = {layer.name for layer in result.layers}
        folded = {fusion.bn for fusion in plan.fusions} if plan.do_fusion else set()
        said = {name for name, _, reason in plan.left_in_float() if reason}
        for module_name, module in model.named_modules():
            for param_name, _ in module.named_parameters(recurse=False):
                full = f"{module_name}.{param_name}" if module_name else param_name
                assert module_name in quantized | folded | said or full in said, f"{name}: {full} left silently"
        assert _fingerprint(model) == before, f"{name}: the user's model changed"
        assert {id(p) for p in model.parameters()} == ties, f"{name}: the user's model lost or gained a tensor"
        originals = dict(model.named_modules())
        for layer in result.layers:  # quantized in place: the class (a subclass) and the attributes stay
            module = result.model.get_submodule(layer.name)
            assert isinstance(module, type(originals[layer.name])), layer.name
            assert hasattr(module, "input_quantizer"), layer.name
            if hasattr(originals[layer.name], "weight"):
                assert module.weight.shape == originals[layer.name].weight.shape, layer.name
                assert module.weight.dtype == originals[layer.name].weight.dtype, layer.name
        with torch.no_grad():
            fake = _first(run_batch(result.model, batches[1]))
        assert _cosine(fake, reference) >= FP32_FLOOR, name
        if name != "dmq":
            continue
        # the run with every algorithm's state (DMQ balance, IFMR): every output, ONNX and a reload
        saved = result.save(tmp_path / name)
        assert not saved.failed, saved.failed
        assert sorted(saved.written) == sorted(quant.result.OUTPUT_FILES)
        session = quant.onnx_export.onnx_session(saved.written["model_qdq.onnx"].read_bytes(), exact=True)
        with torch.no_grad():
            expected = _first(run_batch(result.model, batches[0]))
        ort = quant.onnx_export.run_onnx(session, batches[0])
        assert _cosine(ort, expected) >= 0.9999
        factory_model, _ = arch()
        loaded = quant.load_fake_quant_model(saved.written["fake_quant_model.pt"], factory_model)
        with torch.no_grad():
            assert np.array_equal(_first(run_batch(loaded, batches[1])), fake)
