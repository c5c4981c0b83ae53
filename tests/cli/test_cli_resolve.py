"""`amct plan`, `amct schema`, `amct convert`, `amct explain --layer` and `amct layers`, in process."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from clirun import amct
from cfglang.jsonschemas import schema
from cfglang.plan import Plan

EXAMPLES = Path(__file__).resolve().parents[2] / "tests" / "data" / "valid"
LAYERS = {
    "version": 1,
    "layers": [{"name": "conv1", "type": "Conv2d"}, {"name": "bn1", "type": "BatchNorm2d"},
               {"name": "fc", "type": "Linear"}],
    "foldable": [{"conv": "conv1", "bn": "bn1"}],
}
CFG = """batch_num: 2
common_config {
  arq_quantize { quant_bits: 7 }
  ifmr_quantize { search_range_start: 0.7 asymmetric: false }
}
override_layer_types {
  layer_type: "Linear"
  calibration_config { hfmg_quantize { num_of_bins: 2048 } }
}
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quant.cfg").write_text(CFG)
    (tmp_path / "layers.json").write_text(json.dumps(LAYERS))
    return tmp_path


def test_plan_native_json(files: Path) -> None:
    status, out, err = amct("plan", "quant.cfg", "--layers", "layers.json")
    assert status == 0, err
    data = json.loads(out)
    jsonschema.Draft202012Validator(schema("plan")).validate(data)
    assert data["config"] == "quant.cfg" and data["batch_num"] == 2
    assert data["fusions"] == [{"conv": "conv1", "bn": "bn1"}]
    conv = data["layers"][0]
    assert conv["weight"] == {"algo": "arq", "bits": 7, "channel_wise": True}
    assert conv["activation"]["search_range_start"] == 0.7  # shortest float32, not 0.699999988
    assert '"search_range_start": 0.7,' in out
    assert conv["provenance"]["weight.bits"] == {"from": "common_config", "line": 3, "column": 30}
    assert data["layers"][1]["activation"] == {"algo": "hfmg", "bits": 8, "asymmetric": True, "num_of_bins": 2048}
    assert Plan.from_dict(data).to_dict() == data


def test_plan_amct_json_and_table(files: Path) -> None:
    status, out, _ = amct("plan", "quant.cfg", "--layers", "layers.json", "--format", "amct-json")
    assert status == 0
    data = json.loads(out)
    assert list(data)[:5] == ["version", "batch_num", "activation_offset", "do_fusion", "skip_fusion_layers"]
    assert data["conv1"] == {
        "quant_enable": True,
        "activation_quant_params": {"num_bits": 8, "act_algo": "ifmr", "max_percentile": 0.999999,
                                    "min_percentile": 0.999999, "search_range": [0.7, 1.3], "search_step": 0.01,
                                    "asymmetric": False},
        "weight_quant_params": {"num_bits": 7, "wts_algo": "arq_quantize", "channel_wise": True},
    }
    assert data["fc"]["activation_quant_params"] == {"num_bits": 8, "act_algo": "hfmg", "num_of_bins": 2048,
                                                     "asymmetric": True}
    status, out, _ = amct("plan", "quant.cfg", "--layers", "layers.json", "--format", "table")
    assert status == 0
    assert out.splitlines()[2].split() == ["conv1", "Conv2d", "yes", "arq", "7b", "per-channel", "ifmr", "8b",
                                           "symmetric", "-"]
    assert "fused: conv1+bn1" in out


def test_plan_output_file_is_never_overwritten_without_force(files: Path) -> None:
    (files / "plan.json").write_text("keep")
    status, _, err = amct("plan", "quant.cfg", "--layers", "layers.json", "-o", "plan.json")
    assert status == 2 and "`plan.json` exists; pass `--force`" in err
    assert (files / "plan.json").read_text() == "keep"
    status, _, _ = amct("plan", "quant.cfg", "--layers", "layers.json", "-o", "plan.json", "--force")
    assert status == 0 and json.loads((files / "plan.json").read_text())["version"] == 1


def test_plan_with_errors_writes_nothing(files: Path) -> None:
    (files / "bad.cfg").write_text('skip_layers: "conv_1"\n')
    status, out, err = amct("plan", "bad.cfg", "--layers", "layers.json", "-o", "plan.json")
    assert status == 1 and out == "" and not (files / "plan.json").exists()
    assert "bad.cfg:1:14: error[M001]" in err and "did you mean `conv1`?" in err
    (files / "broken.cfg").write_text("batch_num: \n")
    status, _, err = amct("plan", "broken.cfg", "--layers", "layers.json")
    assert status == 1 and "broken.cfg:" in err


