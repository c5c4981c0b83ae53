"""AdaRound and DMQ through ``quant.quantize`` on the bundled digits CNN: record, fake-quant model, ONNX."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

import cfglang
import quant
from cfglang.record import parse_record
from quant import demo, dmq
from quant.binding import layer_specs
from quant.core import run_batch
from quant.fakequant import weight_codes


@pytest.fixture(scope="module")
def setup(folded_digits):
    data = demo.load_digits_data()
    model = folded_digits.original
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = quant.model_inventory(model)
    return model, data, inv


def _run(setup, text: str):
    model, data, inv = setup
    plan = cfglang.resolve(text, inv)
    return quant.quantize(model, plan, demo.calibration_batches(data, plan.to_dict()["batch_num"]), progress=False)


def test_dmq_factors_in_record_fake_quant_model_and_onnx(setup) -> None:
    model, data, _ = setup
    result = _run(setup, "batch_num: 2\ncommon_config { dmq_balancer { migration_strength: 0.5 } }")
    record = parse_record(result.record)
    balanced = [n for n, m in result.model.named_modules() if getattr(m, "input_quantizer", None) is not None
                and m.input_quantizer.balance is not None]
    assert balanced == ["conv1", "conv2", "conv3", "fc"]  # AvgPool2d takes no dmq_balancer
    for name in balanced:
        factors = result.balance_factors[name]
        assert torch.isfinite(factors).all() and (factors > 0).all()
        assert list(record[name].tensor_balance_factor) == pytest.approx(factors.tolist(), rel=1e-6)
        assert torch.equal(result.model.get_submodule(name).input_quantizer.balance, factors.float())
    with torch.no_grad():
        ref = model(data.test_x)
        out = result.model(data.test_x)
    assert demo.accuracy(out, data.test_y) >= demo.accuracy(ref, data.test_y) - 0.5
    from quant.onnx_export import export_qdq, onnx_session, run_onnx

    onnx_bytes = export_qdq(result.model, data.test_x[:4])
    import onnx

    ops = {node.op_type for node in onnx.load_from_string(onnx_bytes).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Div"} <= ops
    got = run_onnx(onnx_session(onnx_bytes, exact=True), data.test_x)
    agree = (got.argmax(1) == out.numpy().argmax(1)).mean()
    assert agree >= 0.995
    assert np.corrcoef(got.ravel(), out.numpy().ravel())[0, 1] > 0.999


def test_balance_pass_without_quantization_keeps_the_float_output(setup) -> None:
    model, data, inv = setup
    plan = cfglang.resolve("common_config { dmq_balancer { migration_strength: 0.8 } }", inv)
    specs = [spec for spec in layer_specs(model, plan) if spec.dmq_balancer is not None]
    work = copy.deepcopy(model)
    factors = dmq.balance_pass(work, specs, [data.train_x[:64]])
    assert set(factors) == {"conv1", "conv2", "conv3", "fc"}
    assert any(not torch.allclose(f, torch.ones_like(f)) for f in factors.values())
    with torch.no_grad(), dmq.balanced_inputs(work):
        got = run_batch(work, data.test_x)
    ref = model(data.test_x).detach()
    assert ((got - ref).norm() / ref.norm()).item() <= 1e-5
    # the weights really moved: without the divide, the output changes
    with torch.no_grad():
        assert ((work(data.test_x) - ref).norm() / ref.norm()).item() > 1e-3


def test_adaround_in_the_engine_beats_nearest_with_the_same_scales(setup) -> None:
    model, data, _ = setup
    arq = _run(setup, "batch_num: 4\ncommon_config { arq_quantize { channel_wise: true } }")
    ada = _run(setup, "batch_num: 4\ncommon_config { ada_quantize { num_iteration: 120 channel_wise: true } }")
    with torch.no_grad():
        ref = model(data.test_x)
        err_arq = (arq.model(data.test_x) - ref).pow(2).mean().item()
        err_ada = (ada.model(data.test_x) - ref).pow(2).mean().item()
    assert err_ada < 0.8 * err_arq
    rec_arq, rec_ada = parse_record(arq.record), parse_record(ada.record)
    for name in ("conv1", "conv2", "conv3"):  # Conv2d takes ada; the scales are ARQ's
        assert list(rec_ada[name].scale_w) == pytest.approx(list(rec_arq[name].scale_w))
        layer_ada, layer_arq = ada.model.get_submodule(name), arq.model.get_submodule(name)
        moved = (weight_codes(layer_ada).int() - weight_codes(layer_arq).int()).abs()
        assert moved.max() <= 1 and moved.sum() > 0
    by_name = {layer.name: layer for layer in ada.layers}
    assert by_name["conv1"].weight_algo == "ada" and by_name["fc"].weight_algo == "ada"


def test_adaround_and_dmq_together(setup) -> None:
    model, data, _ = setup
    result = _run(setup, "batch_num: 1\ncommon_config { ada_quantize { num_iteration: 20 }"
                         " dmq_balancer { migration_strength: 0.5 } }")
    with torch.no_grad():
        out = result.model(data.test_x)
        ref = model(data.test_x)
    assert torch.isfinite(out).all()
    assert demo.accuracy(out, data.test_y) >= demo.accuracy(ref, data.test_y) - 1.0
    assert parse_record(result.record)["fc"].tensor_balance_factor
