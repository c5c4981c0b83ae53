"""`amct plan`, `amct quantize` and `amct layers` say which weights stay in float and why, and which layers
are quantized by their torch.nn base class."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirun import amct

LAYERS = {
    "version": 1,
    "layers": [
        {"name": "embed", "type": "Embedding"},
        {"name": "conv", "type": "Conv3d", "class_name": "Conv3DSimple"},
        {"name": "attn.out_proj", "type": "Linear", "class_name": "NonDynamicallyQuantizableLinear", "called": False},
        {"name": "norm1", "type": "LayerNorm"},
        {"name": "norm2", "type": "LayerNorm"},
        {"name": "fc", "type": "Linear"},
    ],
    "weights": [
        {"name": "embed", "type": "Embedding"},
        {"name": "attn.in_proj_weight", "type": "MultiheadAttention", "parameter": True},
        {"name": "norm1", "type": "LayerNorm"},
        {"name": "norm2", "type": "LayerNorm"},
    ],
}
SUMMARY = [
    "amct plan: left in float: 6 weighted modules and parameters (`-v` names them)",
    "  never called by the model's forward (unused, or another module reads its weight): "
    "1 NonDynamicallyQuantizableLinear (Linear)",
    "  listed in `skip_layers`: 1 Linear",
    "  a type AMCT does not quantize: 1 Embedding, 2 LayerNorm",
    "  a parameter used outside any module call: 1 MultiheadAttention",
]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quant.cfg").write_text('batch_num: 2\nskip_layers: "fc"\n', encoding="utf-8")
    (tmp_path / "layers.json").write_text(json.dumps(LAYERS), encoding="utf-8")
    return tmp_path


def test_plan_prints_what_it_leaves_in_float_by_reason_and_type(work: Path) -> None:
    status, out, err = amct("plan", "quant.cfg", "--layers", "layers.json", "--format", "table")
    assert status == 0, err
    assert err.splitlines() == SUMMARY
    assert "Conv3DSimple (Conv3d)" in out and "no (not_called)" in out


def test_plan_names_them_with_verbose_and_in_its_json(work: Path) -> None:
    status, out, err = amct("plan", "quant.cfg", "--layers", "layers.json", "-v")
    assert status == 0, err
    assert err.splitlines() == [
        "amct plan: left in float: 6 weighted modules and parameters",
        SUMMARY[1], "    NonDynamicallyQuantizableLinear (Linear): `attn.out_proj`",
        SUMMARY[2], "    Linear: `fc`",
        SUMMARY[3], "    Embedding: `embed`", "    LayerNorm: `norm1`, `norm2`",
        SUMMARY[4], "    MultiheadAttention: `attn.in_proj_weight`",
    ]
    data = json.loads(out)
    assert data["left_float"][1] == {"name": "attn.in_proj_weight", "type": "MultiheadAttention",
                                     "reason": "outside_call"}
    assert data["layers"][1]["skip"] == {"reason": "not_called", "line": None, "column": None}


def test_a_plan_that_quantizes_every_weight_prints_no_summary(work: Path) -> None:
    (work / "layers.json").write_text(json.dumps({"version": 1, "layers": [{"name": "fc", "type": "Linear"}]}),
                                      encoding="utf-8")
    (work / "quant.cfg").write_text("batch_num: 2\n", encoding="utf-8")
    status, _, err = amct("plan", "quant.cfg", "--layers", "layers.json", "-o", "plan.json")
    assert status == 0 and err == "wrote plan.json: the plan (native JSON)\n"


torch = pytest.importorskip("torch")

MODEL = '''
import torch
from torch import nn


class Conv3DSimple(nn.Conv3d):
    pass


class Net(nn.Module):
    def __init__(self, conv=Conv3DSimple):
        super().__init__()
        self.conv = conv(2, 4, 1)
        self.norm = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 3)
        self.unused = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(self.norm(self.conv(x).mean(dim=(2, 3, 4))))


def net():
    torch.manual_seed(0)
    return Net()


def plain():
    torch.manual_seed(0)
    return Net(nn.Conv3d)
'''


def test_layers_and_quantize_say_it_for_a_model(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (work / "net.py").write_text(MODEL, encoding="utf-8")
    monkeypatch.syspath_prepend(str(work))
    (work / "quant.cfg").write_text("batch_num: 2\n", encoding="utf-8")
    status, _, err = amct("layers", "--model", "net:net", "-o", "net.json")
    assert status == 0 and err == ("wrote net.json: layer inventory, 4 layers (3 quantizable), 0 foldable pairs; "
                                   "quantizable by their base class: Conv3DSimple (Conv3d)\n")
    torch.save([torch.randn(2, 2, 3, 4, 4), torch.randn(2, 2, 3, 4, 4)], work / "calib.pt")
    status, _, err = amct("quantize", "quant.cfg", "--model", "net:plain", "--data", "calib.pt", "-o", "out",
                          "--no-progress", "--no-onnx")
    assert status == 0, err
    assert ("amct quantize: left in float: 2 weighted modules and parameters (the written plan.json names them)\n"
            "  never called by the model's forward (unused, or another module reads its weight): 1 Linear\n"
            "  a type AMCT does not quantize: 1 LayerNorm\n") in err
    plan = json.loads((work / "out" / "plan.json").read_text(encoding="utf-8"))
    assert [(layer["name"], layer.get("class_name"), layer["quantize"]) for layer in plan["layers"]] == [
        ("conv", None, True), ("fc", None, True), ("unused", None, False)]
