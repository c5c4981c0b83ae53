"""Files: finding config files under folders, and writing them back atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

__all__ = ["SUFFIXES", "discover", "atomic_write"]

SUFFIXES = (".cfg", ".txtpb", ".textproto", ".pbtxt")

# folders never searched when a folder is given (a file named explicitly is always linted)
_SKIPPED_FOLDERS = {"__pycache__", "node_modules", "build", "dist", "site-packages"}


def _walk(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_FOLDERS)
        found.extend(Path(root, name) for name in sorted(files) if name.lower().endswith(SUFFIXES))
    return found


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Every file named, and every file with one of :data:`SUFFIXES` below every folder named.

    Order follows the arguments (folders sorted inside); duplicates are dropped.
    Raises :class:`FileNotFoundError` for a path that does not exist.
    """
    seen: set[Path] = set()
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = _walk(path)
        elif path.exists():
            candidates = [path]
        else:
            raise FileNotFoundError(f"no such file or folder: {raw}")
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                out.append(candidate)
    return out


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a part.

    The temporary file lives in the same folder (a rename is atomic only within
    one file system) and takes the original's permission bits.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
