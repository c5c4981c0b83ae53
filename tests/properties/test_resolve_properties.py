"""Resolution properties (docs/semantics.md; issues 5 and 9).

Configs come from :func:`valid_model` for a generated layer inventory, so the
expected behaviour can be read off the model that was rendered:

- skip always wins (by name or by type), even over overrides;
- the source of a layer is its ``override_layer_configs`` entry, else its
  ``override_layer_types`` entry, else ``common_config``: the layer gets exactly
  what it would get if that source were the only ``common_config`` (overrides
  replace), ``asymmetric`` aside, which follows AMCT's chain (docs/semantics.md) and is checked on its own;
- a layer that no entry mentions gets the plan of a config holding only
  ``common_config`` (and ``activation_offset``);
- every provenance with a line and column points at the value in the text, inside
  the entry of the level it names.
"""

from __future__ import annotations

import struct
from typing import Any

from google.protobuf import text_format
from hypothesis import given
from hypothesis import strategies as st

from .invariants import walk_fields
from .strategies import (
    QUANTIZABLE,
    ROOT,
    Entry,
    Lit,
    Msg,
    field_of,
    inventories,
    pick,
    render,
    string_literal,
    valid_model,
)

ALGO_BLOCK = {"arq": "arq_quantize", "ada": "ada_quantize", "ifmr": "ifmr_quantize", "hfmg": "hfmg_quantize"}
LEAF_FIELD = {"bits": "quant_bits"}


# ----------------------------------------------------------------- reading the model


def _top(model: Msg, name: str) -> list[Lit | Msg]:
    return [v for e in model.entries if e.field.name == name for v in e.values]


def _scalar(msg: Msg, name: str) -> Any:
    values = [v.value for e in msg.entries if e.field.name == name for v in e.values]
    return values[-1] if values else None


def _override(model: Msg, list_name: str, key: str, target: str) -> Msg | None:
    for item in _top(model, list_name):
        assert isinstance(item, Msg)
        if _scalar(item, key) == target:
            return next(v for e in item.entries if e.field.name == "calibration_config" for v in e.values)
    return None


def _activation_block(cc: Msg | None) -> tuple[str | None, Any]:
    for e in (cc.entries if cc else []):
        if e.field.name in ("ifmr_quantize", "hfmg_quantize"):
            block = e.values[0]
            return e.field.name, _scalar(block, "asymmetric")
    return None, None


def _source(model: Msg, name: str, layer_type: str) -> tuple[str, Msg | None]:
    cc = _override(model, "override_layer_configs", "layer_name", name)
    if cc is not None:
        return "override_layer_configs", cc
    cc = _override(model, "override_layer_types", "layer_type", layer_type)
    if cc is not None:
        return "override_layer_types", cc
    common = _top(model, "common_config")
    return ("common_config", common[-1]) if common else ("default", None)


def expected_asymmetric(model: Msg, name: str, layer_type: str) -> bool:
    """The `asymmetric` chain (docs/semantics.md), exactly as AMCT computes it."""
    level, source = _source(model, name, layer_type)
    algo, value = _activation_block(source)
    if value is None and level != "common_config":
        common = _top(model, "common_config")
        common_algo, common_value = _activation_block(common[-1] if common else None)
        if common_value is not None and common_algo == (algo or "ifmr_quantize"):
            value = common_value
    if value is None:
        offset = _scalar(model, "activation_offset")
        value = True if offset is None else offset
    return False if layer_type == "Conv3d" else value


def only(model: Msg, *names: str) -> Msg:
    return Msg(ROOT, [e for e in model.entries if e.field.name in names])


def with_common(model: Msg, cc: Msg) -> Msg:
    return Msg(ROOT, [e for e in model.entries if e.field.name == "activation_offset"]
               + [Entry(field_of(ROOT, "common_config"), [cc])])


# ----------------------------------------------------------------- helpers


def _inventory(layers) -> dict:
    return {"version": 1, "layers": [{"name": n, "type": t} for n, t in layers]}


def _resolve(text: str, layers):
    import cfglang

    return cfglang.resolve(text, _inventory(layers))


def _values(layer, drop_asymmetric: bool = False) -> dict:
    d = layer.to_dict()
    d["provenance"] = {k: p["from"] for k, p in d["provenance"].items()}
    if drop_asymmetric:
        # the levels differ by construction (checked separately); the values must not
        del d["provenance"]
        if d["activation"]:
            d["activation"].pop("asymmetric")
    return d


@st.composite
def scenarios(draw):
    layers = draw(inventories)
    model = draw(valid_model(layers))
    doc = draw(render(model))
    return layers, model, doc


