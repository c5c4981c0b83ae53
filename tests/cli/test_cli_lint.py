"""``amct lint`` in-process through ``amct_cli.run``: formats (golden files), exit status, selection,
suppressions, settings, fixes and model-aware checks.

Set ``AMCT_UPDATE_GOLDEN=1`` to rewrite the golden files after an intended change (then review the diff).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import jsonschema
import pytest

from amct_cli import run

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"
SCHEMA = Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json"
FORMATS = ("full", "concise", "json", "github", "sarif")


def amct(*argv: str, stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8"))
    out, err = io.StringIO(), io.StringIO()
    status = run(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the data folder as the working folder, with no settings file above it that counts."""
    for item in DATA.iterdir():
        shutil.copy(item, tmp_path / item.name)
    (tmp_path / "amct.toml").write_text("", encoding="utf-8")  # stops the search for settings here
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("AMCT_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_of_a_bad_file_matches_its_golden_file(work: Path, fmt: str) -> None:
    status, out, err = amct("lint", "bad.cfg", "--format", fmt)
    assert (status, err) == (1, "")
    if fmt == "sarif":  # the rule list is the registry's and grows: compare the results only
        run = json.loads(out)["runs"][0]
        for result in run["results"]:
            assert run["tool"]["driver"]["rules"][result.pop("ruleIndex")]["id"] == result["ruleId"]
        out = json.dumps(run["results"], indent=2, ensure_ascii=False) + "\n"
    _golden(f"lint-bad.{fmt}", out)


def test_sarif_of_real_diagnostics_validates(work: Path) -> None:
    _, out, _ = amct("lint", "bad.cfg", "good.cfg", "--format", "sarif")
    log = json.loads(out)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(log))
    assert not errors, errors[0].message
    assert {r["ruleId"] for r in log["runs"][0]["results"]} >= {"F001", "F009", "F011"}


def test_a_clean_file_prints_nothing_and_exits_0(work: Path) -> None:
    assert amct("lint", "good.cfg") == (0, "", "")
    assert amct("lint", "good.cfg", "--format", "json") == (0, "[]\n", "")


