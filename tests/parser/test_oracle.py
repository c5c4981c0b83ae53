"""protobuf's text_format is the oracle: what it accepts we accept, strings decode the same."""

from __future__ import annotations

import random
import warnings

import pytest
from google.protobuf import text_encoding, text_format

import cfglang
from cfglang._proto.calibration_config_pytorch_pb2 import AMCTConfig


def cunescape(body: str) -> bytes | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return text_encoding.CUnescape(body)
    except ValueError:
        return None


def test_string_decoding_matches_protobuf() -> None:
    rng = random.Random(7)
    alphabet = ["\\", "\\", "x", "u", "U", "N", "{", "}", "0", "1", "3", "7", "8", "a", "f", "F", "D", "n",
                "?", "q", "'", "é", "α", "😀", "5", "c", " "]
    for _ in range(3000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        if body.endswith("\\") and not body.endswith("\\\\"):
            continue
        body = body.replace('"', "")
        expected = cunescape(body)
        document = cfglang.parse(f'a: "{body}"'.encode("utf-8"))
        errors = [d for d in document.diagnostics if d.severity.label == "error"]
        if expected is None:
            assert errors, body
            continue
        try:
            text = expected.decode("utf-8")
        except UnicodeDecodeError:
            assert [d.code for d in errors] == ["S005"], body
            continue
        assert not errors, (body, [d.message for d in errors])
        assert document.fields[0].value.text == text, body


ACCEPTED = [
    "batch_num: 2, do_fusion: true; activation_offset: false",
    "batch_num: 0x10 skip_layers: ['a', \"b\"] skip_layers: 'c' 'd'",
    "batch_num: 017\nfakequant_precision_mode: FORCE_FP16_QUANT",
    "fakequant_precision_mode: 1 common_config < arq_quantize { quant_bits: 8 } >",
    "common_config: { ada_quantize: { reg_param: 1e-3 warm_start: .5 beta_range_start: 2.5f "
    "beta_range_end: 1f num_iteration: 10 } }",
    "common_config { ifmr_quantize { search_step: -inf max_percentile: nan min_percentile: Infinity "
    "search_range_start: 1. search_range_end: -0.5e+1F } }",
    "override_layer_configs: [{layer_name: 'a' calibration_config {}}, <layer_name: 'b'>]",
    "override_layer_configs [] skip_layers: []",
    "# comment\nbatch_num: 1 # trailing\r\n",
    "skip_layers: \"\\303\\251\\x41\\u00e9\\U0001F600\\n\\'\"",
    "batch_num: +5 skip_layers: '\\q'",
    "common_config { ifmr_quantize { search_step: 1ff max_percentile: 1_0 } }",
    "do_fusion: t activation_offset: False batch_num:2",
]


@pytest.mark.parametrize("text", ACCEPTED)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_what_protobuf_accepts_parses_without_errors(text: str) -> None:
    text_format.Merge(text, AMCTConfig())  # the oracle accepts it
    document = cfglang.parse(text)
    assert [d for d in document.diagnostics if d.severity.label == "error"] == []
    assert document.fields


REJECTED = [
    "batch_num: 2do_fusion: true",
    "batch_num 2",
    "batch_num: - 2",
    "skip_layers: [\"a\",]",
    "skip_layers: \"a",
    "common_config { ",
    "batch_num: 1,,",
    "skip_layers: \"\\xff\"",
    "common_config { arq_quantize { quant_bits: 8 > }",
]


@pytest.mark.parametrize("text", REJECTED)
def test_what_protobuf_rejects_as_syntax_is_an_error(text: str) -> None:
    with pytest.raises(text_format.ParseError):
        text_format.Merge(text, AMCTConfig())
    assert any(d.severity.label == "error" for d in cfglang.parse(text).diagnostics)
