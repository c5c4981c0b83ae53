"""Quantization arithmetic properties (AMCT's arithmetic, docs/architecture.md "The engine"; issue 9).

- fake-quantized weights (ARQ: symmetric scale from min/max, per tensor or per
  output channel) lie on the grid ``scale * k`` with ``k`` in the bit range;
- inside the clip range the dequantization error is at most ``scale / 2``
  (symmetric and asymmetric);
- an all-zero tensor gets scale 1.0 and quantizes to zero;
- HFMG's counts are torch.histc's, with the compiled loop and without.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from quant import qmath  # noqa: E402


@contextlib.contextmanager
def _without_native():
    """quant.histogram with its torch and numpy code instead of the compiled loops."""
    from quant import histogram

    native, histogram._native = histogram._native, None
    try:
        yield
    finally:
        histogram._native = native


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


@given(st.lists(st.floats(-1e30, 1e30, allow_nan=False, allow_subnormal=True), min_size=1, max_size=300),
       st.sampled_from([64, 1000, 1024, 4096, 8192]), st.floats(0.0, 4.0), st.floats(0.0, 4.0),
       st.integers(-30, 30))
def test_histc_counts_are_torch_histc(values, bins, below, above, exponent) -> None:
    # HFMG's counts, for any float32 data inside any float32 range around it: the bins of torch.histc,
    # from the compiled loop and from the torch expressions
    from quant import histogram

    x = torch.tensor(values, dtype=torch.float32) * (2.0 ** exponent)
    lo, hi = x.min().item(), x.max().item()
    span = max(hi - lo, abs(hi), abs(lo), 1e-30)
    a, b = (float(torch.tensor(v, dtype=torch.float32)) for v in (lo - below * span, hi + above * span))
    a, b = min(a, lo), max(b, hi)  # float32 rounding of the padded ends must still hold the data
    if not b > a or torch.isinf((x - a) * bins).any() or not torch.isfinite(torch.tensor([a, b])).all():
        event("overflow or empty range: skipped")
        return  # histc itself is garbage where (x - lo) * bins overflows (tested apart)
    expected = torch.histc(x, bins, a, b).to(torch.int64)
    assert torch.equal(histogram.histc_counts(x, bins, a, b), expected)
    with _without_native():
        assert torch.equal(histogram.histc_counts(x, bins, a, b), expected)


@given(st.integers(1, 4), st.integers(1, 5), st.booleans(), st.booleans(), st.integers(0, 2**31 - 1))
def test_fake_quantize_is_dequantize_of_quantize(rows, cols, per_row, grad, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=g) * 4
    shape = (rows, 1) if per_row else ()
    scale = torch.rand(shape, generator=g) * 0.1 + 1e-3
    offset = torch.randint(-20, 20, shape, generator=g).to(torch.float32)
    x.requires_grad_(grad)
    got = qmath.fake_quantize(x, scale, offset, 8)
    assert torch.equal(got.detach(), qmath.dequantize(qmath.quantize(x, scale, offset, 8), scale, offset).detach())
