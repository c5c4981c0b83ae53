"""``cfglang.check`` / ``cfglang.load`` against protobuf's ``text_format.Merge``.

As AMCT reads a file (docs/amct-checks.md): for every file ``Merge`` accepts with the compiled schema our
message equals ``Merge``'s (duplicates: last scalar wins, a message given twice
is merged, a later oneof member drops the earlier one), even where our
diagnostics report rule violations. Files that keep every rule load
without error. And the reverse direction on damaged text: when we report no
error, ``Merge`` accepts the file and agrees.
"""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from hypothesis import example, given

from cfglang._proto.calibration_config_pytorch_pb2 import AMCTConfig
from cfglang.diagnostics import Severity

from .invariants import check_diagnostic
from .strategies import Rendered, any_input, merge_documents, mutated_documents, valid_documents


def merge(text: str) -> AMCTConfig:
    message = AMCTConfig()
    text_format.Merge(text, message)
    return message


def wire(message: AMCTConfig) -> bytes:
    return message.SerializePartialToString(deterministic=True)


def errors(diagnostics) -> list:
    return [d for d in diagnostics if d.severity == Severity.ERROR]


@given(merge_documents())
@example(Rendered("batch_num: -0\n", None, (), "\n"))  # type: ignore[arg-type]
@example(Rendered("common_config { dmq_balancer { migration_strength: 1e400 } }", None, (), "\n"))  # type: ignore[arg-type]
@example(Rendered("common_config { arq_quantize {} ada_quantize {} arq_quantize { quant_bits: 3 } }", None, (), "\n"))  # type: ignore[arg-type]
@example(Rendered("common_config { arq_quantize { channel_wise: 1 } } common_config { arq_quantize { quant_bits: 7 } }", None, (), "\n"))  # type: ignore[arg-type]
@example(Rendered("common_config { dmq_balancer { migration_strength: -0.0 } }", None, (), "\n"))  # type: ignore[arg-type]
def test_check_message_equals_merge(doc: Rendered) -> None:
    import cfglang

    expected = merge(doc.text)
    result = cfglang.check(doc.text, "gen.cfg")
    for d in result.diagnostics:
        check_diagnostic(result.document.text, d)
    assert wire(result.config) == wire(expected), (
        f"ours:\n{text_format.MessageToString(result.config)}\nMerge:\n{text_format.MessageToString(expected)}"
    )


@given(any_input())
def test_check_never_raises_and_diagnostics_are_well_formed(source: str | bytes) -> None:
    import cfglang

    result = cfglang.check(source, "gen.cfg")
    for d in result.diagnostics:
        check_diagnostic(result.document.text, d)
    # syntax diagnostics first, then the semantic ones (issue 3)
    families = [d.code[0] for d in result.diagnostics]
    assert families == sorted(families, key=lambda c: c != "S"), families


@given(valid_documents())
def test_valid_files_load_and_equal_merge(doc: Rendered) -> None:
    import cfglang

    result = cfglang.check(doc.text, "gen.cfg")
    assert errors(result.diagnostics) == []
    loaded = cfglang.load(doc.text)
    assert wire(loaded) == wire(merge(doc.text))


# where the text format as we read it and Python's text_format differ on purpose: we tolerate
# a byte-order mark and read hex/octal bools (`0x1`, `00`) as protobuf C++ does
_KNOWN_DIVERGENCE = ("\ufeff", 'Expected "true" or "false"')


@given(mutated_documents())
def test_no_error_means_merge_agrees(source: str | bytes) -> None:
    import cfglang

    result = cfglang.check(source, "gen.cfg")
    if errors(result.diagnostics):
        return
    text = result.document.text
    try:
        expected = merge(text)
    except text_format.ParseError as e:
        if result.document.has_bom or any(k in text or k in str(e) for k in _KNOWN_DIVERGENCE):
            return
        pytest.fail(f"no error reported, but text_format.Merge rejects it: {e}")
    assert wire(result.config) == wire(expected)


def _bodies(fields, desc):
    """(fields, descriptor) of the top level and of every message value, from the tree."""
    from cfglang.syntax import ListValue, MessageValue

    yield fields, desc
    for f in fields:
        fd = desc.fields_by_name.get(f.name)
        if fd is None or fd.message_type is None:
            continue
        values = f.value.items if isinstance(f.value, ListValue) else [f.value]
        for v in values:
            if isinstance(v, MessageValue):
                yield from _bodies(v.fields, fd.message_type)


def _inside(span, node) -> bool:
    return node.start <= span.start and span.end <= max(node.end, node.sep_end or 0)


