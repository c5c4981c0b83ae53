"""What the engine's commands say to a first-time user (issue 21): how `--data` was read, a batch that
does not fit the model, one warning form, one `wrote PATH: WHAT` line per file, progress bars only on a
terminal, the AdaRound estimate, `amct plan` with errors of both kinds, `amct demo` without `-o`.

The model is a small MLP written into the test's folder, so nothing is trained."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from clirun import amct  # noqa: E402

MODEL = """\
import warnings

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 16)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))


class Chatty(MLP):
    def forward(self, x):
        warnings.warn("the model says hello")
        return super().forward(x)


def mlp():
    torch.manual_seed(0)
    return MLP()


def chatty():
    torch.manual_seed(0)
    return Chatty()
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "mlp_model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "quant.cfg").write_text("batch_num: 2\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("mlp_model", None)


def quantize(data: str, *extra: str, model: str = "mlp_model:mlp", config: str = "quant.cfg") -> tuple[int, str, str]:
    return amct("quantize", config, "--model", model, "--data", data, "-o", "out", "--no-progress", *extra)


# ---------------------------------------------------------------- --data


def test_a_list_of_batches_is_said_with_its_shape(work: Path) -> None:
    torch.save([torch.randn(8, 20), torch.randn(8, 20)], work / "calib.pt")
    status, _, err = quantize("calib.pt")
    assert status == 0, err
    assert "amct quantize: read 2 calibration batches of shape [8, 20] from `calib.pt`\n" in err


def test_a_bare_tensor_is_split_along_dim_0_and_says_so(work: Path) -> None:
    torch.save(torch.randn(4, 20), work / "calib.pt")
    status, _, err = quantize("calib.pt")
    assert status == 0, err
    assert ("amct quantize: read 4 calibration batches of shape [20] from `calib.pt` (the file holds one tensor, "
            "split along dim 0; for one batch of 4 samples of shape [20], save a list: `torch.save([tensor], path)`)"
            in err)


def test_a_single_npz_array_is_split_and_named_arrays_are_batches(work: Path) -> None:
    import numpy as np

    np.savez(work / "one.npz", x=np.zeros((3, 5, 20), dtype=np.float32))
    status, _, err = quantize("one.npz")
    assert status == 0 and "read 3 calibration batches of shape [5, 20] from `one.npz` (the file holds" in err
    np.savez(work / "named.npz", batch_0=np.zeros((5, 20), np.float32), batch_1=np.zeros((2, 20), np.float32))
    status, _, err = quantize("named.npz", "--force")
    assert status == 0 and "read 2 calibration batches of shapes [5, 20] ... [2, 20] from `named.npz`\n" in err


def test_tuples_and_dicts_are_described(work: Path) -> None:
    from amct_cli.quantize import describe_batches
    from quant.batches import describe_batch

    assert describe_batch((torch.zeros(2, 3), torch.zeros(2))) == "([2, 3], [2])"
    assert describe_batch({"x": torch.zeros(1, 4)}) == "{x: [1, 4]}"
    assert describe_batches([torch.zeros(3)]) == "1 calibration batch of shape [3]"


def test_a_1d_tensor_is_refused_with_the_formats_that_work(work: Path) -> None:
    torch.save(torch.randn(20), work / "calib.pt")
    status, out, err = quantize("calib.pt")
    assert status == 2 and out == ""
    assert err.startswith("amct quantize: `calib.pt` holds one tensor of shape [20], whose dim 0 would give batches "
                          "of single numbers; expected a `.pt` file holding a list of batches")
    assert "`.npz`" in err and err.count("\n") == 1


def test_too_few_batches_say_one_batch_not_one_batches(work: Path) -> None:
    torch.save([torch.randn(8, 20)], work / "calib.pt")
    status, _, err = quantize("calib.pt")
    assert status == 2
    assert "read 1 calibration batch of shape [8, 20]" in err
    assert "got 1 calibration batch, expected `batch_num` = 2 from the plan" in err


# ---------------------------------------------------------------- a batch that does not fit


def test_a_batch_the_model_fails_on_is_a_user_error_naming_batch_and_layer(work: Path) -> None:
    torch.save([torch.randn(8, 20), torch.randn(8, 12)], work / "calib.pt")
    status, out, err = quantize("calib.pt")
    assert status == 1 and out == ""
    assert ("amct quantize: calibration batch 1 (shape [8, 12]) does not fit the model: in layer `fc1` (`Linear`): "
            "RuntimeError: mat1 and mat2 shapes cannot be multiplied (8x12 and 20x16)") in err
    assert "internal error" not in err and "Traceback" not in err
    assert not (work / "out").exists()


