"""Helpers of the security tests: the CLI in process and as a subprocess, code run without root's powers."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


ROOT = Path(__file__).resolve().parents[2]
GOOD = "batch_num: 2\n"


def amct_process(*argv: str, cwd: Path, timeout: float = 60, python_args: bool = False,
                 **kwargs: Any) -> subprocess.CompletedProcess:
    """``amct ARGV`` as its own process (signals, pipes, FIFOs, the exit's own flush); with ``python_args``
    ARGV goes to the interpreter itself (``-c SCRIPT``). ``-P``: the working folder is not put first on
    ``sys.path``, as for the installed ``amct`` script (``python -m`` would put it there itself)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    command = [sys.executable, "-P", *argv] if python_args else [sys.executable, "-P", "-m", "amct_cli", *argv]
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(command, cwd=cwd, env=env, timeout=timeout, **kwargs)


NOBODY = 65534


def as_nobody(call: Callable[[], Any]) -> Any:
    """``call()`` in a forked child that gave up root (uid and gid 65534, no groups), its result pickled back.

    As root every file is readable and every folder searchable, so permission failures can only be seen
    without root. The child imports nothing new after the fork (the interpreter's own files may not be
    readable by that user): import what ``call`` needs before calling this.
    """
    if os.geteuid() != 0:
        return call()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 0
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            try:
                payload = pickle.dumps(("ok", call()))
            except BaseException as exc:  # noqa: BLE001 - sent back and raised in the parent
                payload = pickle.dumps(("error", repr(exc)))
            with os.fdopen(write, "wb") as stream:
                stream.write(payload)
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as stream:
        data = stream.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "error":
        raise AssertionError(f"the call failed without root: {value}")
    return value