def _act_cc(draw, algo: str | None, asymmetric: bool | None) -> Msg:
    cc_desc = ROOT.fields_by_name["common_config"].message_type
    cc = Msg(cc_desc)
    if algo is not None:
        f = field_of(cc_desc, algo)
        block = Msg(f.message_type)
        if asymmetric is not None:
            af = field_of(f.message_type, "asymmetric")
            block.entries.append(Entry(af, [Lit(("true" if asymmetric else "false",), asymmetric)]))
        cc.entries.append(Entry(f, [block]))
    return cc


@st.composite
def asymmetric_scenarios(draw):
    """Every combination the `asymmetric` chain distinguishes: which levels exist, which activation algorithm each
    chooses, and whether each sets `asymmetric`; `activation_offset` on or off."""
    algos = pick([None, "ifmr_quantize", "hfmg_quantize"])
    values = pick([None, True, False])
    layers = (("conv", "Conv2d"), ("conv3", "Conv3d"), ("fc", "Linear"), ("pool", "AvgPool2d"))
    model = Msg(ROOT)
    offset = draw(values)
    if offset is not None:
        model.entries.append(Entry(field_of(ROOT, "activation_offset"), [Lit(("true" if offset else "false",), offset)]))
    if draw(st.booleans()):
        model.entries.append(Entry(field_of(ROOT, "common_config"), [_act_cc(draw, draw(algos), draw(values))]))
    for list_name, key, targets in (("override_layer_types", "layer_type", ("Conv2d", "Linear", "AvgPool2d")),
                                    ("override_layer_configs", "layer_name", ("conv", "fc", "pool"))):
        f = field_of(ROOT, list_name)
        for target in draw(st.lists(pick(targets), unique=True, max_size=2)):
            item = Msg(f.message_type, [
                Entry(field_of(f.message_type, key), [string_literal(draw, target)]),
                Entry(field_of(f.message_type, "calibration_config"), [_act_cc(draw, draw(algos), draw(values))]),
            ])
            model.entries.append(Entry(f, [item]))
    return layers, model, draw(render(model))


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _offset(text: str, line: int, column: int) -> int:
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    return starts[line - 1] + column - 1


# ----------------------------------------------------------------- properties


@given(scenarios())
def test_skip_always_wins(scenario) -> None:
    layers, model, doc = scenario
    plan = _resolve(doc.text, layers)
    skip_names = {v.value for v in _top(model, "skip_layers")}
    skip_types = {v.value for v in _top(model, "skip_layer_types")}
    quantizable = [(n, t) for n, t in layers if t in QUANTIZABLE]
    assert [lp.name for lp in plan.layers] == [n for n, _ in quantizable]
    for lp in plan.layers:
        skipped = lp.name in skip_names or lp.type in skip_types
        assert lp.quantize is not skipped, lp.name
        if skipped:
            assert lp.skip is not None
            assert lp.skip.reason == ("skip_layers" if lp.name in skip_names else "skip_layer_types")
            assert (lp.weight, lp.activation, lp.dmq_balancer) == (None, None, None)


@given(st.one_of(scenarios(), asymmetric_scenarios()))
def test_source_precedence_and_replacement(scenario) -> None:
    layers, model, doc = scenario
    plan = _resolve(doc.text, layers)
    for lp in plan.layers:
        if not lp.quantize:
            continue
        level, source = _source(model, lp.name, lp.type)
        alone = with_common(model, source) if source is not None else only(model, "activation_offset")
        reference = _resolve(render_plain(alone), layers).layer(lp.name)
        assert _values(lp, drop_asymmetric=True) == _values(reference, drop_asymmetric=True), (lp.name, level)
        allowed = {level, "default", "fallback"}
        for key, prov in lp.provenance.items():
            if key != "activation.asymmetric":
                assert prov.source in allowed, (lp.name, key, prov.source, level)


@given(st.one_of(scenarios(), asymmetric_scenarios()))
def test_asymmetric_follows_spec_6_4(scenario) -> None:
    layers, model, doc = scenario
    plan = _resolve(doc.text, layers)
    for lp in plan.layers:
        if lp.quantize and lp.activation is not None:
            assert lp.activation.asymmetric is expected_asymmetric(model, lp.name, lp.type), lp.name


@given(scenarios())
def test_unmentioned_layer_gets_common_config_plan(scenario) -> None:
    layers, model, doc = scenario
    mentioned_names = {v.value for v in _top(model, "skip_layers")}
    mentioned_names |= {_scalar(m, "layer_name") for m in _top(model, "override_layer_configs")}
    mentioned_types = {v.value for v in _top(model, "skip_layer_types")}
    mentioned_types |= {_scalar(m, "layer_type") for m in _top(model, "override_layer_types")}
    plan = _resolve(doc.text, layers)
    reference = _resolve(render_plain(only(model, "common_config", "activation_offset")), layers)
    for lp in plan.layers:
        if lp.name not in mentioned_names and lp.type not in mentioned_types:
            assert _values(lp) == _values(reference.layer(lp.name)), lp.name


