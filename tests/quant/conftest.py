"""The digits CNN trained once per test session (into a temporary cache, never the user's)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    from quant import demo

    cache = tmp_path_factory.mktemp("amct-cache") / "amct-cfg"
    data = demo.load_digits_data()
    model = demo.trained_model(cache, data)
    return model, data, cache
