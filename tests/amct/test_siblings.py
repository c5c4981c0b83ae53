"""Files of AMCT's other configuration kinds, and field suggestions that fit the place and the value.

The similarity threshold (``cfglang.schema.SIMILARITY``, difflib's ratio 0.7) is defended here by
pairs on both sides of it: real misspellings above, unrelated fields of another config below.
"""

from __future__ import annotations

import difflib
import io

import pytest

from cfglang import schema, siblings
from cfglang.checker import check
from amct_cli import run

SIBLINGS = {
    # text -> (line of the telling field, the kind's proto)
    'kv_cache_quant_config { quant_layers: "m1" }\noverride_layers_configs { layer_name: "m3" }\n':
        (1, "quant_calibration_config_pytorch.proto"),
    'batch_num: 1\ngroup_size: 2\ndistill_group { start_layer_name: "a" end_layer_name: "b" }\n':
        (2, "distill_config_pytorch.proto"),
    'quant_skip_layers: "fc"\nquant_skip_types: "Linear"\n': (1, "retrain_config_pytorch.proto"),
    'override_layer_types {\n  layer_type: "Conv2d"\n  prune_config { filter_pruner { } }\n}\n':
        (3, "retrain_config_pytorch.proto"),
    "compress_ratio: 1.4\ntest_iteration: 1\n": (1, "basic_info.proto"),
    "common_config {\n  snq_quantize { }\n}\n": (2, "NUQ"),
    "batch_num: 1\nupdate_bn: true\n": (2, "framework's calibration config proto"),
}


@pytest.mark.parametrize("text", list(SIBLINGS), ids=lambda t: t.split()[0])
def test_one_diagnostic_at_the_first_telling_field(text: str) -> None:
    line, proto = SIBLINGS[text]
    found = check(text).diagnostics
    assert [(d.code, d.span.line) for d in found] == [("F016", line)]
    assert proto in found[0].message and "`calibration_config_pytorch.proto`" in found[0].message
    assert found[0].fix is None


def test_the_other_unknown_fields_are_related_places_and_counted_in_the_message() -> None:
    text = ("retrain_data_quant_config { ulq_quantize { } }\nretrain_weight_quant_config { arq_retrain { } }\n"
            'override_layer_types { layer_type: "Linear" retrain_weight_quant_config { } }\n')
    (found,) = check(text).diagnostics  # no F001 per field, no F008 for the entry without calibration_config
    assert found.message.endswith("(the file has 2 other unknown fields)")
    assert [span.line for span, _ in found.related] == [2, 3]


def test_fields_of_another_framework_make_one_diagnostic_that_statistics_count_in_full(tmp_path) -> None:
    cfg = tmp_path / "tf.cfg"
    cfg.write_text("joint_quant: true\nweight_offset: true\ntensor_quantize { }\n", encoding="utf-8")
    out = io.StringIO()
    assert run(["lint", str(cfg), "--statistics", "--isolated"], out, io.StringIO()) == 1
    # one diagnostic, and --statistics counts the three fields of the other kind it stands for
    assert out.getvalue().split() == ["3", "F016", "other-config-kind"]
    (found,) = check(cfg.read_text(encoding="utf-8")).diagnostics
    assert found.folded == 2 and len(found.related) == 2


def test_a_misspelling_shared_with_a_sibling_is_not_taken_for_it() -> None:
    """`num_of_iteration` is NUQ's field and a plausible misspelling of AdaRound's `num_iteration`:
    it tells nothing, and gets the suggestion."""
    (found,) = check("common_config { ada_quantize { num_of_iteration: 100 } }\n").diagnostics
    assert (found.code, found.hint) == ("F001", "did you mean `num_iteration`?")


def test_no_sibling_field_is_a_field_of_ours() -> None:
    assert not set(siblings.FIELDS) & schema.field_names()


@pytest.mark.parametrize("name", ["override_layers_configs", "quant_skip_layers", "snq_quantize", "quant_layers"])
def test_no_rename_fix_turns_a_sibling_field_into_ours(name: str) -> None:
    text = f"common_config {{ {name} {{ }} }}\n" if name == "snq_quantize" else f'{name}: "x"\n'
    if name == "override_layers_configs":
        text = 'override_layers_configs { layer_name: "x" }\n'
    found = check(text).diagnostics
    assert [d.code for d in found] == ["F016"] and all(d.fix is None for d in found)


# suggestions ------------------------------------------------------------------------------------


def test_suggestion_fits_the_value_kind() -> None:
    (found,) = check("common_config { arq_quantize { num_bits: 8 } }\n").diagnostics
    assert found.hint == "did you mean `quant_bits`?" and found.fix is not None and not found.fix.safe
    # a block written where a number goes gets no number field suggested
    (found,) = check("common_config { arq_quantize { quant_bit { } } }\n").diagnostics
    assert found.hint == "`arq_quantize` takes `channel_wise`, `quant_bits`" and found.fix is None


@pytest.mark.parametrize(("written", "message", "expected"), [
    ("skip_layer", "AMCTConfig", "skip_layers"),  # ratio 0.95
    ("batchnum", "AMCTConfig", "batch_num"),  # ratio 0.94
    ("search_ranges_start", "FMRQuantize", "search_range_start"),
    ("migration_strengh", "DMQBalancer", "migration_strength"),
])
def test_misspellings_above_the_threshold_are_suggested(written: str, message: str, expected: str) -> None:
    assert difflib.SequenceMatcher(None, written, expected).ratio() >= schema.SIMILARITY
    assert schema.suggest_field(message, written) == expected