def test_colour_only_when_asked_or_on_a_terminal_and_never_with_no_color(work: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _, plain, _ = amct("lint", "bad.cfg")
    _, coloured, _ = amct("lint", "bad.cfg", "--color", "always")
    assert "\x1b[" not in plain and "\x1b[1;31merror[F001]\x1b[0m" in coloured
    monkeypatch.setenv("NO_COLOR", "1")
    assert amct("lint", "bad.cfg", "--color", "always")[1] == plain


# ---------------------------------------------------------------- exit status


def test_exit_status_follows_errors_strict_and_exit_zero(work: Path) -> None:
    assert amct("lint", "warn.cfg")[0] == 0
    assert amct("lint", "warn.cfg", "--strict")[0] == 1
    assert amct("lint", "bad.cfg", "--exit-zero")[0] == 0
    (work / "amct.toml").write_text("strict = true\n", encoding="utf-8")
    assert amct("lint", "warn.cfg")[0] == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["lint", "missing.cfg"], "amct lint: no such file or folder: missing.cfg\n"),
    (["lint", "good.cfg", "--format", "xml"], None),
    (["lint", "good.cfg", "--select", "Q9"], "amct lint: unknown code `Q9` in `--select`"),
    (["lint", "good.cfg", "--unsafe-fixes"], "amct lint: `--unsafe-fixes` needs `--fix` or `--diff`\n"),
    (["lint", "-", "good.cfg"], "amct lint: `-` (stdin) cannot be combined with other paths\n"),
    (["lint", "good.cfg", "--layers", "nope.json"], "amct lint: cannot read layer inventory"),
    (["lint", "good.cfg", "--model", "nocolon"], "amct lint: `--model`: found `nocolon` for the model"),
])
def test_usage_errors_exit_2_with_one_line(work: Path, argv: list[str], message: str | None) -> None:
    status, out, err = amct(*argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    if message is not None:
        assert err.startswith(message)


def test_a_bad_settings_file_exits_2(work: Path) -> None:
    (work / "amct.toml").write_text("selekt = []\n", encoding="utf-8")
    status, _, err = amct("lint", "good.cfg")
    assert status == 2 and err.startswith("amct lint: unknown key `selekt`")


def test_an_unreadable_file_is_reported_and_the_others_still_linted(work: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import cfglang.fsutil

    real = os.open

    def opener(path, flags, *args):  # root reads any file: refuse this one as if permissions did
        if os.fspath(path).endswith("warn.cfg"):
            raise PermissionError(13, "Permission denied")
        return real(path, flags, *args)

    monkeypatch.setattr(cfglang.fsutil.os, "open", opener)
    status, out, err = amct("lint", "warn.cfg", "bad.cfg", "--format", "concise")
    assert status == 2
    assert err == "amct lint: cannot read `warn.cfg`: permission denied\n"
    assert "bad.cfg:5:5: error[F001]" in out


def test_an_internal_failure_is_one_line_and_debug_shows_the_traceback(work: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("cfglang.lint.lint", broken)
    status, _, err = amct("lint", "good.cfg")
    assert status == 2
    assert err == ("amct lint: internal error: RuntimeError: boom (run with --debug for the traceback)\n")
    with pytest.raises(RuntimeError, match="boom"):
        amct("lint", "--debug", "good.cfg")


# ---------------------------------------------------------------- selection and statistics


def _codes(out: str) -> list[str]:
    return [item["code"] for item in json.loads(out)]


def test_select_and_ignore_by_code_or_prefix(work: Path) -> None:
    everything = _codes(amct("lint", "bad.cfg", "--format", "json")[1])
    assert set(everything) == {"F001", "F009", "F011"}
    assert set(_codes(amct("lint", "bad.cfg", "--format", "json", "--select", "F00")[1])) == {"F001", "F009"}
    assert set(_codes(amct("lint", "bad.cfg", "--format", "json", "--ignore", "F001,F011")[1])) == {"F009"}
    status, out, _ = amct("lint", "bad.cfg", "--format", "json", "--ignore", "F001")
    assert status == 0 and "F001" not in _codes(out)


def test_statistics_count_each_code(work: Path) -> None:
    status, out, _ = amct("lint", "bad.cfg", "warn.cfg", "--statistics")
    assert status == 1
    rows = [line.split() for line in out.splitlines()]
    assert rows[0][:2] == ["2", "F009"]
    assert sorted(row[1] for row in rows) == ["F001", "F009", "F011"]
    stats = json.loads(amct("lint", "bad.cfg", "--statistics", "--format", "json")[1])
    assert {row["code"]: row["fixable"] for row in stats} == {"F001": True, "F009": True, "F011": True}


# ---------------------------------------------------------------- suppressions


def test_line_and_file_suppressions(work: Path) -> None:
    text = (DATA / "bad.cfg").read_text().replace("quant_bit: 8", "quant_bit: 8  # amct: noqa: F001")
    (work / "s.cfg").write_text(text + "# amct: noqa-file: F011, F009\n", encoding="utf-8")
    assert amct("lint", "s.cfg") == (0, "", "")


def test_unused_and_invalid_suppressions_are_reported(work: Path) -> None:
    (work / "s.cfg").write_text(
        "batch_num: 2  # amct: noqa: F001\n"
        "do_fusion: true  # amct: noqa\n"
        "activation_offset: true  # why  # amct: noqa: X999\n"
        "# amct: noqa-file: F011\n", encoding="utf-8")
    status, out, _ = amct("lint", "s.cfg", "--format", "concise")
    assert status == 0
    assert out.splitlines() == [
        "s.cfg:1:29: warning[L001] [*] unused suppression of `F001`: no `F001` diagnostic on this line",
        "s.cfg:2:18: warning[L002] `# amct: noqa` names no code",
        "s.cfg:3:47: warning[L002] unknown code `X999` in a suppression",
        "s.cfg:4:20: warning[L001] [*] unused suppression of `F011`: no `F011` diagnostic in this file",
        "found 4 warnings in 1 file",
        "[*] 2 fixable with `--fix`",
    ]


def test_fix_removes_unused_suppressions(work: Path) -> None:
    (work / "s.cfg").write_text("batch_num: 2  # amct: noqa: F001, F009\n# amct: noqa-file: F011\n"
                                "batch_num: 3\n", encoding="utf-8")
    status, _, _ = amct("lint", "s.cfg", "--fix")
    assert status == 0
    # the duplicate `batch_num` is deleted first (a safe fix), then both suppressions are unused
    assert (work / "s.cfg").read_text() == "batch_num: 3\n"


# ---------------------------------------------------------------- settings


def test_settings_from_pyproject_and_the_command_line_override(work: Path) -> None:
    (work / "amct.toml").unlink()
    sub = work / "sub"
    sub.mkdir()
    shutil.copy(DATA / "bad.cfg", sub / "bad.cfg")
    (work / "pyproject.toml").write_text('[tool.amct]\nignore = ["F001"]\n', encoding="utf-8")
    (sub / "amct.toml").write_text('ignore = ["F0"]\n', encoding="utf-8")
    assert set(_codes(amct("lint", "bad.cfg", "--format", "json")[1])) == {"F009", "F011"}
    assert _codes(amct("lint", "sub/bad.cfg", "--format", "json")[1]) == []
    assert set(_codes(amct("lint", "sub/bad.cfg", "--format", "json", "--ignore", "F011")[1])) == {
        "F001", "F009"}
    assert len(_codes(amct("lint", "sub/bad.cfg", "--format", "json", "--isolated")[1])) == 3
    assert set(_codes(amct("lint", "sub/bad.cfg", "--format", "json", "--config", "pyproject.toml")[1])) == {
        "F009", "F011"}


def test_folders_are_searched_and_stdin_uses_the_settings_of_its_name(work: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    status, out, _ = amct("lint", ".", "--format", "concise")
    assert status == 1
    assert {line.split(":")[0] for line in out.splitlines()[:-2]} == {"bad.cfg", "warn.cfg"}  # model.cfg is clean
    assert out.splitlines()[-2] == "found 1 error and 3 warnings in 2 files"
    status, out, _ = amct("lint", "-", "--stdin-filename", "x/in.cfg", "--format", "concise",
                          stdin="quant_bitz: 1\n", monkeypatch=monkeypatch)
    assert status == 1 and out.startswith("x/in.cfg:1:1: error[F001]")


# ---------------------------------------------------------------- fixes


def test_fix_applies_safe_fixes_and_reports_the_rest(work: Path) -> None:
    status, out, _ = amct("lint", "bad.cfg", "--fix", "--format", "concise")
    fixed = (work / "bad.cfg").read_text()
    assert "batch_num: 2" not in fixed and "ifmr_quantize" not in fixed  # earlier duplicate, dropped oneof
    assert "quant_bit: 8" in fixed  # a rename is unsafe
    assert status == 1
    assert out.splitlines() == ["bad.cfg:4:5: error[F001] [~] unknown field `quant_bit` in `arq_quantize`",
                                "found 1 error in 1 file (2 fixed)",
                                "[~] 1 unsafe fix left: apply it with `--fix --unsafe-fixes` (an unsafe fix may "
                                "change what AMCT does)"]


def test_unsafe_fixes_rename_and_the_file_becomes_clean(work: Path) -> None:
    status, out, err = amct("lint", "bad.cfg", "--fix", "--unsafe-fixes")
    assert status == 0 and out == "fixed 3 problems, none left\n"
    assert err == "wrote bad.cfg: 3 fixes applied\n"  # the one form of every command that writes
    assert "quant_bits: 8" in (work / "bad.cfg").read_text()
    assert amct("lint", "bad.cfg") == (0, "", "")


def test_diff_prints_the_fixes_and_writes_nothing(work: Path) -> None:
    before = (work / "bad.cfg").read_text()
    status, out, err = amct("lint", "bad.cfg", "--diff")
    assert status == 1 and (work / "bad.cfg").read_text() == before
    _golden("lint-bad.diff", out)
    assert err == "amct lint: would fix 2 issues\n"
    assert amct("lint", "good.cfg", "--diff") == (0, "", "")


def test_fix_on_stdin_writes_the_fixed_text_to_stdout(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, out, err = amct("lint", "-", "--fix", "--format", "concise", stdin="batch_num: 1\nbatch_num: 2\n",
                            monkeypatch=monkeypatch)
    assert (status, out, err) == (0, "batch_num: 2\n", "fixed 1 problem, none left\n")


def test_fix_keeps_crlf_and_a_byte_order_mark(work: Path) -> None:
    (work / "c.cfg").write_bytes(b"\xef\xbb\xbfbatch_num: 1\r\nbatch_num: 2\r\n")
    assert amct("lint", "c.cfg", "--fix")[0] == 0
    assert (work / "c.cfg").read_bytes() == b"\xef\xbb\xbfbatch_num: 2\r\n"


def test_a_file_with_syntax_errors_is_never_fixed(work: Path) -> None:
    (work / "s.cfg").write_bytes(b"batch_num: 1\nbatch_num: 2\ncommon_config {\n")
    status, out, _ = amct("lint", "s.cfg", "--fix", "--format", "concise")
    assert status == 1 and (work / "s.cfg").read_bytes() == b"batch_num: 1\nbatch_num: 2\ncommon_config {\n"
    assert "error[S" in out


# ---------------------------------------------------------------- model-aware


def test_layers_json_adds_model_aware_diagnostics(work: Path) -> None:
    assert amct("lint", "model.cfg")[0] == 0
    status, out, _ = amct("lint", "model.cfg", "--layers", "layers.json", "--format", "concise")
    assert status == 1
    assert "model.cfg:1:14: error[M001]" in out


def test_model_factory_adds_model_aware_diagnostics(work: Path) -> None:
    pytest.importorskip("torch")
    (work / "tinymodel.py").write_text(
        "import torch.nn as nn\n\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))\n",
        encoding="utf-8")
    status, out, err = amct("lint", "model.cfg", "--model", "tinymodel:build", "--format", "json")
    assert status == 1, err
    found = {(d["code"], d["line"]) for d in json.loads(out)}
    assert ("M001", 1) in found  # `conv9` is not a module of the model


def test_model_that_cannot_be_traced_is_said_on_stderr(work: Path) -> None:
    pytest.importorskip("torch")
    (work / "untraceable.py").write_text(
        "import torch.nn as nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv9 = nn.Conv2d(1, 2, 3)\n"
        "        self.fc = nn.Linear(2, 2)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.conv9(x)) if x.sum() > 0 else x\n",
        encoding="utf-8")
    status, out, err = amct("lint", "model.cfg", "--model", "untraceable:Net", "--format", "json")
    assert status == 0, out + err  # `conv9` and `fc` are modules: names and types still check
    assert err.startswith("amct lint: warning: cannot trace `untraceable:Net` with torch.fx") and "traced: false" in err


def test_amct_lint_script_is_amct_lint(work: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from amct_cli import lint_main

    monkeypatch.setattr("sys.argv", ["amct-lint", "--format", "concise", "bad.cfg"])
    with pytest.raises(SystemExit) as exited:
        lint_main()
    assert exited.value.code == 1
    assert capsys.readouterr().out == (GOLDEN / "lint-bad.concise").read_text(encoding="utf-8")
