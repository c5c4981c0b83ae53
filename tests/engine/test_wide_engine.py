"""The engine with 4-bit weights (A8W4) and 16-bit activations (A16W8), issue 15: the fake-quant model,
the record file as AMCT writes it, and the ONNX QDQ model in ONNX Runtime (opset 21).

Plans are hand-built like the INT8 ones (quant_helpers), with the plan's ``target`` of the contract."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from cfglang.plan import ActivationPlan, Fusion
from cfglang.record import parse_record
from quant import QuantizeError, load_fake_quant_model, quantize
from quant.arq import arq_scale
from quant.calibrators import HFMGCalibrator, IFMRCalibrator
from quant.core import HFMGSpec, IFMRSpec
from quant.fakequant import weight_codes, weight_dequantizer
from quant.fold import fold_pairs
from quant.onnx_export import OPSET, WIDE_OPSET, export_qdq, onnx_session, run_onnx
from quant_helpers import MixedConvs, hfmg, ifmr, layer, mixed_plan, plan, small_cnn, small_cnn_plan

TARGET = "amct-9.1"


def batches(n: int = 2, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 3, 8, 8, generator=g) for _ in range(n)]


def wide_plan(**kwargs) -> dict:
    """conv: A16W4 (IFMR), pool: A8 (AvgPool2d is not in AMCT's INT16 table), fc: A16W4 (HFMG)."""
    p = plan([layer("conv", "Conv2d", act={**ifmr(), "bits": 16}, bits=4),
              layer("pool", "AvgPool2d"),
              layer("fc", "Linear", act={**hfmg(), "bits": 16}, bits=4)], fusions=[("conv", "bn")], **kwargs)
    p["target"] = TARGET
    return p


@pytest.fixture(scope="module")
def wide():
    return quantize(small_cnn(), wide_plan(), batches(), progress=False)


def test_weights_are_4_bit_arq_of_the_folded_weight(wide):
    folded = copy.deepcopy(small_cnn())
    fold_pairs(folded, [Fusion("conv", "bn")])
    conv, fc = wide.model.conv, wide.model.fc
    assert wide.layer("conv").weight_bits == 4 and wide.layer("fc").weight_bits == 4
    assert list(wide.layer("conv").scale_w) == arq_scale(folded.conv.weight, 4, channel_wise=True).tolist()
    assert list(wide.layer("fc").scale_w) == [arq_scale(folded.fc.weight, 4, channel_wise=False).item()]
    for wrapper in (conv, fc):
        assert weight_codes(wrapper).dtype == torch.int8 and weight_dequantizer(wrapper).bits == 4
        assert -8 <= int(weight_codes(wrapper).min()) and int(weight_codes(wrapper).max()) <= 7
    # each output channel reaches one end of [-8, 7]: the symmetric scale fits its largest weight
    ends = weight_codes(conv).reshape(8, -1)
    assert all(int(r.max()) == 7 or int(r.min()) == -8 for r in ends)
    scale = weight_dequantizer(conv).scale.reshape(-1, 1, 1, 1)
    torch.testing.assert_close(conv.weight, weight_codes(conv).float() * scale, rtol=0, atol=0)


def test_activations_are_16_bit_calibrations_of_the_layer_inputs(wide):
    # conv is the first layer: its input is the batch itself
    cal = IFMRCalibrator(IFMRSpec.from_plan(ActivationPlan(**{**ifmr(), "bits": 16})), num_batches=2)
    for b in batches():
        cal.observe(b)
    want = cal.compute()
    conv = wide.layer("conv")
    assert (conv.scale_d, conv.offset_d) == (want.scale, want.offset)
    assert wide.model.conv.input_quantizer.offset.dtype == torch.int16 and int(wide.model.conv.input_quantizer.offset) == conv.offset_d
    assert wide.model.conv.input_quantizer.bits == 16 and wide.model.pool.input_quantizer.offset.dtype == torch.int8
    # a 16-bit scale is far below an 8-bit one on the same data, its offset beyond int8
    assert conv.scale_d < 1e-3 and not -128 <= conv.offset_d <= 127
    fc = wide.layer("fc")
    assert fc.activation_algo == "hfmg" and -32768 <= fc.offset_d <= 32767
    # what calibration saw at fc: the folded model with conv's quantized weight, activations in float
    inputs = []
    folded = copy.deepcopy(small_cnn())
    fold_pairs(folded, [Fusion("conv", "bn")])
    with torch.no_grad():
        folded.conv.weight.copy_(wide.model.conv.weight)
    folded.fc.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].detach().clone()))
    hfmg_cal = HFMGCalibrator(HFMGSpec.from_plan(ActivationPlan(**{**hfmg(), "bits": 16})))
    with torch.no_grad():
        for b in batches():
            folded(b)
    for x in inputs:
        hfmg_cal.observe(x)
    want = hfmg_cal.compute()
    assert (fc.scale_d, fc.offset_d) == (want.scale, want.offset)


