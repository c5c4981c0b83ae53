"""amct analyze and amct tune on the command line: outputs, one-line errors, --diff, --write."""

from __future__ import annotations

import json

import pytest
import torch

from cfglang.report import load_report
from clirun import amct


@pytest.fixture()
def files(demo_case, tmp_path, monkeypatch):
    """A folder with the bad config and the data files; the demo model comes from the test's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(demo_case.cache))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quant.cfg").write_text(demo_case.bad, encoding="utf-8")
    torch.save(demo_case.calib, tmp_path / "calib.pt")
    torch.save(demo_case.evaluation, tmp_path / "eval.pt")
    torch.save(demo_case.labelled, tmp_path / "labelled.pt")
    return tmp_path


MEASURE = ("--model", "quant.demo:digits_cnn", "--data", "calib.pt", "--no-progress")


def test_analyze_writes_the_report_and_prints_the_worst_layers(files):
    status, out, err = amct("analyze", "quant.cfg", *MEASURE, "--eval-data", "eval.pt", "-o", "report")
    assert status == 0, err
    report = load_report(json.loads((files / "report" / "report.json").read_text(encoding="utf-8")))
    assert report.config_path == "../quant.cfg" and report.samples == 500
    assert (files / "report" / "report.html").read_text(encoding="utf-8").lower().startswith("<!doctype html>")
    first_row = out.splitlines()[2].split()
    assert first_row[:2] == ["1", "conv1"]
    assert "wrote report/report.json" in err and "wrote report/report.html" in err
    status, _, err = amct("analyze", "quant.cfg", *MEASURE, "-o", "report")
    assert status == 2 and err.strip().splitlines()[-1] == (
        "amct analyze: `report` already has `report.json`, `report.html`; pass `--force` to overwrite them")


@pytest.mark.parametrize("metric, status, message", [
    ("accuracy", 2, "amct analyze: found `accuracy` for `--metric`, expected `package.module:function`"),
    ("no_such_module:fn", 2, "amct analyze: --metric: cannot import `no_such_module`: no module named "
                             "`no_such_module` (is the current directory the one that holds it?)"),
    ("metrics_support:TITLE", 2, "amct analyze: --metric: `metrics_support:TITLE` is a `str`, expected a "
                                 "function fn(outputs, batch) -> float"),
    ("metrics_support:broken", 1, "amct analyze: the metric `metrics_support:broken` raised on evaluation batch 0: "
                                  "ValueError: no labels in this batch"),
])
def test_a_bad_metric_is_one_line(files, metric, status, message):
    got, out, err = amct("analyze", "quant.cfg", *MEASURE, "--eval-data", "labelled.pt", "--metric", metric,
                         "-o", "report")
    assert (got, err.strip().splitlines()[-1]) == (status, message)
    assert not (files / "report").exists()


def test_no_evaluation_batch_is_one_line(files):
    torch.save([], files / "empty.pt")
    status, _, err = amct("analyze", "quant.cfg", *MEASURE, "--eval-data", "empty.pt", "-o", "report")
    assert status == 2 and err.startswith("amct analyze: `empty.pt` holds an empty `list`, expected")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow  # tunes the CNN twice (30-60 s on 2 busy cores)
def test_tune_shows_a_diff_and_writes_only_when_asked(files, demo_case):
    status, out, err = amct("tune", "quant.cfg", *MEASURE, "--eval-data", "eval.pt", "--target-cosine", "0.999",
                            "--diff", "-o", "report")
    assert status == 0, err
    assert "+    hfmg_quantize {" in out and "-    ifmr_quantize {" in out and "met" in out.splitlines()[0]
    assert (files / "quant.cfg").read_text(encoding="utf-8") == demo_case.bad
    assert load_report(json.loads((files / "report" / "report.json").read_text(encoding="utf-8"))).tune is not None
    status, out, err = amct("tune", "quant.cfg", *MEASURE, "--eval-data", "eval.pt", "--target-cosine", "0.999",
                            "--write")
    assert status == 0 and "wrote quant.cfg: the tuned config" in err
    written = (files / "quant.cfg").read_text(encoding="utf-8")
    assert "hfmg_quantize" in written
    assert amct("lint", "quant.cfg")[0] == 0
    assert amct("fmt", "--check", "quant.cfg")[0] == 0


def test_tune_argument_errors_are_one_line(files):
    status, _, err = amct("tune", "quant.cfg", *MEASURE, "--max-drop", "1")
    assert status == 2 and err.strip() == ("amct tune: `--max-drop` needs `--metric pkg.mod:fn` (the figure whose "
                                           "drop it bounds)")
