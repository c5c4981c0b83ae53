"""Hypothesis properties of resolution on generated models and configs.

(tests/properties/test_resolve_properties.py checks more of docs/semantics.md against its own model of the
rules; these three are the promises of the plan issue, stated directly.)
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cfglang.capabilities import QUANTIZABLE

from .conftest import run

BLOCKS = [
    "arq_quantize { quant_bits: 8 channel_wise: false }",
    "hfmg_quantize { num_of_bins: 2048 asymmetric: false }",
    "ifmr_quantize { search_step: 0.02 asymmetric: true }",
    "dmq_balancer { migration_strength: 0.3 }",
    "ada_quantize { num_iteration: 5 }",
]


@st.composite
def scenario(draw):
    types = draw(st.lists(st.sampled_from(QUANTIZABLE), min_size=1, max_size=8))
    layers = [(f"l{i}", t) for i, t in enumerate(types)]
    names = [n for n, _ in layers]
    skip = draw(st.lists(st.sampled_from(names), unique=True, max_size=2))
    skip_types = draw(st.lists(st.sampled_from(sorted(set(types))), unique=True, max_size=1))
    by_name = draw(st.lists(st.sampled_from(names), unique=True, max_size=4))
    by_type = draw(st.lists(st.sampled_from(sorted(set(types))), unique=True, max_size=3))
    parts = [f'skip_layers: "{n}"\n' for n in skip] + [f'skip_layer_types: "{t}"\n' for t in skip_types]
    if draw(st.booleans()):
        parts.append(f"common_config {{ {draw(st.sampled_from(BLOCKS))} }}\n")
    for t in by_type:
        parts.append(f'override_layer_types {{ layer_type: "{t}"\n'
                     f'  calibration_config {{ {draw(st.sampled_from(BLOCKS))} }} }}\n')
    for n in by_name:
        parts.append(f'override_layer_configs {{ layer_name: "{n}"\n'
                     f'  calibration_config {{ {draw(st.sampled_from(BLOCKS))} }} }}\n')
    return "".join(parts), layers, set(skip), set(skip_types), set(by_name)


def _checked_run(text, layers):
    from cfglang.checker import check

    # type overrides with impossible values are checker errors (C rules): those files are not plans
    if check(text).has_errors:
        return None
    return run(text, layers)


@given(scenario())
def test_skip_always_wins(s) -> None:
    text, layers, skip, skip_types, _ = s
    result = _checked_run(text, layers)
    if result is None:
        return
    for layer in result.plan.layers:
        skipped = layer.name in skip or layer.type in skip_types
        assert layer.quantize is not skipped
        assert (layer.weight, layer.activation, layer.dmq_balancer) == (None, None, None) or not skipped


@given(scenario())
def test_a_layer_override_always_beats_a_type_override(s) -> None:
    text, layers, _, _, by_name = s
    result = _checked_run(text, layers)
    if result is None:
        return
    for layer in result.plan.layers:
        if layer.name in by_name:
            assert all(p.source != "override_layer_types" for p in layer.provenance.values()), layer


@given(scenario())
def test_every_provenance_points_at_a_value_in_the_file(s) -> None:
    text, layers, *_ = s
    result = _checked_run(text, layers)
    if result is None:
        return
    lines = text.splitlines()
    for layer in result.plan.layers:
        for key, prov in layer.provenance.items():
            if prov.line is None:
                continue
            at = lines[prov.line - 1][prov.column - 1:]
            value = layer.value(key)
            if key.endswith(".algo"):
                assert at.startswith({"arq": "arq_quantize", "ada": "ada_quantize", "ifmr": "ifmr_quantize",
                                      "hfmg": "hfmg_quantize"}[value]), (key, at)
            elif isinstance(value, bool):
                assert at.startswith(str(value).lower()), (key, at)
            else:
                assert float(at.split()[0]) == value, (key, at)