def test_the_layer_table_shows_the_widths(wide):
    assert [(l.name, l.weight_bits, l.activation_bits) for l in wide.layers] == [
        ("conv", 4, 16), ("pool", None, 8), ("fc", 4, 16)]
    rows = {line.split()[0]: line for line in wide.table().splitlines()[2:]}
    assert "arq 4b per-ch" in rows["conv"] and "ifmr 16b asym" in rows["conv"]
    assert "hfmg 16b asym" in rows["fc"] and "ifmr asym" in rows["pool"]


def test_record_is_what_amct_writes(wide):
    record = parse_record(wide.record)
    assert list(record) == ["conv", "pool", "fc"]
    conv, pool, fc = record["conv"], record["pool"], record["fc"]
    assert conv.act_type == "INT16" and conv.wts_type == "INT4" and not conv.HasField("dst_type")
    assert fc.act_type == "INT16" and fc.wts_type == "INT4" and not fc.HasField("dst_type")
    assert pool.act_type == "INT8" and pool.dst_type == "INT8" and not pool.HasField("wts_type")
    assert list(conv.offset_w) == [0] * 8 and len(fc.scale_w) == 1 and list(fc.offset_w) == [0]
    layer_conv = wide.layer("conv")
    assert conv.offset_d == layer_conv.offset_d and conv.scale_d == np.float32(layer_conv.scale_d)
    assert list(conv.scale_w) == [float(np.float32(s)) for s in layer_conv.scale_w]
    assert wide.plan.target == TARGET


def _types(model: onnx.ModelProto) -> dict[str, int]:
    return {i.name: i.data_type for i in model.graph.initializer}


def test_onnx_is_opset_21_with_int4_weights_and_int16_zero_points(wide):
    model = onnx.load_from_string(wide.onnx_bytes())
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [WIDE_OPSET]
    onnx.checker.check_model(model, full_check=True)
    types = _types(model)
    dq_weights = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in types
                  and types[n.input[0]] == onnx.TensorProto.INT4]
    assert len(dq_weights) == 2 and all(types[n.input[2]] == onnx.TensorProto.INT4 for n in dq_weights)
    zero_points = {n.input[1].split(".")[0]: types[n.input[2]] for n in model.graph.node
                   if n.op_type == "QuantizeLinear"}
    assert zero_points == {"conv": onnx.TensorProto.INT16, "pool": onnx.TensorProto.INT8,
                           "fc": onnx.TensorProto.INT16}
    codes = onnx.numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == dq_weights[0].input[0]))
    assert np.array_equal(codes.astype(np.int8), weight_codes(wide.model.conv).numpy())


def test_onnx_runtime_agrees_with_the_fake_quant_model(wide):
    session = onnx_session(wide.onnx_bytes(), exact=True)
    for seed in (0, 7):
        x = batches(1, seed=seed)[0]
        with torch.no_grad():
            want = wide.model(x).numpy()
        got = run_onnx(session, x)
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    # ONNX Runtime's defaults run it too (int4 MatMul on int8-quantized activations, an int32 bias)
    got = run_onnx(onnx_session(wide.onnx_bytes()), x)
    assert np.abs(got - want).max() <= 2e-2 * np.abs(want).max()


