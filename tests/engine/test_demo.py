"""The digits demo: accuracy targets, ONNX Runtime agreement, and the `amct demo` / `amct quantize` CLIs."""

from __future__ import annotations

import io
import json
import textwrap

import pytest
import torch

import cfglang
from amct_cli import run
from quant import demo, model_inventory, quantize


@pytest.fixture(scope="module", params=["ifmr", "hfmg"])
def demo_row(request, digits):
    model, data, _ = digits
    checked = cfglang.check(demo.config_path(request.param).read_text(), "demo.cfg")
    plan = cfglang.resolve(checked, model_inventory(model))
    assert not checked.diagnostics and not plan.diagnostics
    assert [f.conv for f in plan.fusions] == ["conv1", "conv2", "conv3"]
    result = quantize(model, plan, demo.calibration_batches(data, plan.batch_num), progress=False)
    with torch.no_grad():
        fp32 = demo.accuracy(model(data.test_x), data.test_y)
    return demo.evaluate(model, result, data, request.param, 0, fp32)


def test_int8_within_half_a_point_of_fp32(demo_row):
    assert demo_row.fp32 > 95.0
    assert demo_row.int8 >= demo_row.fp32 - 0.5


def test_onnx_runtime_agrees_with_torch_fake_quant(demo_row):
    assert demo_row.agreement >= 99.5
    assert demo_row.cosine >= 0.999
    assert abs(demo_row.onnx - demo_row.int8) <= 0.5


def test_demo_cli(digits, monkeypatch, tmp_path):
    _, _, cache = digits
    out, err = io.StringIO(), io.StringIO()
    status = run(["demo", "--cache-dir", str(cache), "-o", str(tmp_path / "out")], out, err)
    assert status == 0, err.getvalue()
    text = out.getvalue()
    assert "using the cached digits CNN" in text
    assert "demo_ifmr.cfg" in text and "demo_hfmg.cfg" in text and "ONNX Runtime QDQ" in text
    assert (tmp_path / "out" / "hfmg" / "model_qdq.onnx").is_file()
    wrote = [line for line in err.getvalue().splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 10 and f"wrote {tmp_path / 'out' / 'hfmg' / 'model_qdq.onnx'}: " in err.getvalue()


def test_quantize_cli(digits, monkeypatch, tmp_path):
    model, data, cache = digits
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parent))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quant.cfg").write_text(textwrap.dedent("""\
        batch_num: 2
        skip_layers: "pool2"
        common_config { arq_quantize { channel_wise: true } }
        override_layer_types { layer_type: "Linear" calibration_config { arq_quantize { quant_bits: 8 } } }
        override_layer_types { layer_type: "AvgPool2d" calibration_config { hfmg_quantize { } } }
        """))
    torch.save(demo.calibration_batches(data, 3), tmp_path / "calib.pt")
    args = ["quantize", "quant.cfg", "--model", "quant.demo:digits_cnn", "--data", "calib.pt", "-o", "out",
            "--no-progress"]
    out, err = io.StringIO(), io.StringIO()
    assert run(args, out, err) == 0, err.getvalue()
    table = out.getvalue()
    assert "conv1" in table and "sqnr_db" in table and "pool2" not in table.split("wrote")[0]
    assert json.loads((tmp_path / "out" / "plan.json").read_text())["batch_num"] == 2
    out, err = io.StringIO(), io.StringIO()
    assert run(args, out, err) == 2 and "--force" in err.getvalue()
    assert run([*args, "--force"], io.StringIO(), io.StringIO()) == 0


def test_quantize_cli_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quant.cfg").write_text("batch_num: 4\n")
    torch.save([torch.zeros(1, 1, 8, 8)], tmp_path / "calib.pt")
    err = io.StringIO()
    status = run(["quantize", "quant.cfg", "--model", "no_such_mod:f", "--data", "calib.pt", "-o", "o"],
                 io.StringIO(), err)
    assert status == 2 and "no_such_mod" in err.getvalue() and "Traceback" not in err.getvalue()
    err = io.StringIO()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    status = run(["quantize", "quant.cfg", "--model", "quant.demo:DigitsCNN", "--data", "calib.pt", "-o", "o",
                  "--no-progress"], io.StringIO(), err)
    assert status == 2 and "got 1 calibration batch, expected `batch_num` = 4" in err.getvalue()
    (tmp_path / "bad.npz").write_bytes(b"nope")
    err = io.StringIO()
    status = run(["quantize", "quant.cfg", "--model", "quant.demo:DigitsCNN", "--data", "bad.npz", "-o", "o"],
                 io.StringIO(), err)
    assert status == 2 and "bad.npz" in err.getvalue()
