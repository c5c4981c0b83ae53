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

import contextlib
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["SUFFIXES", "DEFAULT_MAX_SIZE", "ReadError", "FileTooLarge", "read_file", "inside_root", "discover",
           "WriteError", "WriteConflict", "remove_strays", "process_alive", "signals_raise",
           "atomic_write", "os_reason"]

SUFFIXES = (".cfg", ".txtpb", ".textproto", ".pbtxt")

# the one documented size limit (docs/security.md): `.cfg` files, settings, inventories, JSON configs
DEFAULT_MAX_SIZE = 16 * 1024 * 1024

_CHUNK = 1 << 20


class ReadError(OSError):
    """A file that cannot be read: ``str()`` is one line naming the file and the reason (an ``OSError``, so
    that code catching those of ``open`` catches it too)."""

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
        raise ReadError(path, os_reason(exc)) from None
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
    except ReadError:
        raise
    except OSError as exc:
        raise ReadError(path, os_reason(exc)) from None
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


def os_reason(exc: OSError) -> str:
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


# folders never searched when a folder is given (a file named explicitly is always linted)
_SKIPPED_FOLDERS = {"__pycache__", "node_modules", "build", "dist", "site-packages"}


def _walk(folder: Path, problems: list[tuple[str, str, str]]) -> list[Path]:
    """The config files below ``folder``; a folder that cannot be searched, and a matched name that is not
    a regular file inside ``folder`` (a repository's `x.cfg` linking to `/dev/tty`, a FIFO or
    `~/.aws/credentials`), go to ``problems`` as ``(verb, path, reason)`` and are not read."""
    found = []

    def unreadable(exc: OSError) -> None:
        problems.append(("search", os.fspath(exc.filename), os_reason(exc)))

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_FOLDERS)
        for name in sorted(files):
            if not name.lower().endswith(SUFFIXES):
                continue
            path = Path(root, name)
            try:
                info = os.stat(path)
            except OSError:  # a dangling link or a loop: reading it reports that
                found.append(path)
                continue
            if not stat.S_ISREG(info.st_mode):
                problems.append(("read", os.fspath(path), f"it is {_kind(info.st_mode)}, expected a regular file"))
            elif os.path.islink(path) and not inside_root(path, folder):
                problems.append(("read", os.fspath(path), f"a symbolic link to a file outside `{folder}` (name it "
                                                          f"on the command line to check it)"))
            else:
                found.append(path)
    return found


def discover(paths: Iterable[str | Path], problems: list[str] | None = None) -> list[Path]:
    """Every file named, and every file with one of :data:`SUFFIXES` below every folder named.

    Order follows the arguments (folders sorted inside); duplicates are dropped.
    A folder under a named one that cannot be searched, and a file found there
    that is not a regular file inside it, is added to ``problems`` (one line
    each, not returned; with ``problems`` None it raises :class:`ReadError`).
    So every file found by a walk is a regular file inside the named folder;
    a path named itself may be anything (the command line is trusted).
    Raises :class:`FileNotFoundError` for a path that does not exist and
    :class:`ReadError` for one that cannot be reached or is empty.
    """
    seen: set[Path] = set()
    out: list[Path] = []
    unsearchable: list[tuple[str, str, str]] = []
    for raw in paths:
        if not os.fspath(raw):
            raise ReadError(raw, "an empty path, expected a file or a folder")
        path = Path(raw)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            if not os.path.lexists(path):
                raise FileNotFoundError(f"no such file or folder: {raw}") from None
            info = None  # a dangling link or a link loop: named, so reported when it is read
        except OSError as exc:  # a folder on the way cannot be searched, a loop of links
            raise ReadError(raw, os_reason(exc)) from None
        candidates = _walk(path, unsearchable) if info is not None and stat.S_ISDIR(info.st_mode) else [path]
        for candidate in candidates:
            try:
                key = candidate.resolve()
            except (OSError, RuntimeError):  # a loop of links: reported when it is read
                key = candidate.absolute()
            if key not in seen:
                seen.add(key)
                out.append(candidate)
    if unsearchable and problems is None:
        raise ReadError(*unsearchable[0][1:])
    if problems is not None:
        problems.extend(f"cannot {verb} `{where}`: {reason}" for verb, where, reason in unsearchable)
    return out


# ---------------------------------------------------------------- writing