def test_debug_shows_the_models_own_traceback(work: Path) -> None:
    torch.save([torch.randn(8, 12), torch.randn(8, 12)], work / "calib.pt")
    with pytest.raises(Exception) as caught:
        amct("--debug", "quantize", "quant.cfg", "--model", "mlp_model:mlp", "--data", "calib.pt", "-o", "out")
    assert "batch 0" in str(caught.value) and isinstance(caught.value.__cause__, RuntimeError)


def test_the_table_has_each_layers_output_cosine_unless_told_not_to(work: Path) -> None:
    torch.save([torch.randn(8, 20), torch.randn(8, 20)], work / "calib.pt")

    def cosines(out: str) -> list[str]:
        head, *rows = [line.split() for line in out.splitlines() if line.strip() and not set(line) <= set("- ")]
        return [row[head.index("cosine") - len(head)] for row in rows]

    status, out, err = quantize("calib.pt", "--no-onnx")
    assert status == 0, err
    assert len(cosines(out)) == 2 and all(0.9 < float(c) <= 1.0 for c in cosines(out))
    status, out, err = quantize("calib.pt", "--no-onnx", "--no-layer-cosines", "--force")
    assert status == 0, err
    assert cosines(out) == ["-", "-"]


# ---------------------------------------------------------------- one form for warnings and written files


def test_python_warnings_are_printed_in_the_clis_form(work: Path) -> None:
    torch.save([torch.randn(8, 20), torch.randn(8, 20)], work / "calib.pt")
    status, _, err = quantize("calib.pt", model="mlp_model:chatty")
    assert status == 0, err
    assert "amct quantize: warning: the model says hello\n" in err
    assert ".py:" not in err and "UserWarning" not in err


def test_every_written_file_gets_one_wrote_line(work: Path) -> None:
    torch.save([torch.randn(8, 20), torch.randn(8, 20)], work / "calib.pt")
    status, out, err = quantize("calib.pt")
    assert status == 0, err
    wrote = [line for line in err.splitlines() if line.startswith("wrote ")]
    names = ["record.txt", "config.json", "plan.json", "fake_quant_model.pt", "model_qdq.onnx"]
    assert [line.split(":")[0] for line in wrote] == [f"wrote {Path('out') / n}" for n in names]
    assert "quant.load_fake_quant_model" in err and "ONNX Runtime" in err
    assert "wrote" not in out  # stdout is the table alone

    status, _, err = amct("layers", "--model", "mlp_model:mlp", "-o", "layers.json")
    assert status == 0 and err == "wrote layers.json: layer inventory, 3 layers (2 quantizable), 0 foldable pairs\n"
    status, _, err = amct("plan", "quant.cfg", "--layers", "layers.json", "-o", "plan.json")
    assert status == 0 and err == "wrote plan.json: the plan (native JSON)\n"
    status, _, err = amct("convert", "quant.cfg", "--to", "json", "-o", "quant.json")
    assert status == 0 and err == "wrote quant.json: the config as JSON\n"


def test_existing_outputs_name_the_option_not_the_python_argument(work: Path) -> None:
    torch.save([torch.randn(8, 20), torch.randn(8, 20)], work / "calib.pt")
    assert quantize("calib.pt")[0] == 0
    status, _, err = quantize("calib.pt")
    assert status == 2 and "pass `--force` to overwrite them" in err and "overwrite=" not in err


# ---------------------------------------------------------------- amct plan


def _one_layer(work: Path) -> None:
    layers = {"version": 1, "layers": [{"name": "fc1", "type": "Linear"}]}
    (work / "layers.json").write_text(json.dumps(layers), encoding="utf-8")


def test_plan_reports_config_and_model_errors_in_one_run(work: Path) -> None:
    _one_layer(work)
    (work / "bad.cfg").write_text('batch_num: 2\nquant_bitz: 8\nskip_layers: "fc9"\n', encoding="utf-8")
    status, out, err = amct("plan", "bad.cfg", "--layers", "layers.json", "-o", "plan.json")
    assert status == 1 and out == ""
    assert "error[F001]" in err and "error[M001]" in err  # the config's and the model's, together
    assert err.rstrip("\n").endswith("amct plan: no plan written: 2 errors above")
    assert not (work / "plan.json").exists()


