"""The digits CNN trained once per test session (into a temporary cache, never the user's), and the
two paths of quant.histogram."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    from quant import demo

    cache = tmp_path_factory.mktemp("amct-cache") / "amct-cfg"
    data = demo.load_digits_data()
    model = demo.trained_model(cache, data)
    return model, data, cache


@pytest.fixture(params=["native", "fallback"])
def histogram_path(request, monkeypatch):
    """Run a test with the compiled loops, then with the torch and numpy code."""
    from quant import histogram

    if request.param == "native":
        assert histogram.NATIVE, "quant._histogram was not built (no C compiler at install?)"
    else:
        monkeypatch.setattr(histogram, "_native", None)
    return request.param
