"""LSTM and GRU through ``quant.quantize``: weights and input quantized (stacked and bidirectional ones:
test_recurrent_stacked.py)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import cfglang
import quant
from cfglang.record import parse_record


class Tagger(nn.Module):
    def __init__(self, kind: str, **kw) -> None:
        super().__init__()
        self.rnn = getattr(nn, kind)(input_size=8, hidden_size=16, batch_first=True, **kw)
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out)


def _quantize(model: nn.Module, text: str = "batch_num: 2"):
    torch.manual_seed(1)
    batches = [torch.randn(4, 10, 8) for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = quant.model_inventory(model)
    return quant.quantize(model.eval(), cfglang.resolve(text, inv), batches, progress=False)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_layer_is_quantized_in_the_engine(kind: str) -> None:
    torch.manual_seed(0)
    model = Tagger(kind).eval()
    result = _quantize(model)
    wrapper = result.model.rnn
    assert type(wrapper) is getattr(torch.nn, kind) and wrapper.hidden_size == 16  # the layer, in place
    record = parse_record(result.record)["rnn"]
    gates = 4 if kind == "LSTM" else 3
    # channel_wise defaults to true for LSTM/GRU: one scale per gate channel of each matrix
    assert len(record.scale_w) == 2 * gates * 16
    assert record.scale_d == pytest.approx(wrapper.input_quantizer.scale.item())
    assert record.offset_d == int(wrapper.input_quantizer.offset.item())
    x = torch.randn(3, 10, 8)
    with torch.no_grad():
        got, ref = result.model(x), model(x)
    assert nn.functional.cosine_similarity(got.flatten(), ref.flatten(), dim=0).item() > 0.995
    assert not torch.equal(got, ref)


def test_per_tensor_recurrent_weights() -> None:
    torch.manual_seed(0)
    text = 'batch_num: 2\noverride_layer_types { layer_type: "LSTM" calibration_config { arq_quantize { channel_wise: false } } }'
    result = _quantize(Tagger("LSTM"), text)
    assert len(parse_record(result.record)["rnn"].scale_w) == 2
