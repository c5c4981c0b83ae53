"""Quantization arithmetic properties (SPEC section 8; issue 9, engine block).

- fake-quantized weights (ARQ: symmetric scale from min/max, per tensor or per
  output channel) lie on the grid ``scale * k`` with ``k`` in the bit range;
- inside the clip range the dequantization error is at most ``scale / 2``
  (symmetric and asymmetric);
- an all-zero tensor gets scale 1.0 and quantizes to zero.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from quant import qmath  # noqa: E402

finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)
bits = st.sampled_from([6, 7, 8])


@st.composite
def weights(draw):
    rows = draw(st.integers(1, 4))
    cols = draw(st.integers(1, 6))
    values = draw(st.lists(finite, min_size=rows * cols, max_size=rows * cols))
    scale_pow = draw(st.integers(-6, 2))
    return torch.tensor(values, dtype=torch.float32).reshape(rows, cols) * (10.0 ** scale_pow)


def _arq_scale(w: torch.Tensor, b: int, channel_wise: bool) -> torch.Tensor:
    if channel_wise:
        flat = w.reshape(w.shape[0], -1)
        return qmath.symmetric_scale(flat.max(dim=1).values, flat.min(dim=1).values, b).reshape(-1, 1)
    return qmath.symmetric_scale(w.max(), w.min(), b)


@given(weights(), bits, st.booleans())
def test_fake_quant_weights_lie_on_the_grid(w: torch.Tensor, b: int, channel_wise: bool) -> None:
    scale = _arq_scale(w, b, channel_wise)
    fq = qmath.fake_quantize(w, scale, 0, b)
    k = torch.round(fq / scale)
    lo, hi = qmath.qrange(b)
    assert bool(((k >= lo) & (k <= hi)).all())
    # on the grid up to float32 rounding of the product
    assert torch.allclose(fq, k * scale, rtol=1e-6, atol=0.0)


@given(st.lists(finite, min_size=1, max_size=20), bits, st.booleans(), st.data())
def test_error_inside_clip_range_is_at_most_half_a_step(values, b: int, asymmetric: bool, data) -> None:
    x = torch.tensor(values, dtype=torch.float32)
    lo, hi = qmath.qrange(b)
    if asymmetric:
        scale, offset = qmath.asymmetric_scale_offset(x.max(), x.min(), b)
    else:
        scale, offset = qmath.symmetric_scale(x.max(), x.min(), b), torch.tensor(0)
    low, high = (lo - offset.float()) * scale, (hi - offset.float()) * scale
    inside = x[(x >= low) & (x <= high)]
    fq = qmath.fake_quantize(inside, scale, offset, b)
    # scale / 2 plus float32 rounding of x / scale and of the product
    tol = scale / 2 + (inside.abs() + scale) * 4e-7
    assert bool(((fq - inside).abs() <= tol).all())
    q = qmath.quantize(x, scale, offset, b)
    assert bool(((q >= lo) & (q <= hi) & (q == torch.round(q))).all())


@given(st.integers(1, 10), bits, st.booleans())
def test_all_zero_tensor_gets_scale_one(n: int, b: int, asymmetric: bool) -> None:
    x = torch.zeros(n)
    if asymmetric:
        scale, offset = qmath.asymmetric_scale_offset(x.max(), x.min(), b)
    else:
        scale, offset = qmath.symmetric_scale(x.max(), x.min(), b), torch.tensor(0)
    assert float(scale) == 1.0
    assert bool((qmath.fake_quantize(x, scale, offset, b) == 0).all())