@given(st.one_of(scenarios(), asymmetric_scenarios()))
def test_provenance_points_at_the_value(scenario) -> None:
    import cfglang

    layers, model, doc = scenario
    plan = _resolve(doc.text, layers)
    tree = cfglang.parse(doc.text)
    by_value = {f.value.start: f for f in walk_fields(tree.fields) if f.value is not None}
    by_name = {f.name_start: f for f in walk_fields(tree.fields)}
    for lp in plan.layers:
        for key, prov in lp.provenance.items():
            if prov.line is None:
                assert prov.source in ("default", "fallback", "activation_offset"), (lp.name, key, prov)
                continue
            at = _offset(doc.text, prov.line, prov.column)
            value = lp.value(key)
            leaf = key.rpartition(".")[2]
            if leaf == "algo" or "." not in key:
                field = by_name.get(at)
                assert field is not None, (lp.name, key, prov)
                expected = ALGO_BLOCK.get(value, key) if leaf == "algo" else key
                assert field.name == expected, (lp.name, key, field.name)
            else:
                field = by_value.get(at)
                assert field is not None, (lp.name, key, prov, doc.text[at:at + 20])
                name = "activation_offset" if prov.source == "activation_offset" else LEAF_FIELD.get(leaf, leaf)
                if key == "activation.bits":  # the width is written as `dst_type`, an enum name or number
                    name = "dst_type"
                assert field.name == name, (lp.name, key, field.name)
                assert (_dst_width(field.value.text) == value if key == "activation.bits"
                        else _literal_equals(field.value.text, value)), (lp.name, key, field.value.text, value)
            _assert_inside_level(tree, at, prov.source, lp)


def _dst_width(text: str) -> int:
    """The activation width a `dst_type` literal names (INT8 = 1, INT16 = 2 in the proto)."""
    from cfglang.lexer import integer_value

    named = {"INT8": 8, "INT16": 16}
    return named[text] if text in named else {1: 8, 2: 16}[integer_value(text)]


def _literal_equals(text: str, value: Any) -> bool:
    if isinstance(value, bool):
        return text_format.ParseBool(text) is value
    if isinstance(value, int):
        return text_format.ParseInteger(text) == value
    return _f32(text_format.ParseFloat(text)) == _f32(value)


def _assert_inside_level(tree, at: int, level: str, lp) -> None:
    top = next(f for f in tree.fields if f.start <= at < max(f.end, f.sep_end or 0))
    assert top.name == level, (lp.name, level, top.name)
    if level in ("override_layer_configs", "override_layer_types"):
        items = top.value.items if hasattr(top.value, "items") else [top.value]
        entry = next(i for i in items if i.start <= at < i.end)
        key = "layer_name" if level == "override_layer_configs" else "layer_type"
        keys = [f.value.text for f in entry.fields if f.name == key]
        assert keys and keys[-1] == (lp.name if key == "layer_name" else lp.type), (lp.name, level, keys)


def render_plain(model: Msg) -> str:
    """Render without drawing: text_format's own printer of the model's message."""
    return _to_text(model)


def _to_text(msg: Msg, indent: str = "") -> str:
    out = []
    for e in msg.entries:
        for v in e.values:
            if isinstance(v, Msg):
                out.append(f"{indent}{e.field.name} {{\n{_to_text(v, indent + '  ')}{indent}}}\n")
            else:
                out.append(f"{indent}{e.field.name}: {_plain_literal(e.field, v)}\n")
    return "".join(out)


def _plain_literal(field, lit: Lit) -> str:
    from google.protobuf.descriptor import FieldDescriptor
    from google.protobuf.text_encoding import CEscape

    if field.type == FieldDescriptor.TYPE_STRING:
        return '"' + CEscape(lit.value, as_utf8=True) + '"'
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if lit.value else "false"
    return str(lit.value)


@given(scenarios())
def test_plan_json_validates_and_round_trips(scenario) -> None:
    import json

    from cfglang.jsonschemas import validation_errors
    from cfglang.plan import Plan

    layers, _, doc = scenario
    data = _resolve(doc.text, layers).to_dict()
    assert validation_errors(data, "plan") == []
    again = Plan.from_dict(json.loads(json.dumps(data))).to_dict()
    assert again == data
