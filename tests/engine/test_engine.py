"""quant.quantize: the flow, its errors, and what it returns and saves."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from cfglang.plan import Fusion, Plan, WeightPlan
from cfglang.record import parse_record
from quant import QuantizeError, load_fake_quant_model, quantize
from quant.fakequant import weight_dequantizer
from quant.fold import fold_pairs
from quant.onnx_export import onnx_session
from quant.result import OUTPUT_FILES, OutputDirError
from quant_helpers import MixedConvs, hfmg, layer, mixed_plan, plan, small_cnn, small_cnn_plan


def batches(n: int = 2, size: int = 4, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(size, 3, 8, 8, generator=g) for _ in range(n)]


@pytest.fixture(scope="module")
def cnn_result():
    model = small_cnn()
    return model, quantize(model, small_cnn_plan(), batches(), layer_cosines=True, progress=False)


def test_user_model_is_not_modified(cnn_result):
    model = small_cnn()
    before = copy.deepcopy(model.state_dict())
    quantize(model, small_cnn_plan(), batches(), progress=False)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert isinstance(model.bn, nn.BatchNorm2d)
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


def test_result_layers_and_record(cnn_result):
    _, result = cnn_result
    assert [l.name for l in result.layers] == ["conv", "pool", "fc"]
    conv = result.layer("conv")
    assert conv.weight_bits == 8 and conv.channel_wise and len(conv.scale_w) == 8
    assert result.layer("pool").scale_w == () and result.layer("pool").weight_sqnr_db is None
    assert all(l.output_cosine > 0.99 for l in result.layers)
    assert conv.weight_sqnr_db > 30
    record = parse_record(result.record)
    assert list(record) == ["conv", "pool", "fc"]
    assert record["conv"].scale_d == pytest.approx(conv.scale_d) and record["conv"].offset_d == conv.offset_d
    assert list(record["conv"].offset_w) == [0] * 8 and len(record["fc"].scale_w) == 1
    assert record["conv"].wts_type == "INT8" and record["conv"].act_type == "INT8"


def test_without_layer_cosines_no_output_cosine_is_computed():
    result = quantize(small_cnn(), small_cnn_plan(), batches(), progress=False)
    assert [layer.output_cosine for layer in result.layers] == [None, None, None]


def test_output_cosine_is_the_float64_cosine_of_the_layer_outputs(cnn_result):
    model, result = cnn_result
    folded = copy.deepcopy(model)
    fold_pairs(folded, [Fusion("conv", "bn")])
    outputs: dict[str, list[torch.Tensor]] = {"float": [], "quant": []}
    for key, net in (("float", folded), ("quant", result.model)):
        for name in ("conv", "pool", "fc"):
            net.get_submodule(name).register_forward_hook(
                lambda _m, _a, out, key=key: outputs[key].append(out.detach().double().reshape(-1)))
        with torch.no_grad():
            net(batches()[0])
    for layer, a, b in zip(result.layers, outputs["float"], outputs["quant"], strict=True):
        # products are rounded to float32 before the float64 sums
        assert layer.output_cosine == pytest.approx(float(a @ b / (a.norm() * b.norm())), abs=1e-7)


def test_fake_quant_model_uses_integer_grid(cnn_result):
    _, result = cnn_result
    conv = result.model.conv
    w = conv.weight
    scale = weight_dequantizer(conv).scale.reshape(-1, 1, 1, 1)
    torch.testing.assert_close(w / scale, torch.round(w / scale), rtol=0, atol=1e-4)
    assert isinstance(result.model.bn, nn.Identity)
    x = batches(1, seed=5)[0]
    with torch.no_grad():
        assert torch.nn.functional.cosine_similarity(result.model(x).flatten(), small_cnn()(x).flatten(), 0) > 0.99


def test_fewer_batches_fail_before_any_work():
    calls = []
    model = small_cnn()
    model.register_forward_pre_hook(lambda m, a: calls.append(1))
    with pytest.raises(QuantizeError, match=r"got 1 calibration batch, expected `batch_num` = 3"):
        quantize(model, small_cnn_plan(batch_num=3), batches(1), progress=False)
    assert not calls


def test_extra_batches_are_ignored_and_not_consumed():
    taken = []

    def stream():
        for i, b in enumerate(batches(5)):
            taken.append(i)
            yield b

    quantize(small_cnn(), small_cnn_plan(batch_num=2), stream(), progress=False)
    assert taken == [0, 1]


def test_train_mode_is_an_error():
    with pytest.raises(QuantizeError, match=r"train mode.*model\.eval\(\)"):
        quantize(small_cnn().train(), small_cnn_plan(), batches(), progress=False)


def test_nan_batch_names_layer_and_batch():
    data = batches(2)
    data[1][0, 0, 0, 0] = float("nan")
    model = small_cnn()
    with pytest.raises(QuantizeError, match=r"layer `conv`: calibration batch 1 has nan or inf"):
        quantize(model, small_cnn_plan(), data, progress=False)
    assert all(not m._forward_pre_hooks for m in model.modules())


def test_nan_found_at_a_later_layer_still_names_the_first_layer_and_batch(monkeypatch):
    # a small buffer: `pool` (2,048 values a batch) flushes, and finds the nan, before `conv` does
    from quant.calibrators import IFMRCalibrator

    monkeypatch.setattr(IFMRCalibrator, "BUFFER_CAP", 5000)
    data = batches(6)
    data[1][2, 1, 3, 3] = float("inf")
    with pytest.raises(QuantizeError, match=r"layer `conv`: calibration batch 1 has nan or inf"):
        quantize(small_cnn(), small_cnn_plan(batch_num=6), data, progress=False)


def test_nan_in_a_late_batch_is_named_after_buffering():
    data = batches(5)
    data[3][1, 0, 2, 2] = float("nan")
    with pytest.raises(QuantizeError, match=r"layer `conv`: calibration batch 3 has nan or inf"):
        quantize(small_cnn(), small_cnn_plan(batch_num=5), data, progress=False)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_layer_is_quantized_and_a_stacked_one_is_a_clear_diagnostic(kind):
    # engine II (quant.recurrent) quantizes single-layer unidirectional LSTM/GRU; a plan that quantizes
    # another one is refused (a resolved plan leaves it in float: test_recurrent_stacked.py)
    model = nn.Sequential(getattr(nn, kind)(4, 4)).eval()
    result = quantize(model, plan([layer("0", kind, weight={"algo": "arq", "bits": 8, "channel_wise": False})]),
                      [torch.randn(2, 3, 4)] * 2, progress=False)
    assert type(result.model[0]) is getattr(nn, kind) and result.model[0].input_quantizer is not None
    stacked = nn.Sequential(nn.Linear(4, 4), getattr(nn, kind)(4, 4, num_layers=2)).eval()
    with pytest.raises(QuantizeError, match=rf"plan layer `1` is quantized, but `{kind}` has num_layers=2"):
        quantize(stacked, plan([layer("0", "Linear"),
                                layer("1", kind, weight={"algo": "arq", "bits": 8, "channel_wise": False})]),
                 [torch.randn(2, 3, 4)] * 2, progress=False)


def test_plan_errors():
    model = small_cnn()
    with pytest.raises(QuantizeError, match="`nope` is not a module"):
        quantize(model, plan([layer("nope", "Conv2d")]), batches(), progress=False)
    with pytest.raises(QuantizeError, match="has type `Linear`, but the model's module is a `Conv2d`"):
        quantize(model, plan([layer("conv", "Linear")]), batches(), progress=False)
    unknown = {"algo": "foo", "bits": 8, "channel_wise": False}
    with pytest.raises(QuantizeError, match=r"plan: not a valid plan: `layers\[0\]\.weight\.algo`: found \"foo\""):
        quantize(model, plan([layer("fc", "Linear", weight=unknown)]), batches(), progress=False)
    typed = Plan.from_dict(plan([layer("fc", "Linear")]))
    typed = dataclasses.replace(typed, layers=(dataclasses.replace(typed.layers[0], weight=WeightPlan(**unknown)),))
    with pytest.raises(QuantizeError, match="layer `fc`: weight algorithm `foo` is not supported by this engine"):
        quantize(model, typed, batches(), progress=False)
    with pytest.raises(QuantizeError, match="quantizes no layer"):
        quantize(model, plan([layer("fc", "Linear", quantize=False)]), batches(), progress=False)
    with pytest.raises(QuantizeError, match="single tensor"):
        quantize(model, small_cnn_plan(), torch.randn(2, 3, 8, 8), progress=False)


def test_skipped_layers_stay_float():
    p = plan([layer("conv", "Conv2d", quantize=False), layer("fc", "Linear")], fusions=[("conv", "bn")])
    result = quantize(small_cnn(), p, batches(), progress=False)
    assert isinstance(result.model.conv, nn.Conv2d) and [l.name for l in result.layers] == ["fc"]


def test_fp16_scale_and_hfmg():
    result = quantize(small_cnn(), small_cnn_plan(act=hfmg(), fakequant_precision_mode="FORCE_FP16_QUANT"),
                      batches(), progress=False)
    for l in result.layers:
        assert l.scale_d == float(np.float32(np.float16(l.scale_d)))
    assert 'fakequant_precision_mode: "FORCE_FP16_QUANT"' in result.record


def test_plan_object_from_cfglang_resolve():
    import cfglang
    from quant import model_inventory

    model = small_cnn()
    text = "batch_num: 2\ncommon_config { arq_quantize { channel_wise: false } hfmg_quantize { num_of_bins: 1024 } }\n"
    resolved = cfglang.resolve(text, model_inventory(model))
    result = quantize(model, resolved, batches(), progress=False)
    assert result.layer("conv").activation_algo == "hfmg" and not result.layer("conv").channel_wise
    assert result.plan.fusions == (Fusion("conv", "bn"),)


def test_mixed_conv_kinds_and_tuple_batches_export_to_onnx(tmp_path):
    torch.manual_seed(0)
    model = MixedConvs().eval()
    data = [(torch.randn(2, 4, 8), torch.randn(2, 2, 4, 4, 4)) for _ in range(2)]
    result = quantize(model, mixed_plan(), data, progress=False)
    assert len(result.layer("t2").scale_w) == 3  # ConvTranspose2d(8, 6, groups=2): dim 1 holds 3
    assert len(result.layer("t1").scale_w) == 4
    assert result.layer("c3").offset_d == 0  # symmetric
    session = onnx_session(result.onnx_bytes(), exact=True)
    feed = {i.name: v.numpy() for i, v in zip(session.get_inputs(), data[0])}
    ort_img = session.run(None, feed)[0]
    with torch.no_grad():
        img, _ = result.model(*data[0])
    assert np.allclose(ort_img, img.numpy(), atol=1e-3 * float(img.abs().max()))


def test_save_load_and_overwrite(tmp_path, cnn_result):
    _, result = cnn_result
    saved = result.save(tmp_path / "out")
    paths = saved.written
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(paths) == sorted(OUTPUT_FILES)
    assert not saved.skipped and not saved.failed
    config = json.loads(paths["config.json"].read_text())
    assert config["batch_num"] == 2 and config["conv"]["weight_quant_params"]["wts_algo"] == "arq_quantize"
    assert json.loads(paths["plan.json"].read_text()) == result.plan.to_dict()
    assert parse_record(paths["record.txt"].read_text())
    payload = torch.load(paths["fake_quant_model.pt"], weights_only=True)
    assert payload["state_dict"]["conv.parametrizations.weight.original"].dtype == torch.int8
    rebuilt = load_fake_quant_model(paths["fake_quant_model.pt"], small_cnn)
    x = batches(1, seed=9)[0]
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), result.model(x), rtol=0, atol=0)
    payload["version"] = 1  # the wrapper-module layout of earlier releases
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="format version 1, expected 2: it was written by an earlier amct-cfg"):
        load_fake_quant_model(tmp_path / "old.pt", small_cnn)
    graph = onnx.load(str(paths["model_qdq.onnx"])).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= ops or {"QuantizeLinear", "DequantizeLinear",
                                                                             "Conv", "MatMul"} <= ops
    int8 = [i for i in graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4]
    assert int8, "the conv weight is an int8 initializer"
    axis = [a.i for n in graph.node if n.op_type == "DequantizeLinear" for a in n.attribute if a.name == "axis"]
    assert axis == [0]  # the per-channel conv weight; the Linear is per tensor
    stamp = paths["record.txt"].stat().st_mtime_ns
    with pytest.raises(OutputDirError, match="overwrite=True"):
        result.save(tmp_path / "out")
    assert paths["record.txt"].stat().st_mtime_ns == stamp
    result.save(tmp_path / "out", overwrite=True)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_failed_export_keeps_the_other_outputs(tmp_path, cnn_result):
    _, result = cnn_result
    saved = result.save(tmp_path / "out", example_inputs=torch.randn(1, 7))  # wrong shape for the ONNX trace
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(saved.written) == sorted(
        n for n in OUTPUT_FILES if n != "model_qdq.onnx")
    assert list(saved.failed) == ["model_qdq.onnx"] and "\n" not in saved.failed["model_qdq.onnx"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_fake_quant_model_runs_on_gpu(cnn_result):
    _, result = cnn_result
    x = batches(1)[0]
    with torch.no_grad():
        cpu = result.model(x)
        gpu = copy.deepcopy(result.model).cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)