@pytest.mark.parametrize(("written", "message", "kind", "expected"), [
    ("clip_max", "FMRQuantize", "float", None),  # QAT's clip bound: nothing in IFMR is close
    ("fixed_min", "FMRQuantize", "identifier", None),
    ("quant_granularity", "HFMGQuantize", "identifier", None),  # KV-cache's
    ("bins", "HFMGQuantize", "integer", None),  # ratio 0.53 to num_of_bins, and no shared last word
    ("max_bits", "ARQuantize", "integer", "quant_bits"),  # the one integer field ending in `_bits`
    ("quant_bits", "ADAquantize", "integer", None),  # AdaRound has no width: no `_bits` field to offer
    ("channelwise", "ARQuantize", "identifier", "channel_wise"),
])
def test_suggestions_at_both_sides_of_the_threshold(written: str, message: str, kind: str,
                                                     expected: str | None) -> None:
    assert schema.suggest_field(message, written, kind) == expected


def test_short_fragments_stay_below_the_threshold() -> None:
    """A fragment of a field name is not a misspelling of it: these stay below 0.7 and get no suggestion."""
    below = [("bins", "HFMGQuantize", "num_of_bins"), ("step", "FMRQuantize", "search_step"),
             ("offset", "AMCTConfig", "activation_offset"), ("bits", "ARQuantize", "quant_bits")]
    for written, message, field in below:
        assert difflib.SequenceMatcher(None, written, field).ratio() < schema.SIMILARITY, (written, field)
        assert schema.suggest_field(message, written) is None


def test_a_field_of_another_block_is_suggested_for_a_misspelling_of_it_only() -> None:
    """`num_bits` in `ifmr_quantize` (AMCT's Caffe/TF activation width, as in its NUQ sample) is neither
    `arq_quantize`'s `quant_bits` (a shared last word) nor `hfmg_quantize`'s `num_of_bins` (ratio 0.84)."""
    (found,) = check("common_config { ifmr_quantize { num_bits: 8 } }\n").diagnostics
    assert found.code == "F001" and found.hint.startswith("`ifmr_quantize` takes ") and found.fix is None
    assert difflib.SequenceMatcher(None, "num_bits", "num_of_bins").ratio() < schema.ELSEWHERE_SIMILARITY
    # a letter off the name of a field of another block: that block is named, no rename is offered
    (found,) = check("common_config { ifmr_quantize { chanel_wise: true } }\n").diagnostics
    assert found.hint == "did you mean `channel_wise`? (a field of `arq_quantize`)" and found.fix is None


@pytest.mark.parametrize(("old", "new"), [
    ('layer_type: "Conv1d"', 'layer_type: "Conv2d"'),  # an edit inside an entry
    ("ulq_quantize: { dst_type: INT16 }", "ulq_quantize: { dst_type: INT8 }"),  # at the top
    ('layer_type: "Linear"\n', 'layer_type: "Linear"\n    retrain_data_quant_config: { }\n'),
])
def test_the_editor_gives_the_one_diagnostic_of_a_whole_lint(old: str, new: str) -> None:
    from pathlib import Path

    from cfglang.incremental import IncrementalLinter
    from cfglang.lint import lint

    text = (Path(__file__).parent / "corpus" / "qat_rnn_a16w8.cfg").read_text(encoding="utf-8")
    linter = IncrementalLinter("q.cfg")
    linter.lint(text.replace("retrain_data_quant_config", "common_config"))  # first without the telling field
    linter.lint(text)
    edited = text.replace(old, new)
    assert linter.lint(edited).diagnostics == lint(edited, "q.cfg").diagnostics


def test_nothing_but_the_one_diagnostic_in_a_file_of_another_kind() -> None:
    """The layout of AMCT's QAT documentation sample (docs/zh/context/qat_config.md): its placeholder type
    and layer names would be C001 and M001 in a config of ours."""
    import cfglang
    from cfglang.lint import lint

    text = ('retrain_data_quant_config { ulq_quantize { clip_max_min { clip_max: 6.0 clip_min: -6.0 } } }\n'
            'skip_layer_types: "Optype"\nskip_layers: "Opname"\n'
            'override_layer_types { layer_type: "Optype" retrain_weight_quant_config { arq_retrain { } } }\n')
    inventory = {"version": 1, "layers": [{"name": "fc", "type": "Linear"}], "foldable": [], "activations": []}
    assert [d.code for d in lint(text, "qat.cfg", None, inventory).diagnostics] == ["F016"]
    assert cfglang.resolve(check(text), inventory).diagnostics == ()


def test_a_long_file_of_another_kind_shows_twenty_places_and_counts_all() -> None:
    from cfglang.render import render_statistics

    text = "kv_cache_quant_config { }\n" + "".join(f'quant_layers_{i}: "m{i}"\n' for i in range(30))
    (found,) = check(text).diagnostics
    assert len(found.related) == 20 and found.folded == 30
    assert found.message.endswith("(the file has 30 other unknown fields)")
    assert render_statistics([found]).split() == ["31", "F016", "other-config-kind"]
