"""`amct quantize`'s five outputs appear together or not at all; a folder in the way is caught first."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from cfglang.checker import check  # noqa: E402
from cfglang.planner import resolve  # noqa: E402
from quant import quantize  # noqa: E402
from quant.inventory import model_inventory  # noqa: E402
from quant.result import OUTPUT_FILES, OutputDirError  # noqa: E402

from clirun import amct  # noqa: E402


EXAMPLE = torch.randn(1, 4)


@pytest.fixture(scope="module")
def result():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    plan = resolve(check("batch_num: 1\n"), model_inventory(model, "tiny"))
    return quantize(model, plan, [torch.randn(2, 4)], progress=False)


def test_a_full_disk_leaves_no_output(tmp_path: Path, result, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        if self.name == "model_qdq.onnx":  # the last output: the others are written by then
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OutputDirError, match="no space left on device; no output file was written"):
        result.save(tmp_path / "out", EXAMPLE)
    assert list((tmp_path / "out").iterdir()) == []


def test_outputs_appear_together_and_replace_old_ones(tmp_path: Path, result) -> None:
    paths = result.save(tmp_path / "out", EXAMPLE).written
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUT_FILES) == sorted(paths)
    result.save(tmp_path / "out", EXAMPLE, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUT_FILES)


def test_a_killed_save_is_cleaned_by_the_next(tmp_path: Path, result) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stray = tmp_path / "out" / f".amct-save-{dead.stdout.strip()}-abcd"
    stray.mkdir(parents=True)
    (stray / "record.txt").write_text("half")
    result.save(tmp_path / "out", EXAMPLE)
    assert not stray.exists()


def test_an_output_name_that_is_a_folder_is_caught_before_calibration(work: Path) -> None:
    (work / "quant.cfg").write_text("batch_num: 1\n")
    (work / "out" / "plan.json").mkdir(parents=True)
    # the model cannot even be imported: the folder must be found first
    status, _, err = amct("quantize", "quant.cfg", "--model", "no_such_module:f", "--data", "none.pt",
                          "-o", "out", "--force")
    assert status == 2 and "plan.json`: it is a folder" in err and "no_such_module" not in err
    (work / "file").write_text("")
    status, _, err = amct("quantize", "quant.cfg", "--model", "no_such_module:f", "--data", "none.pt",
                          "-o", "file")
    assert status == 2 and "it is a file, expected a folder" in err
    assert not [p for p in work.rglob("*") if p.name.startswith(".amct")]
    assert os.listdir(work / "out") == ["plan.json"]


def test_a_full_disk_in_the_demo_is_one_line(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import amct_cli.demo

    def full(*args, **kwargs):  # what QuantResult.save raises when the disk fills while saving
        raise OutputDirError("cannot write the outputs into `out/ifmr`: no space left on device; no output file "
                             "was written")

    monkeypatch.setattr(amct_cli.demo, "run_demo", full)
    status, _, err = amct("demo", "-o", "out")
    assert status == 2 and err == ("amct demo: cannot write the outputs into `out/ifmr`: no space left on device; "
                                   "no output file was written\n")
