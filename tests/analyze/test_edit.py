"""cfglang.edit: where `amct tune` puts its entries, what it keeps, and that lint and fmt accept the result."""

from __future__ import annotations

import pytest

from cfglang.edit import EditError, LayerChange, apply_edits, calibration_config_of, layer_edits
from cfglang.formatter import format_text
from cfglang.inventory import Inventory
from cfglang.lint import lint
from cfglang.parser import parse
from cfglang.planner import resolve

BASE = """\
# proto-message: AMCTConfig
batch_num: 2  # two batches
activation_offset: true

# every layer
common_config {
  arq_quantize {
    channel_wise: true
  }
}
override_layer_configs {
  layer_name: "conv1"  # the stem
  calibration_config {
    arq_quantize {
      channel_wise: true
    }
    ifmr_quantize {
      search_range_start: 0.2
      search_range_end: 0.3
    }
  }
}
do_fusion: true
"""

HFMG = {"hfmg_quantize": {"num_of_bins": 4096, "asymmetric": True}}
FULL = {"arq_quantize": {"channel_wise": True, "quant_bits": 8}, **HFMG}
INVENTORY = Inventory.from_dict({"version": 1, "layers": [
    {"name": "conv1", "type": "Conv2d"}, {"name": "conv2", "type": "Conv2d"}, {"name": "fc", "type": "Linear"}]})


def edited(text: str, *changes: LayerChange) -> str:
    return apply_edits(text, layer_edits(parse(text), changes))


def test_setting_in_an_existing_entry_replaces_its_block_and_keeps_the_rest():
    out = edited(BASE, LayerChange("conv1", "lowest output cosine 0.25 -> 0.99", blocks=HFMG, calibration_config=FULL))
    assert "ifmr_quantize" not in out and "search_range_start" not in out
    assert ('    # amct tune: lowest output cosine 0.25 -> 0.99\n    hfmg_quantize {\n      num_of_bins: 4096\n'
            '      asymmetric: true\n    }\n') in out
    assert 'layer_name: "conv1"  # the stem' in out and "# every layer" in out and "two batches" in out
    assert format_text(out) == out


def test_a_new_entry_goes_after_the_last_entry_with_the_complete_settings():
    out = edited(BASE, LayerChange("conv2", "x 0.5 -> 0.9", blocks=HFMG, calibration_config=FULL))
    entry = ('# amct tune: x 0.5 -> 0.9\noverride_layer_configs {\n  layer_name: "conv2"\n  calibration_config {\n'
             '    arq_quantize {\n      channel_wise: true\n      quant_bits: 8\n    }\n    hfmg_quantize {\n')
    assert entry in out
    assert out.index('layer_name: "conv1"') < out.index('layer_name: "conv2"') < out.index("do_fusion")
    assert format_text(out) == out


def test_skips_go_after_the_fields_before_them_in_the_proto_in_the_order_given():
    out = edited(BASE, LayerChange("fc", "a"), LayerChange("conv2", "b", skip=True), LayerChange("fc", "c", skip=True))
    assert ('activation_offset: true\n# amct tune: b\nskip_layers: "conv2"\n# amct tune: c\nskip_layers: "fc"\n\n'
            '# every layer') in out
    assert format_text(out) == out


def test_the_edited_file_lints_clean_and_resolves_to_the_change():
    out = edited(BASE, LayerChange("conv2", "x", blocks=HFMG, calibration_config=FULL), LayerChange("fc", "y", skip=True))
    assert lint(out).diagnostics == ()
    plan = resolve(out, INVENTORY)
    assert plan.layer("conv2").activation.algo == "hfmg" and plan.layer("conv2").weight.channel_wise
    assert not plan.layer("fc").quantize and plan.layer("fc").skip.reason == "skip_layers"


def test_calibration_config_of_a_layer_gives_back_its_settings():
    plan = resolve(BASE, INVENTORY)
    layer = plan.layer("conv1")
    out = edited(BASE, LayerChange("conv2", "same as conv1", calibration_config=calibration_config_of(layer)))
    again = resolve(out, INVENTORY).layer("conv2")
    assert (again.weight, again.activation, again.dmq_balancer) == (layer.weight, layer.activation, layer.dmq_balancer)


def test_crlf_and_a_file_without_fields():
    crlf = BASE.replace("\n", "\r\n")
    out = edited(crlf, LayerChange("fc", "y", skip=True))
    assert '\r\n# amct tune: y\r\nskip_layers: "fc"\r\n' in out and "\n" not in out.replace("\r\n", "")
    assert edited("", LayerChange("fc", "y", skip=True)) == '# amct tune: y\nskip_layers: "fc"\n'
    assert edited("# only a comment", LayerChange("fc", "y", skip=True)) == \
        '# only a comment\n# amct tune: y\nskip_layers: "fc"\n'


def test_a_new_field_before_the_first_field_keeps_the_comment_above_that_field():
    out = edited("# header\n\n# about common\ncommon_config {\n}\n", LayerChange("fc", "y", skip=True))
    assert out == '# header\n\n# amct tune: y\nskip_layers: "fc"\n# about common\ncommon_config {\n}\n'


def test_a_block_added_to_an_entry_without_one():
    text = 'override_layer_configs {\n  layer_name: "fc"\n  calibration_config {\n    arq_quantize {\n    }\n  }\n}\n'
    out = edited(text, LayerChange("fc", "z", blocks=HFMG, calibration_config=FULL))
    assert out == ('override_layer_configs {\n  layer_name: "fc"\n  calibration_config {\n    arq_quantize {\n    }\n'
                   '    # amct tune: z\n    hfmg_quantize {\n      num_of_bins: 4096\n      asymmetric: true\n    }\n'
                   '  }\n}\n')


def test_a_file_with_syntax_errors_is_refused():
    with pytest.raises(EditError, match="syntax errors"):
        layer_edits(parse("batch_num: {"), [LayerChange("fc", "y", skip=True)])
