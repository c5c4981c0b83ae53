"""quant.fakequant.reused_weight_buffers: dequantized weights computed into kept buffers during the
engine's forwards, never into one that a tensor still refers to."""

from __future__ import annotations

import torch
from torch import nn

from quant.fakequant import quantize_weight_in_place, reused_weight_buffers


def _quantized_linear(seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    layer = nn.Linear(16, 8)
    scale = layer.weight.detach().abs().amax(dim=1) / 127
    codes = torch.round(layer.weight.detach() / scale[:, None]).to(torch.int8)
    quantize_weight_in_place(layer, codes, scale, axis=0, channel_wise=True, bits=8)
    return layer


def test_a_released_weight_buffer_is_reused_and_a_held_one_is_not() -> None:
    a, b = _quantized_linear(0), _quantized_linear(1)
    expected_a, expected_b = a.weight.clone(), b.weight.clone()
    with torch.inference_mode(), reused_weight_buffers():
        first = a.weight
        pointer = first.data_ptr()
        del first
        assert a.weight.data_ptr() == pointer  # released: the same memory again
        held = a.weight
        transposed = held.t()
        del held  # a view still refers to the memory
        other = b.weight
        assert other.data_ptr() != transposed.data_ptr()
        assert torch.equal(transposed.t(), expected_a) and torch.equal(other, expected_b)
    outside = a.weight
    assert torch.equal(outside, expected_a) and outside.data_ptr() not in (pointer, other.data_ptr())


def test_a_model_reading_two_weights_of_one_shape_at_once_sees_both() -> None:
    class Fused(nn.Module):  # concatenates its projections' weights, as fused-QKV code does
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k = _quantized_linear(0), _quantized_linear(1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ torch.cat([self.q.weight, self.k.weight]).t()

    model, x = Fused(), torch.randn(4, 16)
    expected = model(x)
    with torch.inference_mode(), reused_weight_buffers():
        assert torch.equal(model(x), expected) and torch.equal(model(x), expected)
