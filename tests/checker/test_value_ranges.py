"""The value ranges are written once (cfglang.ranges): the checker and the JSON Schema both read them."""

from __future__ import annotations

import pytest

from cfglang.jsonschemas import config_schema
from cfglang.ranges import NUM_OF_BINS, VALUE_RANGES, Bound


def test_json_keywords_say_open_and_closed_ends() -> None:
    assert Bound(0, 1).json_keywords() == {"exclusiveMinimum": 0, "exclusiveMaximum": 1}
    assert Bound(0.2, 0.8, closed_low=True, closed_high=True).json_keywords() == {"minimum": 0.2, "maximum": 0.8}
    assert Bound(low=1, closed_low=True).json_keywords() == {"minimum": 1}


@pytest.mark.parametrize("key", sorted(VALUE_RANGES))
def test_the_json_schema_states_every_range(key: tuple[str, str]) -> None:
    message, name = key
    schema = config_schema(None)
    prop = (schema if message == "AMCTConfig" else schema["$defs"][message])["properties"][name]
    assert {k: prop[k] for k in VALUE_RANGES[key].json_keywords()} == VALUE_RANGES[key].json_keywords()


def test_the_json_schema_and_the_checker_take_the_same_histogram_sizes() -> None:
    from cfglang.lint import lint_text

    assert config_schema(None)["$defs"]["HFMGQuantize"]["properties"]["num_of_bins"]["enum"] == list(NUM_OF_BINS)
    text = "common_config {{ arq_quantize {{}} hfmg_quantize {{ num_of_bins: {} }} }}\n"
    assert not [d for d in lint_text(text.format(NUM_OF_BINS[-1])) if d.code == "V003"]
    assert [d.code for d in lint_text(text.format(NUM_OF_BINS[-1] + 1)) if d.code == "V003"] == ["V003"]