@pytest.mark.parametrize("act_bits, weight_bits", [(16, 8), (8, 4)])
def test_one_wide_tensor_kind_is_enough_for_opset_21(act_bits, weight_bits):
    p = plan([layer("conv", "Conv2d", act={**ifmr(), "bits": act_bits}, bits=weight_bits),
              layer("pool", "AvgPool2d"), layer("fc", "Linear", bits=8)], fusions=[("conv", "bn")])
    p["target"] = TARGET
    result = quantize(small_cnn(), p, batches(), progress=False)
    model = onnx.load_from_string(result.onnx_bytes())
    assert model.opset_import[0].version == WIDE_OPSET
    types = set(_types(model).values())
    assert (onnx.TensorProto.INT16 in types) == (act_bits == 16)
    assert (onnx.TensorProto.INT4 in types) == (weight_bits == 4)
    record = parse_record(result.record)
    assert record["conv"].act_type == f"INT{act_bits}" and record["conv"].wts_type == f"INT{weight_bits}"
    assert record["fc"].dst_type == "INT8" and record["fc"].wts_type == "INT8"
    assert_exact_in_onnx_runtime(result, batches(1, seed=3)[0])


def assert_exact_in_onnx_runtime(result, x: torch.Tensor) -> None:
    """ONNX Runtime without its integer rewrites computes the fake-quant model's output (float32 rounding)."""
    with torch.no_grad():
        want = result.model(x).numpy()
    got = run_onnx(onnx_session(result.onnx_bytes(), exact=True), x)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_every_conv_kind_at_4_bits_with_16_bit_activations():
    # Conv1d, ConvTranspose1d, grouped Conv2d, grouped ConvTranspose2d (output channels on axis 1), and a
    # Conv3d (not in AMCT's INT16 table: 8-bit activations); a plan without a target is `documented`, which
    # has neither width: the plan names one
    torch.manual_seed(0)
    model = MixedConvs().eval()
    data = [(torch.randn(2, 4, 8), torch.randn(2, 2, 4, 4, 4)) for _ in range(2)]
    p = mixed_plan()
    for entry in p["layers"]:
        entry["weight"]["bits"] = 4
        entry["activation"]["bits"] = 8 if entry["type"] == "Conv3d" else 16
    p["target"] = TARGET
    result = quantize(model, p, data, progress=False)
    assert all(l.weight_bits == 4 for l in result.layers)
    assert len(result.layer("t2").scale_w) == 3 and weight_codes(result.model.t2).abs().max() <= 8
    session = onnx_session(result.onnx_bytes(), exact=True)
    got = session.run(None, {i.name: v.numpy() for i, v in zip(session.get_inputs(), data[0])})[0]
    with torch.no_grad():
        img, _ = result.model(*data[0])
    assert np.abs(got - img.numpy()).max() <= 1e-5 * float(img.abs().max())


@pytest.mark.parametrize("bits", [8, 6])
def test_8_bit_models_still_export_at_opset_13(bits):
    p = small_cnn_plan()
    p["layers"][0]["weight"]["bits"] = bits
    result = quantize(small_cnn(), p, batches(), progress=False)
    model = onnx.load_from_string(export_qdq(result.model, batches(1)[0]))
    assert model.opset_import[0].version == OPSET == 13
    types = set(_types(model).values())
    assert onnx.TensorProto.INT8 in types and not types & {onnx.TensorProto.INT4, onnx.TensorProto.INT16}
    assert_exact_in_onnx_runtime(result, batches(1, seed=2)[0])


def test_save_and_load_a_wide_model(tmp_path, wide):
    paths = wide.save(tmp_path / "out").written
    payload = torch.load(paths["fake_quant_model.pt"], weights_only=True)
    assert payload["state_dict"]["conv.input_quantizer.offset"].dtype == torch.int16
    rebuilt = load_fake_quant_model(paths["fake_quant_model.pt"], small_cnn)
    x = batches(1, seed=9)[0]
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), wide.model(x), rtol=0, atol=0)
    assert onnx.load(str(paths["model_qdq.onnx"])).opset_import[0].version == WIDE_OPSET
    assert parse_record(paths["record.txt"].read_text())["conv"].act_type == "INT16"