def test_oneof_conflict_related_location_is_the_winner() -> None:
    import cfglang

    text = "common_config { arq_quantize {} ada_quantize {} arq_quantize {} }"
    winner = text.rindex("arq_quantize")
    result = cfglang.check(text)
    conflicts = [d for d in result.diagnostics if d.code == "F011"]
    assert len(conflicts) == 2
    for d in conflicts:
        assert [s.start for s, _ in d.related] == [winner], (d.message, d.related)


@given(merge_documents())
@example(Rendered("common_config { arq_quantize {} ada_quantize {} arq_quantize {} }", None, (), "\n"))  # type: ignore[arg-type]
@example(Rendered("common_config{arq_quantize{}ada_quantize{}}common_config{arq_quantize{}}", None, (), "\n"))  # type: ignore[arg-type]
@example(Rendered("batch_num: 1 batch_num: 2 batch_num: 3", None, (), "\n"))  # type: ignore[arg-type]
# the winner can start right where the dropped block ends (found by a long run)
@example(Rendered("common_config{arq_quantize{}ada_quantize{}}\n", None, (), "\n"))  # type: ignore[arg-type]
def test_duplicates_and_oneof_conflicts_are_reported(doc: Rendered) -> None:
    """As AMCT reads a file: a singular field twice warns at the winner (related: the earlier place); a block of a
    oneof that a later member drops warns on the dropped block (related: the winner)."""
    import cfglang

    result = cfglang.check(doc.text)
    by_code: dict[str, list] = {}
    for d in result.diagnostics:
        by_code.setdefault(d.code, []).append(d)
    for fields, desc in _bodies(result.document.fields, AMCTConfig.DESCRIPTOR):
        for oneof in desc.oneofs:
            names = {m.name for m in oneof.fields}
            members = [f for f in fields if f.name in names]
            for i, f in enumerate(members):
                if any(g.name != f.name for g in members[i + 1:]):
                    # related: the member that finally wins, written after this one (perhaps in a
                    # later occurrence of the same block, which Merge merges; pinned by the test above)
                    assert any(_inside(d.span, f) and all(s.start >= f.end for s, _ in d.related)
                               for d in by_code.get("F011", [])), (f.name, doc.text)
        for name in {f.name for f in fields}:
            fd = desc.fields_by_name[name]
            same = [f for f in fields if f.name == name]
            if fd.is_repeated or len(same) < 2 or fd.containing_oneof is not None:
                continue
            code = "F010" if fd.message_type is not None else "F009"
            last = same[-1]
            assert any(_inside(d.span, last) and any(_inside(s, same[-2]) for s, _ in d.related)
                       for d in by_code.get(code, [])), (code, name, doc.text)


def _leaves(message, path=()):
    for fd, value in message.ListFields():
        values = list(enumerate(value)) if fd.is_repeated else [(None, value)]
        for i, v in values:
            here = path + ((fd.name, i) if i is not None else (fd.name,))
            yield here, fd, v
            if fd.message_type is not None:
                yield from _leaves(v, here)


def _reads_as(fd, scalar, value) -> bool:
    import ctypes

    from google.protobuf.descriptor import FieldDescriptor as FD

    text = scalar.text
    if fd.type == FD.TYPE_STRING:
        return scalar.kind == "string" and text == value
    if fd.type == FD.TYPE_BOOL:
        return text_format.ParseBool(text) is value  # the generators write the eight spellings Merge reads
    if fd.type == FD.TYPE_ENUM:
        number = fd.enum_type.values_by_name[text].number if text in fd.enum_type.values_by_name else int(text, 0)
        return number == value
    if fd.type == FD.TYPE_FLOAT:
        # C's double -> float conversion, as protobuf stores it: out of range becomes +-inf
        f32 = ctypes.c_float(text_format.ParseFloat(text)).value
        return f32 == value or (f32 != f32 and value != value)
    return text_format.ParseInteger(text) == value


@given(merge_documents())
@example(Rendered("common_config { ada_quantize { reg_param: 1e+39f } }", None, (), "\n"))  # type: ignore[arg-type]
def test_span_table_points_at_every_value_that_won(doc: Rendered) -> None:
    """docs/architecture.md: ``CheckResult.spans`` maps every field path of the message to the place
    of the value that won."""
    import cfglang
    from cfglang.syntax import MessageValue, Scalar

    result = cfglang.check(doc.text)
    for path, fd, value in _leaves(result.config):
        assert path in result.spans, (path, doc.text)
        loc = result.spans[path]
        assert loc.field.name == fd.name, (path, loc.field.name)
        if fd.message_type is not None:
            assert isinstance(loc.value, MessageValue), path
        else:
            assert isinstance(loc.value, Scalar), path
            assert _reads_as(fd, loc.value, value), (path, loc.value.text, value)
