"""Text-level properties of ``cfglang.parse`` (issue 9, first block).

- on any input (valid text, damaged text, random text, random bytes) parse
  returns a Document and never raises; every span lies inside the text and its
  line/column agree with its offsets (recomputed independently);
- on generated valid text: no diagnostics, the tree has exactly the fields and
  values that were written, and every comment that was written is found.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from cfglang.syntax import ListValue, MessageValue, Scalar

from .invariants import check_document, expected_position
from .strategies import Lit, Msg, Rendered, any_input, merge_documents, mutated_documents, valid_documents


def parse(source: str | bytes):
    import cfglang

    return cfglang.parse(source, "gen.cfg")


def model_shape(msg: Msg) -> list:
    out = []
    for e in msg.entries:
        values = [_value_shape(v) for v in e.values]
        out.append((e.field.name, values if e.as_list else values[0]))
    return out


def _value_shape(v: Lit | Msg):
    if isinstance(v, Msg):
        return model_shape(v)
    if len(v.parts) > 1 or v.parts[0][0] in "\"'":
        return ("string", v.value)
    return ("token", v.parts[0])


def tree_shape(fields) -> list:
    out = []
    for f in fields:
        if isinstance(f.value, ListValue):
            out.append((f.name, [_tree_value(i) for i in f.value.items]))
        else:
            out.append((f.name, _tree_value(f.value)))
    return out


def _tree_value(v):
    if isinstance(v, MessageValue):
        return tree_shape(v.fields)
    if isinstance(v, Scalar):
        return ("string", v.text) if v.kind == "string" else ("token", v.text)
    return ("missing", v)


@given(any_input())
@example(b"\xff\xfe\x00")
@example("\ufeff")
@example("")
@example("batch_num: 2do_fusion: true")
@example('skip_layers: "abc')
@example("common_config {\n  arq_quantize {\n")
@example("\r\n\t# only a comment")
def test_parse_never_raises_and_spans_agree(source: str | bytes) -> None:
    check_document(parse(source), source)


@given(mutated_documents())
def test_damaged_text_spans_agree(source: str | bytes) -> None:
    check_document(parse(source), source)


@given(st.one_of(valid_documents(), merge_documents()))
def test_valid_text_parses_to_what_was_written(doc: Rendered) -> None:
    result = parse(doc.text)
    check_document(result, doc.text)
    assert result.diagnostics == [], [d.message for d in result.diagnostics]
    assert tree_shape(result.fields) == model_shape(doc.model)
    found = [c.text.rstrip("\r") for c in result.comments]
    assert found == list(doc.comments)


@given(valid_documents())
def test_bom_and_bytes_give_the_same_tree(doc: Rendered) -> None:
    plain = parse(doc.text)
    with_bom = parse(("\ufeff" + doc.text).encode("utf-8"))
    assert with_bom.has_bom and with_bom.text == doc.text
    assert with_bom.diagnostics == []
    assert tree_shape(with_bom.fields) == tree_shape(plain.fields)
    assert [f.start for f in with_bom.fields] == [f.start for f in plain.fields]


@given(st.text(max_size=80), st.data())
def test_line_index_matches_independent_positions(text: str, data: st.DataObject) -> None:
    from cfglang.diagnostics import LineIndex

    offset = data.draw(st.integers(0, len(text)))
    index = LineIndex(text)
    assert index.position(offset) == expected_position(text, offset)
    line, column = index.position(offset)
    assert index.offset(line, column) == offset
