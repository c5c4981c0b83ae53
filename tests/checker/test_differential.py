"""Differential test: our message against protobuf's ``text_format.Merge`` (AMCT's reader).

For every file ``Merge`` accepts, ``cfglang.check`` builds an equal message:
the valid corpus, a few hundred generated files covering every field, value
form and syntax variant, files with duplicates and oneof conflicts (warnings,
still equal), and files with values the value rules refuse but ``Merge`` stores.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format

from cfglang._proto.calibration_config_pytorch_pb2 import AMCTConfig
from cfglang.checker import ConfigError, check, load
from cfglang.diagnostics import Severity

from .configgen import generate

VALID = Path(__file__).parent.parent / "data" / "valid"


def merge(text: str) -> AMCTConfig:
    message = AMCTConfig()
    text_format.Merge(text, message)
    return message


def wire(message) -> bytes:
    return message.SerializePartialToString(deterministic=True)


def _corpus() -> list[Path]:
    return sorted(VALID.glob("*.cfg"))


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_corpus_file_equals_merge(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert wire(check(text).config) == wire(merge(text))


@pytest.mark.parametrize("seed", range(300))
def test_generated_valid_config_loads_to_the_merge_message(seed: int) -> None:
    text = generate(seed)
    expected = merge(text)
    try:
        ours = load(text)
    except ConfigError as exc:
        pytest.fail(f"seed {seed}: {exc}\n{text}")
    assert wire(ours) == wire(expected), text
    assert ours == expected


@pytest.mark.parametrize("seed", range(100))
def test_duplicates_and_oneof_conflicts_warn_but_match_merge(seed: int) -> None:
    text = generate(10_000 + seed, duplicates=True)
    result = check(text)
    assert not result.has_errors, [(d.code, d.message) for d in result.diagnostics]
    assert wire(load(text)) == wire(merge(text)), text


@pytest.mark.parametrize("seed", range(150))
def test_spec_violations_that_merge_accepts_keep_the_merge_message(seed: int) -> None:
    text = generate(20_000 + seed, valid=False, duplicates=seed % 2 == 0)
    expected = merge(text)  # every generated file is one Merge accepts
    result = check(text)
    assert wire(result.config) == wire(expected), text
    syntax = [d for d in result.diagnostics if d.code.startswith("S")]
    assert not syntax, syntax


_MERGE_CASES = {
    "scalar given twice": "batch_num: 2\nbatch_num: 4\n",
    "block given twice merges": "common_config { arq_quantize { quant_bits: 7 } }\n"
                                "common_config { ifmr_quantize { search_step: 0.02 } }\n",
    "same member twice merges": "common_config { arq_quantize { quant_bits: 7 } arq_quantize { channel_wise: true } }",
    "oneof: later member wins": "common_config { ifmr_quantize { search_step: 0.02 } hfmg_quantize { } }",
    "oneof: back to the first starts afresh":
        "common_config { arq_quantize { quant_bits: 7 } ada_quantize { } arq_quantize { channel_wise: true } }",
    "oneof across merged blocks": "common_config { ada_quantize { num_iteration: 5 } }\n"
                                  "common_config { arq_quantize { } }\n",
    "missing required fields": "override_layer_types { }\noverride_layer_configs { layer_name: \"a\" }\n",
    "INT16 by number": "common_config { hfmg_quantize { dst_type: 0x2 } }",
    "minus zero": "batch_num: -0",
    "float32 overflow": "common_config { ada_quantize { reg_param: 1e39 } }",
    "nan": "common_config { dmq_balancer { migration_strength: nan } }",
    "lists and repeats mixed": "skip_layers: [\"a\", 'b'] skip_layers: \"c\" skip_layers: []\n"
                               "override_layer_types [{ layer_type: \"Conv2d\" }, < layer_type: \"Linear\" >]\n",
}


@pytest.mark.parametrize("text", list(_MERGE_CASES.values()), ids=list(_MERGE_CASES))
def test_merge_semantics_reproduced(text: str) -> None:
    result = check(text)
    assert not [d for d in result.diagnostics if d.code.startswith("S")]
    assert wire(result.config) == wire(merge(text))
    assert result.config == merge(text)


_REFUSED = {
    "bool as 0x1": "do_fusion: 0x1",
    "octal digit 8": "batch_num: 08",
    "hex float": "common_config { ada_quantize { reg_param: 0x10 } }",
    "octal float": "common_config { ada_quantize { reg_param: 017 } }",
    "negative unsigned": "batch_num: -1",
    "uint32 overflow": "batch_num: 4294967296",
    "enum by unknown number": "common_config { ifmr_quantize { dst_type: 3 } }",
    "enum name in quotes": "fakequant_precision_mode: \"FORCE_FP16_QUANT\"",
    "identifier for string": "skip_layers: conv1",
    "scalar list without colon": "skip_layers [\"a\"]",
    "list on singular": "batch_num: [1]",
    "list on singular message": "common_config: [{}]",
    "unknown field": "batch_nums: 1",
    "block for scalar": "batch_num { }",
    "scalar for block": "common_config: 1",
}


@pytest.mark.parametrize("text", list(_REFUSED.values()), ids=list(_REFUSED))
def test_what_merge_refuses_is_an_error(text: str) -> None:
    with pytest.raises(text_format.ParseError):
        merge(text)
    result = check(text)
    assert any(d.severity is Severity.ERROR for d in result.diagnostics)
    with pytest.raises(ConfigError):
        load(text)
