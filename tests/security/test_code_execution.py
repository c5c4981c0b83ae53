"""Nothing named inside a `.cfg` file or a settings file is imported or run; what `--model` runs is what the
user named, and a doctored `torch.export` program runs nothing."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from cfglang import settings

from security_helpers import amct_process

PROBE = "evil_probe"  # a module in the project that leaves a mark when imported
REFERENCE = f"{PROBE}:factory"

# every settings key, with hostile values: module references and program files where a string fits
HOSTILE: dict[str, list[object]] = {
    "select": [[REFERENCE]],
    "ignore": [[REFERENCE]],
    "strict": [REFERENCE],
    "format": [{"indent-width": REFERENCE}, {"line-ending": REFERENCE}],
    "layers": [REFERENCE, "evil.pt2", f"{PROBE}.py"],
    "max-file-size": [REFERENCE],
    "target": [REFERENCE, "evil.pt2"],
}
HOSTILE_FORMAT_KEYS = {"indent-width", "line-ending"}


def _toml(key: str, value: object) -> str:
    if isinstance(value, dict):
        return "[format]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in value.items())
    return f"{key} = {json.dumps(value)}\n"


def test_every_settings_key_has_a_hostile_case() -> None:
    """A new settings key must be added to HOSTILE, so that the test below covers it."""
    assert set(HOSTILE) == set(settings._LINT_KEYS)
    assert HOSTILE_FORMAT_KEYS == set(settings._FORMAT_KEYS)


def _projects(base: Path) -> list[Path]:
    cases = [(key, value) for key, values in HOSTILE.items() for value in values]
    folders = []
    for i, (key, value) in enumerate(cases):
        folder = base / f"settings{i}"
        folder.mkdir()
        (folder / "amct.toml").write_text(_toml(key, value), encoding="utf-8")
        (folder / "quant.cfg").write_text("batch_num: 2\n", encoding="utf-8")
        folders.append(folder)
    for i, header in enumerate([REFERENCE, "evil.pt2", f"{PROBE}.py", f"{PROBE}"]):
        folder = base / f"header{i}"
        folder.mkdir()
        (folder / "amct.toml").write_text("", encoding="utf-8")
        (folder / "quant.cfg").write_text(f"# amct: layers={header}\nbatch_num: 2\n", encoding="utf-8")
        folders.append(folder)
    for folder in folders:
        (folder / f"{PROBE}.py").write_text(
            "import pathlib\npathlib.Path(__file__).with_name('IMPORTED').write_text('x')\n"
            "def factory():\n    pathlib.Path(__file__).with_name('CALLED').write_text('x')\n", encoding="utf-8")
        (folder / "evil.pt2").write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip archive
    return folders


def test_no_settings_key_and_no_header_imports_or_runs_code(tmp_path: Path) -> None:
    folders = _projects(tmp_path)
    # one interpreter runs every command in every project, then says what it imported
    script = textwrap.dedent(f"""
        import io, json, os, sys
        from amct_cli import run
        statuses = []
        for folder in {json.dumps([str(f) for f in folders])}:
            os.chdir(folder)
            for argv in (["lint", "quant.cfg"], ["plan", "quant.cfg"], ["fmt", "--check", "quant.cfg"],
                         ["lint", "--fix", "quant.cfg"], ["explain", "quant.cfg", "--layer", "conv1"]):
                statuses.append(run(argv, io.StringIO(), io.StringIO()))
        print(json.dumps({{"modules": sorted(m for m in sys.modules if m.split(".")[0] in
                                              ("torch", "{PROBE}", "onnx", "pygls")),
                          "statuses": statuses}}))
    """)
    done = amct_process("-c", script, cwd=tmp_path, timeout=300, python_args=True)
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["modules"] == []
    assert 2 in report["statuses"]  # the hostile values are refused, not ignored
    for folder in folders:
        assert not (folder / "IMPORTED").exists() and not (folder / "CALLED").exists(), folder


def test_model_factory_does_not_let_the_current_folder_shadow_packages(tmp_path: Path) -> None:
    """A stray `onnx.py` in the working folder is not the `onnx` the factory's module imports."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    (tmp_path / "onnx.py").write_text("import pathlib\npathlib.Path('SHADOWED').write_text('x')\n"
                                      "raise SystemExit('the stray onnx.py ran')\n", encoding="utf-8")
    (tmp_path / "mymodel.py").write_text(textwrap.dedent("""
        import onnx
        import torch

        def factory():
            assert hasattr(onnx, "load")
            return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())
    """), encoding="utf-8")
    done = amct_process("layers", "--model", "mymodel:factory", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert '"Conv2d"' in done.stdout.decode()
    assert not (tmp_path / "SHADOWED").exists()


@pytest.mark.slow
def test_a_doctored_program_file_runs_no_code(tmp_path: Path) -> None:
    """A `.pt2` whose pickled sample inputs run a command when unpickled: `torch.export.load` runs it,
    `amct lint --model` does not (every load weights-only)."""
    torch = pytest.importorskip("torch")
    import io
    import zipfile

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU()).eval()
    torch.export.save(torch.export.export(model, (torch.randn(1, 1, 8, 8),)), tmp_path / "good.pt2")
    marker = tmp_path / "RAN"

    class Payload:
        def __reduce__(self):  # what a hostile pickle does: call any function with any arguments
            return (Path.write_text, (marker, "x"))

    buffer = io.BytesIO()
    torch.save((Payload(),), buffer)
    with zipfile.ZipFile(tmp_path / "good.pt2") as source, zipfile.ZipFile(tmp_path / "evil.pt2", "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            target.writestr(info, buffer.getvalue() if info.filename.endswith("sample_inputs/model.pt") else data)
    (tmp_path / "quant.cfg").write_text("batch_num: 2\n", encoding="utf-8")
    done = amct_process("lint", "--isolated", "--model", "evil.pt2", "quant.cfg", cwd=tmp_path, timeout=300)
    assert done.returncode == 2 and not marker.exists()
    assert b"pickled objects other than tensors" in done.stderr
    done = amct_process("lint", "--isolated", "--model", "good.pt2", "quant.cfg", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr.decode()


def test_no_lsp_message_settings_key_or_header_imports_or_runs_code(tmp_path: Path) -> None:
    """The language server on the same hostile projects, with module references in its
    initializationOptions too: every feature that reads settings or a header (open, change, save,
    hover, completion, formatting, code actions, pull diagnostics) runs no code."""
    from tests.lsp.rawclient import RawServer

    folders = _projects(tmp_path)
    server = RawServer(cwd=tmp_path)
    try:
        options = {"target": REFERENCE, "layers": REFERENCE, "model": REFERENCE, "settings": REFERENCE}
        server.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {},
                                      "initializationOptions": options}, "init")
        server.send("initialized", {})
        for n, folder in enumerate(folders):
            uri = (folder / "quant.cfg").as_uri()
            text = (folder / "quant.cfg").read_text(encoding="utf-8")
            found = server.open(uri, text)
            if folder.name.startswith("header"):  # the header was read, and refused
                assert any("cannot use the layer inventory" in d["message"] for d in found), found
            server.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                                   "contentChanges": [{"text": text + "batch_num: 3\n"}]})
            server.diagnostics(uri, 2)
            server.send("textDocument/didSave", {"textDocument": {"uri": uri}})
            place = {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 3}}
            for i, (method, params) in enumerate([
                    ("textDocument/hover", place), ("textDocument/completion", place),
                    ("textDocument/formatting", {"textDocument": {"uri": uri},
                                                 "options": {"tabSize": 2, "insertSpaces": True}}),
                    ("textDocument/codeAction", {"textDocument": {"uri": uri}, "context": {"diagnostics": []},
                                                 "range": {"start": place["position"], "end": place["position"]}}),
                    ("textDocument/diagnostic", {"textDocument": {"uri": uri}})]):
                assert "id" in server.request(method, params, f"{n}-{i}")
        assert server.request("shutdown", None, "bye") == {"jsonrpc": "2.0", "id": "bye", "result": None}
        server.send("exit")
        assert server.wait() == 0
    finally:
        server.close()
    for folder in folders:
        assert not (folder / "IMPORTED").exists() and not (folder / "CALLED").exists(), folder