@pytest.mark.parametrize("argv, message", [
    (["plan", "missing.cfg", "--layers", "layers.json"], "cannot read `missing.cfg`"),
    (["plan", "quant.cfg", "--layers", "nope.json"], "cannot read layer inventory `nope.json`"),
    (["plan", "quant.cfg", "--model", "no_such_module:factory"], "cannot import `no_such_module`"),
])
def test_plan_failures_are_one_line(files: Path, argv: list[str], message: str) -> None:
    status, _, err = amct(*argv)
    assert status == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_schema_command(files: Path) -> None:
    for which in ("config", "plan", "inventory", "report"):
        status, out, _ = amct("schema", which)
        assert status == 0
        jsonschema.Draft202012Validator.check_schema(json.loads(out))
    status, out, _ = amct("schema")
    config = json.loads(out)

    def keywords(prop: dict) -> dict:  # the descriptions are checked in tests/checker/test_descriptions.py
        assert prop.pop("description")
        return prop

    assert keywords(config["properties"]["batch_num"]) == {"type": "integer", "minimum": 1, "maximum": 4294967295,
                                                           "default": 1}
    assert keywords(config["$defs"]["ARQuantize"]["properties"]["quant_bits"]) == {"enum": [6, 7, 8], "default": 8}
    assert config["$defs"]["OverrideLayer"]["required"] == ["layer_name", "calibration_config"]
    mode = keywords(config["properties"]["fakequant_precision_mode"])
    assert mode.pop("enumDescriptions")[0].startswith("Round each activation scale")
    assert mode == {"enum": ["FORCE_FP16_QUANT"]}


def test_convert_round_trip(files: Path) -> None:
    status, out, _ = amct("convert", "quant.cfg", "--to", "json")
    assert status == 0
    data = json.loads(out)
    jsonschema.Draft202012Validator(schema("config")).validate(data)
    assert data["common_config"]["ifmr_quantize"] == {"search_range_start": 0.7, "asymmetric": False}
    (files / "config.json").write_text(out)
    status, back, _ = amct("convert", "config.json", "--to", "cfg")
    assert status == 0
    from cfglang.checker import check

    assert check(back).config == check(CFG).config


@pytest.mark.parametrize("data, message", [
    ({"batch_num": 0}, "`batch_num`: found 0"),
    ({"common_config": {"arq_quantize": {"quant_bits": 4}}}, "`common_config.arq_quantize.quant_bits`: found 4"),
    ({"common_config": {"arq_quantize": {}, "ada_quantize": {}}}, "`common_config`"),
    ({"override_layer_configs": [{"layer_name": "x"}]}, "missing `calibration_config`"),
    ({"batch_nm": 1}, "unknown key `batch_nm`"),
])
def test_convert_rejects_invalid_json(files: Path, data: dict, message: str) -> None:
    (files / "bad.json").write_text(json.dumps(data))
    status, _, err = amct("convert", "bad.json", "--to", "cfg")
    assert status == 2 and message in err, err


def test_explain_layer(files: Path) -> None:
    status, out, _ = amct("explain", "quant.cfg", "--layer", "conv1", "--layers", "layers.json")
    assert status == 0
    assert "  weight.bits = 7  (common_config, quant.cfg:3:30)\n         3 | arq_quantize { quant_bits: 7 }\n" in out
    assert "  weight.channel_wise = true  (default)\n" in out
    status, out, _ = amct("explain", "quant.cfg", "--layer", "fc", "--layers", "layers.json")
    assert "activation.num_of_bins = 2048  (override_layer_types, quant.cfg:8:53)" in out
    status, _, err = amct("explain", "quant.cfg", "--layer", "fc2", "--layers", "layers.json")
    assert status == 2 and "did you mean `fc`?" in err


def test_layers_command(files: Path) -> None:
    pytest.importorskip("torch")
    (files / "tiny_models.py").write_text(
        "from torch import nn\n"
        "def cnn():\n"
        "    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))\n"
        "def not_a_model():\n"
        "    return 3\n")
    status, _, err = amct("layers", "--model", "tiny_models:cnn", "-o", "layers.json", "--force")
    assert status == 0, err
    data = json.loads((files / "layers.json").read_text())
    jsonschema.Draft202012Validator(schema("inventory")).validate(data)
    assert data["foldable"] == [{"conv": "0", "bn": "1"}]
    status, _, err = amct("layers", "--model", "tiny_models:not_a_model")
    assert status == 2 and "returned a `int`, expected a `torch.nn.Module`" in err
    status, _, err = amct("layers", "--model", "tiny_models:missing")
    assert status == 2 and "has no `missing`" in err and "`cnn`" in err
    status, out, _ = amct("plan", "quant.cfg", "--model", "tiny_models:cnn", "--format", "table")
    assert status == 0 and out.startswith("layer")