def amct_cast_fp16(value: float) -> float:
    """AMCT's ``cast_fp16_precision`` (common/utils/util.py), written out with numpy."""
    data = np.array(value)
    if data > 65504.0 or data < 2.0 ** -14:
        data = np.sqrt(data).astype(np.half).astype(np.float32)
        return float(data * data)
    return float(data.astype(np.half).astype(np.float32))


def test_force_fp16_at_16_bits_rounds_the_square_root():
    result = quantize(small_cnn(), wide_plan(fakequant_precision_mode="FORCE_FP16_QUANT"), batches(), progress=False)
    plain = quantize(small_cnn(), wide_plan(), batches(), progress=False)
    for name in ("conv", "pool", "fc"):
        raw = plain.layer(name).scale_d
        assert result.layer(name).scale_d == amct_cast_fp16(raw)
        assert float(result.model.get_submodule(name).input_quantizer.scale) == amct_cast_fp16(raw)
    raw = plain.layer("fc").scale_d
    assert raw < 2.0 ** -14  # where a plain float16 cast would be subnormal, with fewer digits
    assert result.layer("fc").scale_d != float(np.float32(np.float16(raw)))
    assert 2.0 ** -14 < plain.layer("conv").scale_d  # conv's input range is over 4: a plain cast
    assert 'fakequant_precision_mode: "FORCE_FP16_QUANT"' in result.record


@pytest.mark.parametrize("act_bits, weight_bits", [(16, 8), (8, 4)])
def test_lstm_a16w8_and_a8w4(act_bits, weight_bits):
    model = nn.Sequential(nn.LSTM(4, 4)).eval()
    p = plan([layer("0", "LSTM", act={**ifmr(), "bits": act_bits},
                    weight={"algo": "arq", "bits": weight_bits, "channel_wise": True})])
    p["target"] = "amct-9.2"  # LSTM joins AMCT's INT16 table there
    g = torch.Generator().manual_seed(1)
    data = [torch.randn(2, 3, 4, generator=g) for _ in range(2)]
    result = quantize(model, p, data, progress=False)
    wrapper = result.model[0]
    assert wrapper.input_quantizer.offset.dtype == (torch.int16 if act_bits == 16 else torch.int8)
    assert int(wrapper.input_quantizer.offset) == result.layer("0").offset_d
    record = parse_record(result.record)["0"]
    assert record.act_type == f"INT{act_bits}" and record.wts_type == f"INT{weight_bits}"
    # the recurrent weights stay float tensors on their grid: at 4 bits, 16 levels per row at most
    weight = wrapper.weight_ih_l0.detach()
    scales = torch.tensor(result.layer("0").scale_w[:16]).reshape(-1, 1)
    codes = weight / scales
    torch.testing.assert_close(codes, torch.round(codes), rtol=0, atol=1e-4)
    assert int(codes.round().min()) >= qmin(weight_bits) and int(codes.round().max()) <= -qmin(weight_bits) - 1
    with torch.no_grad():
        out, _ = result.model(data[0])
        ref, _ = model(data[0])
    assert torch.nn.functional.cosine_similarity(out.flatten(), ref.flatten(), 0) > (0.999 if weight_bits == 8 else 0.95)
    got = run_onnx(onnx_session(result.onnx_bytes(), exact=True), data[0])
    assert np.abs(got - out.numpy()).max() <= 1e-5 * np.abs(out.numpy()).max()


def qmin(bits: int) -> int:
    return -(2 ** (bits - 1))


@pytest.mark.parametrize("weight, act, message", [
    ({"algo": "ada", "bits": 4, "channel_wise": True}, ifmr(),
     r"plan: not a valid plan: `layers\[0\]\.weight\.bits`: found 4, expected one of 8"),
    ({"algo": "arq", "bits": 5, "channel_wise": True}, ifmr(),
     r"`layers\[0\]\.weight\.bits`: found 5, expected one of 4, 6, 7, 8"),
    ({"algo": "arq", "bits": 8, "channel_wise": True}, {**ifmr(), "bits": 12},
     r"`layers\[0\]\.activation\.bits`: found 12, expected one of 8, 16"),
])
def test_widths_the_engine_cannot_execute_are_refused_before_any_work(weight, act, message):
    calls = []
    model = small_cnn()
    model.register_forward_pre_hook(lambda m, a: calls.append(1))
    p = plan([layer("conv", "Conv2d", act=act, weight=weight)], fusions=[("conv", "bn")])
    with pytest.raises(QuantizeError, match=message):
        quantize(model, p, batches(), progress=False)
    assert not calls


