"""The wheel ships its data files, and the generated modules (protobuf, the parser's tables) are current."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ["calibration_config_pytorch.proto", "scale_offset_record.proto"]


def test_generated_proto_modules_are_current(tmp_path: Path) -> None:
    grpc_tools = pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools (dev extra) regenerates the modules")
    status = grpc_tools.main(
        ["protoc", f"-I{ROOT / 'proto'}", f"--python_out={tmp_path}", *(str(ROOT / "proto" / p) for p in PROTOS)]
    )
    assert status == 0
    for proto in PROTOS:
        module = proto.replace(".proto", "_pb2.py")
        fresh = (tmp_path / module).read_text()
        committed = (ROOT / "cfglang" / "_proto" / module).read_text()
        assert fresh == committed, (
            f"cfglang/_proto/{module} is stale: regenerate with "
            f"python -m grpc_tools.protoc -Iproto --python_out=cfglang/_proto proto/{proto}"
        )


def test_generated_parser_tables_are_current() -> None:
    from cfglang import lalr

    committed = (ROOT / "cfglang" / "_lalr.py").read_text(encoding="utf-8")
    assert lalr.module_text() == committed, (
        "cfglang/_lalr.py is stale: regenerate with python -m cfglang.lalr > cfglang/_lalr.py")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("amct_cfg-*.whl")
    return found


def test_wheel_holds_every_module_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in [
        "cfglang/grammars/textproto.lark",
        "cfglang/proto/calibration_config_pytorch.proto",
        "cfglang/proto/scale_offset_record.proto",
        "cfglang/_proto/calibration_config_pytorch_pb2.py",
    ]:
        assert required in names
    # every module of the source tree must be packaged (a subpackage missing from pyproject.toml would not be)
    for package in ("amct_cli", "cfglang", "quant"):
        for source in (ROOT / package).rglob("*.py"):
            assert source.relative_to(ROOT).as_posix() in names, f"{source.relative_to(ROOT)} is not in the wheel"
    for data in (*(ROOT / "cfglang" / "schemas").glob("*.*"), *(ROOT / "cfglang" / "html").glob("*.*")):
        assert data.relative_to(ROOT).as_posix() in names
    # quant.histogram's compiled loops (optional at install, but this machine has a C compiler)
    assert any(n.startswith("quant/_histogram.") and n.endswith((".so", ".pyd")) for n in names)


def test_installed_copy_finds_its_grammar_and_proto(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import cfglang, cfglang.resources as r, pathlib;"
        "site = pathlib.Path(r'%s').resolve();"
        "paths = [r.data_file('grammars', 'textproto.lark'), r.data_file('proto', 'calibration_config_pytorch.proto'),"
        " r.data_file('schemas', 'report.schema.json'), r.data_file('html', 'report.js')];"
        "assert all(site in p.parents for p in paths), paths;"
        "assert site in pathlib.Path(cfglang.__file__).resolve().parents;"
        "from cfglang import schema; assert schema.field_info('AMCTConfig', 'batch_num').description;"
        "doc = cfglang.parse('batch_num: 2');"
        "assert not doc.diagnostics, doc.diagnostics;"
        "print('ok')"
    ) % site
    # run from an empty folder with only the unpacked wheel on the path, so the source tree is not importable
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_language_side_never_imports_torch() -> None:
    code = "import sys, cfglang, cfglang.rules, amct_cli; cfglang.parse; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
