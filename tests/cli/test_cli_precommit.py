"""The real ``pre-commit`` runs this repository's hooks on a throwaway project.

``pre-commit try-repo`` installs the hook repository into a fresh virtualenv
(``pip install .``, in a temporary store, each time). try-repo sees only the
committed and tracked files of a local repository, so the test snapshots the
working tree (tracked files and untracked ones that git does not ignore) into
a temporary repository and tries that one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

GOOD = "batch_num: 2\n"
BAD = "batch_num: 2\nquant_bitz: 8\n"


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def _snapshot(target: Path) -> Path:
    files = _git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    _git("init", "-q", cwd=target)
    _git("add", "-A", cwd=target)
    _git("commit", "-q", "-m", "snapshot", cwd=target)
    return target


def _try_repo(hooks: Path, project: Path, hook: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hooks), hook, "--all-files",
                           "--color", "never"], cwd=project, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return _snapshot(tmp_path_factory.mktemp("hooks"))


def test_pre_commit_lint_hook_fails_on_the_bad_file_then_passes(hooks: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "good.cfg").write_text(GOOD, encoding="utf-8")
    (project / "bad.cfg").write_text(BAD, encoding="utf-8")
    (project / "notes.txt").write_text(BAD, encoding="utf-8")  # not a config: the hook must not see it
    _git("init", "-q", cwd=project)
    _git("add", "-A", cwd=project)

    failed = _try_repo(hooks, project, "amct-lint")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "bad.cfg:2:1: error[F001]: unknown field `quant_bitz`" in failed.stdout
    assert "good.cfg" not in failed.stdout and "notes.txt" not in failed.stdout

    (project / "bad.cfg").write_text(GOOD, encoding="utf-8")
    _git("add", "-A", cwd=project)
    passed = _try_repo(hooks, project, "amct-lint")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout



def test_installing_the_hook_repository_pulls_no_torch(hooks: Path, tmp_path: Path) -> None:
    """What ``pip install .`` in the hook's fresh virtualenv would install (try-repo's store is temporary)."""
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", str(report), str(hooks)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert {"amct-cfg", "lark", "protobuf", "jsonschema"} <= names
    assert not names & {"torch", "pygls", "numpy", "onnx", "onnxruntime"}


def test_pre_commit_fmt_hook_rewrites_then_passes(hooks: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "a.cfg").write_text("batch_num:2;common_config{arq_quantize{quant_bits:8}}\n", encoding="utf-8")
    _git("init", "-q", cwd=project)
    _git("add", "-A", cwd=project)

    first = _try_repo(hooks, project, "amct-fmt")
    assert first.returncode == 1, first.stdout + first.stderr
    assert (project / "a.cfg").read_text() == (
        "batch_num: 2\ncommon_config {\n  arq_quantize {\n    quant_bits: 8\n  }\n}\n")
    _git("add", "-A", cwd=project)
    second = _try_repo(hooks, project, "amct-fmt")
    assert second.returncode == 0, second.stdout + second.stderr


def _readme_config(repo: Path, rev: str) -> str:
    """The README's `.pre-commit-config.yaml`, with this repository's URL and ``rev``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```yaml\n(repos:.*?)```", readme, re.S)
    assert found, "the README has no `.pre-commit-config.yaml` example"
    block = found.group(1)
    assert "<the amct-cfg git URL>" in block and re.search(r"rev: \S+ +#.*full commit SHA", block)
    return re.sub(r"rev: \S+", f"rev: {rev}", block.replace("<the amct-cfg git URL>", str(repo)))


def test_the_readmes_config_with_a_commit_sha_runs_the_hooks(hooks: Path, tmp_path: Path) -> None:
    """A clone without tags: `rev` is the full SHA of a commit, as the README says."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "bad.cfg").write_text(BAD, encoding="utf-8")
    sha = _git("rev-parse", "HEAD", cwd=hooks).strip()
    (project / ".pre-commit-config.yaml").write_text(_readme_config(hooks, sha), encoding="utf-8")
    _git("init", "-q", cwd=project)
    _git("add", "-A", cwd=project)
    env = {**os.environ, "NO_COLOR": "1", "PRE_COMMIT_HOME": str(tmp_path / "store")}
    done = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad.cfg:2:1: error[F001]: unknown field `quant_bitz`" in done.stdout
    assert "mutable reference" not in done.stdout + done.stderr