class WriteError(OSError):
    """A file that was not written (and is as it was): ``str()`` is one line naming the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"cannot write `{os.fspath(path)}`: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


class WriteConflict(WriteError):
    """The file changed on disk since it was read: writing would lose that change."""


_TEMP_TAG = ".amct-"


def _temp_name(target: Path) -> str:
    """``.NAME.amct-PID-XXXX.tmp``: a later run knows from the process id whether its writer is gone."""
    return f".{target.name}{_TEMP_TAG}{os.getpid()}-"


def remove_strays(folder: Path, name: str | None = None) -> list[Path]:
    """Remove temporary files that a killed writer left in ``folder`` (all, or those for the file ``name``).

    Only files whose writing process no longer runs are removed; returns them.
    """
    pattern = f".{name}{_TEMP_TAG}*.tmp" if name is not None else f".*{_TEMP_TAG}*.tmp"
    removed = []
    for candidate in folder.glob(pattern):
        pid_text = candidate.name.rsplit(_TEMP_TAG, 1)[1].split("-", 1)[0]
        if not pid_text.isdigit() or process_alive(int(pid_text)):
            continue
        try:
            candidate.unlink()
            removed.append(candidate)
        except OSError:
            pass  # not ours to remove after all (permissions): leave it
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """A context in which SIGTERM and SIGHUP raise ``SystemExit`` (128 + n), as SIGINT raises
    KeyboardInterrupt, so that ``finally`` blocks remove temporary files. Signals that are ignored
    (``nohup``) stay ignored; outside the main thread, where handlers cannot be set, nothing changes."""
    import signal  # here: `amct lint` without --fix writes nothing and imports neither
    import threading

    saved: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            number = getattr(signal, name, None)
            if number is None:
                continue
            previous = signal.getsignal(number)
            if previous in (signal.SIG_IGN, None):
                continue
            saved[number] = previous
            signal.signal(number, _raise_exit)
    try:
        yield
    finally:
        for number, previous in saved.items():
            signal.signal(number, previous)


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def atomic_write(path: str | os.PathLike, data: bytes, *, expected: bytes | None = None) -> None:
    """Write ``data`` to ``path`` so that no edit is lost and readers see the old or the new file.

    * ``expected``: the bytes read from ``path`` before; when the file no longer
      holds them (another program changed it), nothing is written and
      :class:`WriteConflict` is raised (compared just before the rename);
    * a symbolic link is followed: its target is rewritten, the link stays;
    * a FIFO or a device (``/dev/null``) is written through, never replaced; a
      FIFO without a reader, a socket or a folder is refused;
    * an existing regular file keeps its mode, owner and group: the temporary
      file gets them; a file with several hard links, or whose owner cannot be
      given to a new file, is rewritten in place (every link sees the change);
    * a read-only file (no write permission, or as root no write bit at all) is refused;
    * a new file gets ``0666`` less the umask (``0644`` under umask ``022``);
    * the temporary file (``.NAME.amct-PID-XXXX.tmp``, same folder) is removed on
      any failure and on SIGINT/SIGTERM/SIGHUP; strays of killed runs are removed.

    Raises :class:`WriteError` (an ``OSError``); the file is then as it was.
    """
    target = Path(path)
    try:
        target = Path(os.path.realpath(target)) if target.is_symlink() else target
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except (OSError, RuntimeError) as exc:
        raise WriteError(path, os_reason(exc) if isinstance(exc, OSError) else "a loop of symbolic links") from None
    with signals_raise():
        if info is None:
            _replace(path, target, data, None, expected)
        elif stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
            _write_through(path, target, data)
        elif not stat.S_ISREG(info.st_mode):
            raise WriteError(path, f"it is {_kind(info.st_mode)}, expected a regular file")
        else:
            if not os.access(target, os.W_OK) or (os.geteuid() == 0 and not info.st_mode & 0o222):
                raise WriteError(path, f"it is read-only (mode {info.st_mode & 0o7777:04o}); nothing written")
            if info.st_nlink > 1:
                _write_in_place(path, target, data, expected)
            else:
                _replace(path, target, data, info, expected)


def _check_unchanged(path: str | os.PathLike, target: Path, expected: bytes | None) -> None:
    if expected is None:
        return
    try:
        current = read_file(target, limit=len(expected))
    except FileTooLarge:
        current = None
    except ReadError as exc:
        raise WriteConflict(path, f"it changed since it was read ({exc.reason}); nothing written") from None
    if current != expected:
        raise WriteConflict(path, "it changed since it was read; nothing written (run again to use the new "
                                  "content)")


def _write_through(path: str | os.PathLike, target: Path, data: bytes) -> None:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO nobody reads: writing would wait for ever
            raise WriteError(path, "it is a FIFO with no reader") from None
        raise WriteError(path, os_reason(exc)) from None
    try:
        os.set_blocking(fd, True)
        _write_all(fd, data)
    except OSError as exc:
        raise WriteError(path, os_reason(exc)) from None
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_in_place(path: str | os.PathLike, target: Path, data: bytes, expected: bytes | None) -> None:
    """Rewrite the file itself (hard links, an owner we cannot give): not atomic, but the inode stays."""
    try:
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise WriteError(path, os_reason(exc)) from None
    try:
        _check_unchanged(path, target, expected)
        _write_all(fd, data)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(path, os_reason(exc)) from None
    finally:
        os.close(fd)


def _replace(path: str | os.PathLike, target: Path, data: bytes, info: os.stat_result | None,
             expected: bytes | None) -> None:
    folder = target.parent
    remove_strays(folder, target.name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    temp: Path | None = None
    while temp is None:
        candidate = folder / f"{_temp_name(target)}{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(candidate, flags, 0o666)  # the umask applies, as for any new file
        except FileExistsError:
            continue
        except PermissionError:
            if info is not None:  # the folder is not writable but the file is: rewrite the file itself
                _write_in_place(path, target, data, expected)
                return
            raise WriteError(path, f"its folder `{folder}` is not writable") from None
        except OSError as exc:
            raise WriteError(path, os_reason(exc)) from None
        temp = candidate
    try:
        try:
            if info is not None:
                os.fchmod(fd, info.st_mode & 0o7777)
                if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(fd, info.st_uid, info.st_gid)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        _check_unchanged(path, target, expected)
        os.replace(temp, target)
    except PermissionError as exc:
        os.unlink(temp)
        temp = None
        if info is not None and exc.filename is None:  # fchown refused: keep the owner by writing in place
            _write_in_place(path, target, data, expected)
            return
        raise WriteError(path, os_reason(exc)) from None
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(path, os_reason(exc)) from None
    finally:
        if temp is not None and temp.exists():
            temp.unlink()