def test_plan_with_syntax_errors_says_no_plan_written(work: Path) -> None:
    _one_layer(work)
    (work / "bad.cfg").write_text('batch_num: "2\n', encoding="utf-8")
    status, out, err = amct("plan", "bad.cfg", "--layers", "layers.json")
    assert status == 1 and out == ""
    assert "error[S" in err and err.rstrip("\n").endswith("amct plan: no plan written: the config has syntax errors")


def test_plan_table_warns_with_an_adaround_estimate(work: Path) -> None:
    layers = [{"name": f"fc{i}", "type": "Linear"} for i in range(6)]
    (work / "layers.json").write_text(json.dumps({"version": 1, "layers": layers}), encoding="utf-8")
    (work / "ada.cfg").write_text("batch_num: 2\ncommon_config { ada_quantize { } }\n", encoding="utf-8")
    status, out, err = amct("plan", "ada.cfg", "--layers", "layers.json", "--format", "table")
    assert status == 0 and "ada 8b" in out
    assert err.startswith("amct plan: warning: AdaRound (`ada_quantize`) is planned for 6 layers, 10000 iterations "
                          "each: about 2 minutes on a CPU at 2 ms per iteration")
    (work / "ada.cfg").write_text("batch_num: 2\ncommon_config { ada_quantize { num_iteration: 100 } }\n",
                                  encoding="utf-8")
    assert amct("plan", "ada.cfg", "--layers", "layers.json", "--format", "table")[2] == ""


# ---------------------------------------------------------------- progress bars


ADA_CFG = "batch_num: 2\ncommon_config { ada_quantize { num_iteration: 300 } }\n"


def _quantize_process(work: Path, stderr: int) -> subprocess.Popen[bytes]:
    (work / "ada.cfg").write_text(ADA_CFG, encoding="utf-8")
    torch.save([torch.randn(8, 20), torch.randn(8, 20)], work / "calib.pt")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(work), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "amct_cli", "quantize", "ada.cfg", "--model", "mlp_model:mlp",
                             "--data", "calib.pt", "-o", "out"], cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=stderr)


def test_no_progress_bar_codes_go_into_a_pipe(work: Path) -> None:
    proc = _quantize_process(work, subprocess.PIPE)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert b"\x1b[" not in err and b"\r" not in err
    assert b"wrote out" in err


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_on_a_terminal_the_adaround_bar_shows_layer_and_iteration(work: Path) -> None:
    import fcntl
    import struct
    import termios

    primary, secondary = os.openpty()
    # a new pseudo-terminal is 0 columns wide, and tqdm draws nothing into 0 columns
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        proc = _quantize_process(work, secondary)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=300)
    finally:
        os.close(primary)
    shown = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, shown
    assert "AdaRound fc1" in shown and "/300" in shown


# ---------------------------------------------------------------- amct demo


def test_demo_without_output_says_that_o_exists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import amct_cli.demo as demo_cli

    monkeypatch.setattr("amct_cli.demo.run_demo", lambda stdout, stderr, **kwargs: 0)
    import argparse

    err = io.StringIO()
    args = argparse.Namespace(cache_dir=None, output=None, force=False)
    assert demo_cli.main(args, io.StringIO(), err) == 0
    assert err.getvalue() == ("amct demo: nothing written; pass `-o DIR` to save each quantized model's outputs "
                              "(record, AMCT config, plan, fake-quant model, ONNX) under DIR/ifmr and DIR/hfmg\n")



# ---------------------------------------------------------------- an extra that is not installed


@pytest.mark.parametrize("command, extra", [("demo", "quant"), ("lsp", "lsp")])
def test_a_missing_package_of_an_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch, command: str,
                                                           extra: str) -> None:
    """A command of an extra imports its packages when it runs (numpy for the demo, lsprotocol for the server)."""
    import importlib

    from amct_cli import COMMANDS

    def missing(*_args: object) -> int:
        raise ModuleNotFoundError("No module named 'numpy'", name="numpy")

    monkeypatch.setattr(importlib.import_module(COMMANDS[command].module), "main", missing)
    status, out, err = amct(command)
    assert (status, out) == (2, "")
    assert err.startswith(f"amct {command}: needs the `numpy` package, which is not installed (install")
    assert f"pip install 'amct-cfg[{extra}]', or '.[{extra}]' in a clone)" in err and "internal error" not in err
