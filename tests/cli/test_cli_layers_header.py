"""The inventory a file names itself: ``# amct: layers=PATH`` in its header, else ``layers`` in its settings.

``amct lint``, ``amct plan`` and ``amct explain --layer`` use it when the command
line names no model (``--layers``/``--model`` win); the LSP uses the same lookup.
A missing or broken inventory is one line that points at the header.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cfglang.directives import LayersHeader, header_layers, layers_header
from cfglang.settings import Settings, inventory_path, inventory_source
from tests.cli.test_cli_lint import amct

INVENTORY = json.loads((Path(__file__).parent / "data" / "layers.json").read_text(encoding="utf-8"))
# with that inventory (conv1, bn1, fc), `conv9` is M001 (not a layer of the model) at 3:14
CFG = '# proto-message: AMCTConfig\n# amct: layers=layers.json\nskip_layers: "conv9"\n'


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with `sub/quant.cfg` naming `sub/layers.json` in its header; no settings above it."""
    (tmp_path / "amct.toml").write_text("", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "layers.json").write_text(json.dumps(INVENTORY), encoding="utf-8")
    (sub / "quant.cfg").write_text(CFG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------- the lookup


def test_the_header_is_the_comment_lines_before_any_field() -> None:
    assert layers_header("\ufeff# proto-message: AMCTConfig\n\n  # amct: layers=model/layers.json\nbatch_num: 1\n") == \
        LayersHeader("model/layers.json", 3, 18)
    assert layers_header(b"#amct:layers = a.json\r\n") == LayersHeader("a.json", 1, 16)
    assert layers_header("batch_num: 1\n# amct: layers=x.json\n") is None
    assert header_layers("# amct: noqa-file: M001\n") is None


def test_the_header_wins_over_the_settings_and_each_is_relative_to_its_own_file(tmp_path: Path) -> None:
    settings = Settings(layers="inv/project.json", source=tmp_path / "amct.toml")
    named = inventory_source(CFG, str(tmp_path / "sub" / "quant.cfg"), settings)
    assert named is not None and named.header == LayersHeader("layers.json", 2, 16)
    assert inventory_path(CFG, str(tmp_path / "sub" / "quant.cfg"), settings) == tmp_path / "sub" / "layers.json"
    assert inventory_path("batch_num: 1\n", str(tmp_path / "sub" / "quant.cfg"), settings) == \
        tmp_path / "inv" / "project.json"
    assert inventory_source("batch_num: 1\n", None, Settings()) is None


# ---------------------------------------------------------------- amct lint


def test_lint_runs_the_model_aware_checks_of_the_header_inventory(work: Path) -> None:
    status, out, err = amct("lint", "sub/quant.cfg", "--format", "concise")
    assert (status, err) == (1, "")
    assert "sub/quant.cfg:3:14: error[M001]" in out


def test_the_command_line_wins_over_the_header(work: Path) -> None:
    other = dict(INVENTORY, layers=[*INVENTORY["layers"], {"name": "conv9", "type": "Conv2d"}])
    (work / "other.json").write_text(json.dumps(other), encoding="utf-8")
    status, out, _ = amct("lint", "sub/quant.cfg", "--layers", "other.json", "--format", "concise")
    assert status == 0 and "M001" not in out


def test_the_header_wins_over_the_settings(work: Path) -> None:
    (work / "amct.toml").write_text('layers = "missing.json"\n', encoding="utf-8")
    status, out, err = amct("lint", "sub/quant.cfg", "--format", "concise")
    assert (status, err) == (1, "") and "error[M001]" in out
    # without a header, the settings' inventory (relative to amct.toml) is the one used
    (work / "plain.cfg").write_text('skip_layers: "conv9"\n', encoding="utf-8")
    status, _, err = amct("lint", "plain.cfg")
    assert status == 2
    assert err.startswith(f"amct lint: {work / 'amct.toml'}: cannot use the layer inventory of `layers`: "
                          f"cannot read layer inventory `{work / 'missing.json'}`")


def test_a_missing_header_inventory_is_one_line_at_the_header(work: Path) -> None:
    (work / "sub" / "layers.json").unlink()
    status, out, err = amct("lint", "sub/quant.cfg", "--format", "concise")
    assert status == 2 and "Traceback" not in err and err.count("\n") == 1
    assert err == ("amct lint: sub/quant.cfg:2:16: cannot use the layer inventory named by the `# amct: layers=` "
                   "header: cannot read layer inventory `sub/layers.json`: no such file or directory "
                   "(checked without the model)\n")
    assert "M001" not in out  # the rest of the file is still checked


def test_a_broken_header_inventory_says_what_is_wrong(work: Path) -> None:
    (work / "sub" / "layers.json").write_text('{"version": 1, "layers": [', encoding="utf-8")
    (work / "sub" / "two.cfg").write_text(CFG, encoding="utf-8")
    status, _, err = amct("lint", "sub")
    assert status == 2 and "Traceback" not in err
    lines = err.splitlines()
    assert [line.split(": cannot use")[0] for line in lines] == \
        ["amct lint: sub/quant.cfg:2:16", "amct lint: sub/two.cfg:2:16"]  # one line per file naming it
    assert all("sub/layers.json:1:" in line and "not valid JSON" in line for line in lines)


def test_stdin_resolves_the_header_against_the_stdin_filename(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, out, _ = amct("lint", "-", "--stdin-filename", "sub/quant.cfg", "--format", "concise",
                          stdin=CFG, monkeypatch=monkeypatch)
    assert status == 1 and "sub/quant.cfg:3:14: error[M001]" in out
    # without a name, the header is relative to the working folder, which has no layers.json
    status, out, err = amct("lint", "-", "--format", "concise", stdin=CFG, monkeypatch=monkeypatch)
    assert status == 2 and "M001" not in out
    assert err.startswith("amct lint: -:2:16: cannot use the layer inventory named by the `# amct: layers=` header: "
                          "cannot read layer inventory `layers.json`")


def test_fix_reports_with_the_header_inventory_too(work: Path) -> None:
    (work / "sub" / "quant.cfg").write_text(CFG + "batch_num: 1\nbatch_num: 2\n", encoding="utf-8")
    status, out, _ = amct("lint", "sub/quant.cfg", "--fix", "--format", "concise")
    assert status == 1 and "sub/quant.cfg:3:14: error[M001]" in out and "(1 fixed)" in out
    assert (work / "sub" / "quant.cfg").read_text(encoding="utf-8") == CFG + "batch_num: 2\n"


# ---------------------------------------------------------------- amct plan, amct explain --layer


def test_plan_and_explain_use_the_header_inventory(work: Path) -> None:
    (work / "sub" / "ok.cfg").write_text("# amct: layers=layers.json\nbatch_num: 2\n", encoding="utf-8")
    status, out, err = amct("plan", "sub/ok.cfg")
    assert (status, err) == (0, "")
    assert [layer["name"] for layer in json.loads(out)["layers"]] == ["conv1", "fc"]
    status, out, _ = amct("explain", "sub/ok.cfg", "--layer", "fc")
    assert status == 0 and out.startswith("fc (Linear)\n")


def test_plan_reports_the_header_inventory_problem_and_the_missing_model(work: Path) -> None:
    (work / "sub" / "bad.cfg").write_text("# amct: layers=nope.json\nbatch_num: 2\n", encoding="utf-8")
    status, _, err = amct("plan", "sub/bad.cfg")
    assert status == 2 and err.startswith(
        "amct plan: sub/bad.cfg:1:16: cannot use the layer inventory named by the `# amct: layers=` header: "
        "cannot read layer inventory `sub/nope.json`")
    (work / "none.cfg").write_text("batch_num: 2\n", encoding="utf-8")
    for argv in (["plan", "none.cfg"], ["explain", "none.cfg", "--layer", "fc"]):
        status, _, err = amct(*argv)
        assert status == 2 and err.count("\n") == 1
        assert "none.cfg: no model to resolve against: pass `--model` or `--layers LAYERS.JSON`" in err
