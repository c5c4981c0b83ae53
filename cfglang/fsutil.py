"""Files: reading them within bounds, finding config files under folders, writing them back safely.

Every file the tools read goes through :func:`read_file`: it opens without
blocking (a FIFO with no writer is never waited on), checks what it opened with
``fstat`` (only regular files, unless the path came from the command line) and
reads at most the size limit (:data:`DEFAULT_MAX_SIZE`, or ``max-file-size`` of
the settings), refusing a larger file before reading it. Files named by a
document or a settings file must also stay inside their project folder
(:func:`inside_root`).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable

__all__ = ["SUFFIXES", "DEFAULT_MAX_SIZE", "ReadError", "FileTooLarge", "read_file", "inside_root", "discover",
           "atomic_write"]

SUFFIXES = (".cfg", ".txtpb", ".textproto", ".pbtxt")

# the one documented size limit (docs/security.md): `.cfg` files, settings, inventories, JSON configs
DEFAULT_MAX_SIZE = 16 * 1024 * 1024

_CHUNK = 1 << 20


class ReadError(Exception):
    """A file that cannot be read: ``str()`` is one line naming the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"cannot read `{os.fspath(path)}`: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


class FileTooLarge(ReadError):
    """More than the size limit: ``size`` is the file's size, or None for a stream (known only to be larger)."""

    def __init__(self, path: str | os.PathLike, size: int | None, limit: int) -> None:
        amount = f"{size} bytes, more than" if size is not None else "more than"
        super().__init__(path, f"it is {amount} the limit of {limit} bytes (`max-file-size`)")
        self.size = size
        self.limit = limit


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_file(path: str | os.PathLike, *, limit: int | None = None, special: bool = False) -> bytes:
    """The bytes of the file ``path``, never more than ``limit`` (default :data:`DEFAULT_MAX_SIZE`).

    ``special=False`` (a path named by a document, a settings file or an editor
    message): only a regular file is read; a FIFO, device, socket or folder is
    refused from ``fstat`` without reading (the open itself does not block).
    ``special=True`` (a path the user typed on the command line): FIFOs and
    devices are read too (``<(cmd)``, ``/dev/stdin``), still bounded.

    Raises :class:`FileTooLarge` for a larger file (a regular file from its
    size, before reading anything) and :class:`ReadError` for anything else.
    """
    limit = DEFAULT_MAX_SIZE if limit is None else limit
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ReadError(path, _reason(exc)) from None
    try:
        info = os.fstat(fd)
        regular = stat.S_ISREG(info.st_mode)
        if not regular and (not special or stat.S_ISDIR(info.st_mode)):
            raise ReadError(path, f"it is {_kind(info.st_mode)}, expected a regular file")
        if regular and info.st_size > limit:
            raise FileTooLarge(path, info.st_size, limit)
        if not regular:
            os.set_blocking(fd, True)  # the user named this stream: wait for its writer, as `cat` would
        return _read_bounded(fd, path, limit, info.st_size if regular else None)
    except OSError as exc:
        raise ReadError(path, _reason(exc)) from None
    finally:
        os.close(fd)


def _read_bounded(fd: int, path: str | os.PathLike, limit: int, size: int | None) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:  # a file that grew while read, or a stream: stop at the limit
            raise FileTooLarge(path, size if size is not None and size > limit else None, limit)


def _reason(exc: OSError) -> str:
    """``strerror`` in the messages' case: ``no such file or directory``."""
    if exc.errno == errno.ELOOP:
        return "a loop of symbolic links"
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def inside_root(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether ``path``, symbolic links resolved, is ``root`` or below it."""
    try:
        resolved = Path(path).resolve()
        top = Path(root).resolve()
    except (OSError, RuntimeError):  # a link loop: not provably inside
        return False
    return resolved == top or top in resolved.parents


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
