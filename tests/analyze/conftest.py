"""Fixtures of the analyze/tune tests: the digits CNN (trained once per session into a temporary cache),
its data, and the demo config with a deliberately bad setting on the first convolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

#: a narrow IFMR search range on `conv1`: its clip range is a fifth to a third of its input's maximum
BAD_ENTRY = """override_layer_configs {
  layer_name: "conv1"
  calibration_config {
    arq_quantize {
      channel_wise: true
    }
    ifmr_quantize {
      search_range_start: 0.2
      search_range_end: 0.3
    }
  }
}
"""


@dataclass(frozen=True)
class Demo:
    model: Any
    calib: list[Any]
    evaluation: list[Any]  # 5 batches of 100 held-out images
    labelled: list[Any]  # the same, as {"x": images, "labels": labels}
    good: str  # the demo's IFMR config, formatted
    bad: str  # the same with BAD_ENTRY
    inventory: Any
    cache: Any  # the folder to use as XDG_CACHE_HOME (the trained model is cached under it)


@pytest.fixture(scope="session")
def demo_case(tmp_path_factory) -> Demo:
    import quant
    from cfglang.formatter import format_text
    from quant import demo

    cache = tmp_path_factory.mktemp("amct-cache") / "amct-cfg"
    data = demo.load_digits_data()
    model = demo.trained_model(cache, data)
    good = format_text(demo.config_path("ifmr").read_text(encoding="utf-8"))
    evaluation = [data.test_x[i:i + 100] for i in range(0, 500, 100)]
    labelled = [{"x": data.test_x[i:i + 100], "labels": data.test_y[i:i + 100]} for i in range(0, 500, 100)]
    return Demo(model, demo.calibration_batches(data, 4), evaluation, labelled, good, good + BAD_ENTRY,
                quant.model_inventory(model), cache.parent)
