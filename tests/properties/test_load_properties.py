"""``cfglang.check`` / ``cfglang.load`` against protobuf's ``text_format.Merge``.

SPEC section 3: for every file ``Merge`` accepts with the compiled schema our
message equals ``Merge``'s (duplicates: last scalar wins, a message given twice
is merged, a later oneof member drops the earlier one), even where our
diagnostics report SPEC violations. Files that are valid by the SPEC load
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
from .strategies import Rendered, merge_documents, mutated_documents, valid_documents


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


@given(valid_documents())
def test_valid_files_load_and_equal_merge(doc: Rendered) -> None:
    import cfglang

    result = cfglang.check(doc.text, "gen.cfg")
    assert errors(result.diagnostics) == []
    loaded = cfglang.load(doc.text)
    assert wire(loaded) == wire(merge(doc.text))


# where SPEC section 1 and Python's text_format differ on purpose: we tolerate
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
