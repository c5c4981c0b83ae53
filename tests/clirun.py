"""``amct ARGV`` run in this process, for the tests of every folder (``tests`` is on pytest's path)."""

from __future__ import annotations

import io

from amct_cli import run


def amct(*argv: str) -> tuple[int, str, str]:
    """``amct ARGV`` in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = run(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()
