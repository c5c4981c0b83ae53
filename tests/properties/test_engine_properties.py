"""Engine properties on the real pipeline (config -> resolve -> ``quant.quantize``).

For models with random weights and configs drawn over bits and channel_wise:
every fake-quantized layer's weight is ``codes * scale`` with integer codes in
the signed bit range of the resolved plan, the scales are those written to the
record, and inside the clip range each weight moved by at most ``scale / 2``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import cfglang  # noqa: E402


class Model(nn.Module):
    def __init__(self, seed: int, spread: str, magnitude: float) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4 * 4 * 4, 5)
        with torch.no_grad():
            for layer in (self.conv, self.fc):
                w = torch.randn(layer.weight.shape, generator=g)
                if spread == "uniform":
                    w = torch.rand(layer.weight.shape, generator=g) * 2 - 1
                elif spread == "outlier":
                    w.view(-1)[0] = 40.0
                elif spread == "positive":
                    w = w.abs()
                elif spread == "negative":
                    w = -w.abs()
                layer.weight.copy_(w * magnitude)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flat(self.relu(self.conv(x))))


@given(
    seed=st.integers(0, 2**16),
    spread=st.sampled_from(["normal", "uniform", "outlier", "positive", "negative"]),
    magnitude=st.sampled_from([1e-4, 0.05, 1.0, 30.0]),
    bits=st.sampled_from([6, 7, 8]),
    channel_wise=st.booleans(),
)
def test_fake_quant_weights_lie_on_the_plan_grid(seed: int, spread: str, magnitude: float, bits: int,
                                                 channel_wise: bool) -> None:
    from quant import model_inventory, quantize
    from quant.fakequant import weight_codes, weight_dequantizer
    from quant.qmath import qrange

    model = Model(seed, spread, magnitude).eval()
    cw = "true" if channel_wise else "false"
    config = (
        "batch_num: 1\n"
        f"override_layer_types {{ layer_type: \"Conv2d\" calibration_config {{ arq_quantize {{ quant_bits: {bits} channel_wise: {cw} }} }} }}\n"
        "override_layer_types { layer_type: \"Linear\" calibration_config { arq_quantize { channel_wise: false } } }\n"
    )
    plan = cfglang.resolve(config, model_inventory(model))
    result = quantize(model, plan, [torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(seed))],
                      progress=False)
    wrappers = {name: m for name, m in result.model.named_modules() if weight_dequantizer(m) is not None}
    assert sorted(wrappers) == ["conv", "fc"]
    for name, wrapper in wrappers.items():
        planned = plan.layer(name).weight
        lo, hi = qrange(planned.bits)
        codes = weight_codes(wrapper).to(torch.float32)
        assert bool(((codes >= lo) & (codes <= hi)).all()), name
        scale = weight_dequantizer(wrapper).scale
        assert (scale.dim() == 1) == planned.channel_wise, name
        shape = [-1] + [1] * (codes.dim() - 1) if scale.dim() else []
        s = scale.reshape(shape) if shape else scale
        dq = wrapper.weight
        assert torch.allclose(dq, codes * s, rtol=1e-6, atol=0.0), name
        assert tuple(scale.reshape(-1).tolist()) == result.layer(name).scale_w
        w = getattr(model, name).weight.detach()
        inside = (w / s >= lo) & (w / s <= hi)
        err = (dq - w).abs()
        assert bool((err[inside] <= (s / 2 * (1 + 1e-5)).expand_as(w)[inside] + 1e-12).all()), name
