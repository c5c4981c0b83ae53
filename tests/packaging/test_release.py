"""What docs/releasing.md promises: one version in two places, and a tag `vX.Y.Z` that names it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import cfglang

ROOT = Path(__file__).resolve().parents[2]


def _version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def test_pyproject_and_the_package_agree_on_the_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", _version())
    assert cfglang.__version__ == _version()


def test_a_release_tag_names_the_version_of_its_commit() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(["git", "tag", "--list", "v*"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("git cannot read the repository")
    for tag in done.stdout.split():
        shown = subprocess.run(["git", "show", f"{tag}:pyproject.toml"], cwd=ROOT, capture_output=True, text=True)
        assert shown.returncode == 0, shown.stderr
        assert tomllib.loads(shown.stdout)["project"]["version"] == tag[1:], tag
