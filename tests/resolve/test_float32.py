"""SPEC facts written once: the float32 shortest-decimal routine and the proto defaults the resolver uses."""

from __future__ import annotations

import pytest

from cfglang.float32 import as_float32, shortest_digits
from cfglang.float32 import shortest_float32
from cfglang.float32 import format_number


@pytest.mark.parametrize(("value", "text"), [(0.7, "0.7"), (0.01, "0.01"), (as_float32(0.999), "0.999"),
                                             (as_float32(1e-7), "1e-07"), (3.4e38, "3.4e+38")])
def test_shortest_digits_reads_back_as_the_same_float32(value: float, text: str) -> None:
    assert shortest_digits(value, 17) == text
    assert as_float32(float(text)) == as_float32(value)


def test_shortest_digits_says_none_when_the_limit_is_too_short() -> None:
    assert shortest_digits(0.123456789, 2) is None


def test_plan_and_diagnostics_agree_on_float32_values() -> None:
    single = as_float32(0.699999988)
    assert single != 0.7
    assert shortest_float32(single) == 0.7
    assert format_number(single) == "0.7"
    assert format_number(2.0) == "2"
    assert format_number(float("inf")) == "inf"
    assert shortest_float32(float("nan")) != shortest_float32(float("nan"))


def test_the_resolver_takes_its_defaults_from_the_schema() -> None:
    from cfglang.plan import parameter_defaults
    from cfglang.schema import defaults_of

    assert defaults_of("ARQuantize") == {"quant_bits": 8}
    assert "channel_wise" not in defaults_of("ARQuantize")  # no declared default: the layer type decides
    ada = defaults_of("ADAquantize")
    assert ada["reg_param"] != 0.01 and as_float32(ada["reg_param"]) == as_float32(0.01)  # the float32 as read
    assert parameter_defaults("ada") == {name: shortest_float32(v) if isinstance(v, float) else v
                                         for name, v in ada.items()}
    assert parameter_defaults("ifmr")["search_range_start"] == 0.7
