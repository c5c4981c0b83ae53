"""Fixtures of the security tests: a project folder as the working folder, a folder any user can reach."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the working folder, with a settings file so that nothing above counts."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "amct.toml").write_text("", encoding="utf-8")
    return tmp_path


@pytest.fixture
def shared() -> Any:
    """A folder the unprivileged user can reach (tmp_path's parents are root's only); removed afterwards."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="amct-security-"))
    folder.chmod(0o777)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o777)
    shutil.rmtree(folder)