# A8W4 and A16W8 as AMCT's own configs write them (dst_type in the activation block, quant_bits in
# arq_quantize; hicann/amct tests/.../configuration/utils/*.cfg use both), resolved for the target
CFG = """batch_num: 2
common_config {
  arq_quantize { quant_bits: 4 }
  ifmr_quantize { dst_type: INT16 }
}
override_layer_types {
  layer_type: "Linear"
  calibration_config {
    arq_quantize { quant_bits: 4 }
    hfmg_quantize { dst_type: INT16 }
  }
}
"""


def test_end_to_end_from_a_cfg_is_the_hand_built_plan(wide):
    import cfglang
    from quant import model_inventory

    model = small_cnn()
    resolved = cfglang.resolve(CFG, model_inventory(model), target=TARGET)
    assert not [d for d in resolved.diagnostics if d.severity.name == "ERROR"]
    assert resolved.to_dict()["target"] == TARGET
    result = quantize(model, resolved, batches(), progress=False)
    # AvgPool2d is not in AMCT's INT16 table: common_config's INT16 falls back to INT8 there
    assert [(l.name, l.weight_bits, l.activation_algo) for l in result.layers] == [
        ("conv", 4, "ifmr"), ("pool", None, "ifmr"), ("fc", 4, "hfmg")]
    assert result.record == wide.record
    assert_exact_in_onnx_runtime(result, batches(1, seed=4)[0])


@pytest.mark.parametrize("target, kind, weight_bits, act_bits, message", [
    ("documented", "Conv2d", 4, 8, r"layer `0` \(Conv2d\) has weight bits `4`, which target `documented` does not "
                                   r"give Conv2d"),
    ("documented", "Conv2d", 8, 16, r"layer `0` \(Conv2d\) has activation bits `16`, which target `documented` "
                                    r"does not give Conv2d"),
    ("amct-9.1", "Conv3d", 8, 16, r"has activation bits `16`, which target `amct-9.1` does not give Conv3d"),
    ("amct-9.1", "Linear", 6, 8, r"has weight bits `6`, which target `amct-9.1` does not give Linear"),
    ("no-such", "Linear", 8, 8, r"`target`: found \"no-such\", expected one of \"documented\""),
])
def test_a_plan_is_executed_only_as_its_target_allows(target, kind, weight_bits, act_bits, message):
    module = {"Conv2d": nn.Conv2d(3, 4, 3), "Conv3d": nn.Conv3d(3, 4, 3), "Linear": nn.Linear(3, 4)}[kind]
    p = plan([layer("0", kind, act={**ifmr(), "bits": act_bits}, bits=weight_bits)])
    p["target"] = target
    with pytest.raises(QuantizeError, match=message):
        quantize(nn.Sequential(module).eval(), p, [torch.randn(2, 3, 5, 5, 5)] * 2, progress=False)


def test_lstm_16_bit_needs_the_target_that_has_it():
    model = nn.Sequential(nn.LSTM(4, 4)).eval()
    p = plan([layer("0", "LSTM", act={**ifmr(), "bits": 16}, weight={"algo": "arq", "bits": 8, "channel_wise": False})])
    p["target"] = "amct-9.1"
    with pytest.raises(QuantizeError, match=r"activation bits `16`, which target `amct-9.1` does not give LSTM"):
        quantize(model, p, [torch.randn(2, 3, 4)] * 2, progress=False)
    p["target"] = "amct-9.2"
    assert quantize(model, p, [torch.randn(2, 3, 4)] * 2, progress=False).layer("0").offset_d is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_wide_fake_quant_model_runs_on_gpu(wide):
    x = batches(1)[0]
    with torch.no_grad():
        cpu = wide.model(x)
        gpu = copy.deepcopy(wide.model).cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)
