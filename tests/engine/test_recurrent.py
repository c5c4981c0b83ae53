"""LSTM and GRU fake quantization: weights per tensor or per gate channel, input activation quant."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from quant import recurrent
from quant.fakequant import InputQuantizer, attach_input_quantizer


def _fake_quant(layer: nn.Module, scale_d: float, offset_d: int, channel_wise: bool = False):
    """A quantized copy of ``layer`` as the engine makes it: grid weights, quantized input."""
    fq = copy.deepcopy(layer)
    weights = recurrent.quantize_recurrent_weights(fq, 8, channel_wise)
    quantizer = InputQuantizer()
    quantizer.set(scale_d, offset_d)
    attach_input_quantizer(fq, quantizer)
    return fq, weights


def _layer(kind: str, **kw) -> nn.Module:
    torch.manual_seed(0)
    return getattr(nn, kind)(input_size=6, hidden_size=5, **kw)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("channel_wise", [False, True])
def test_weights_land_on_the_grid_with_reference_scales(kind: str, channel_wise: bool) -> None:
    layer = _layer(kind)
    original = {n: getattr(layer, n).detach().clone() for n in recurrent.WEIGHT_NAMES}
    fq, weights = _fake_quant(layer, 0.05, 0, channel_wise)
    scales = (weights.scale_ih, weights.scale_hh)
    gates = 4 if kind == "LSTM" else 3
    for name, scale in zip(recurrent.WEIGHT_NAMES, scales):
        w = original[name]
        assert w.shape[0] == gates * 5
        if channel_wise:
            ref = torch.tensor([
                (row.abs().max() / (128.0 if row.min().abs() > row.max().abs() else 127.0)).item()
                for row in w
            ])
            view = ref[:, None]
        else:
            ref = w.abs().max() / (128.0 if w.min().abs() > w.max().abs() else 127.0)
            view = ref
        assert torch.allclose(scale, ref)
        q = getattr(fq, name).detach() / view
        assert torch.allclose(q, torch.round(q), atol=1e-4)
        assert q.round().min() >= -128 and q.round().max() <= 127
        # half a step, except at the top when the /128 rule clips the positive end
        err = (getattr(fq, name) - w).abs()
        assert err.max() <= view.max() + 1e-7
        assert err.median() <= view.max() / 2 + 1e-7
    assert len(weights.record_scales()) == (2 * gates * 5 if channel_wise else 2)
    # the user's layer is untouched
    assert torch.equal(layer.weight_ih_l0, original["weight_ih_l0"])


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_input_is_fake_quantized_and_output_stays_close(kind: str) -> None:
    layer = _layer(kind, batch_first=True)
    x = torch.randn(3, 7, 6)
    scale = (x.max() - x.min()).item() / 255
    offset = round(-128 - x.min().item() / scale)
    fq, _ = _fake_quant(layer, scale, offset)
    seen = []
    fq.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))  # after the input quantizer's
    out, _ = fq(x)
    codes = seen[0] / fq.input_quantizer.scale.item() + offset
    assert torch.allclose(codes, torch.round(codes), atol=1e-3)
    ref, _ = layer(x)
    cos = nn.functional.cosine_similarity(out.flatten(), ref.flatten(), dim=0)
    assert cos.item() > 0.999
    assert not torch.equal(out, ref)


def test_state_and_packed_sequences_pass_through() -> None:
    layer = _layer("LSTM")
    fq, _ = _fake_quant(layer, 0.03, 0)
    x = torch.randn(7, 2, 6)
    h0 = (torch.zeros(1, 2, 5), torch.zeros(1, 2, 5))
    out, (h, c) = fq(x, h0)
    assert out.shape == (7, 2, 5) and h.shape == c.shape == (1, 2, 5)
    packed = pack_padded_sequence(x, torch.tensor([7, 4]))
    out_p, _ = fq(packed)
    assert out_p.data.shape == (11, 5)


@pytest.mark.parametrize(
    ("kind", "kw", "why"),
    [
        ("LSTM", {"num_layers": 2}, "num_layers=2"),
        ("GRU", {"bidirectional": True}, "bidirectional"),
        ("LSTM", {"proj_size": 3}, "proj_size=3"),
    ],
)
def test_unsupported_layers_say_why(kind: str, kw: dict, why: str) -> None:
    layer = _layer(kind, **kw)
    reason = recurrent.skip_reason(layer)
    assert reason is not None and why in reason and f"`{kind}`" in reason
    with pytest.raises(ValueError, match=why):
        recurrent.quantize_recurrent_weights(layer, 8, False)


def test_supported_layers_have_no_skip_reason() -> None:
    assert recurrent.skip_reason(_layer("LSTM")) is None
    assert recurrent.skip_reason(_layer("GRU", batch_first=True)) is None
