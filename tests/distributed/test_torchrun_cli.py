"""``amct quantize`` under ``torchrun --nproc-per-node 2`` (issue 20): rank 0 alone prints the table and
writes the outputs, byte for byte those of one process; the other rank prints nothing of its own."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dist_support
from clirun import amct

ROOT = dist_support.HERE.parents[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None and not Path(sys.executable).with_name("torchrun").exists(),
                    reason="torchrun is not installed")
def test_torchrun_two_ranks_write_what_one_process_writes(tmp_path: Path) -> None:
    torch.save(dist_support.batches("cnn", 5), tmp_path / "calib.pt")
    (tmp_path / "q.cfg").write_text(dist_support.config_text("dmq", 5))
    argv = ["quantize", str(tmp_path / "q.cfg"), "--model", "dist_support:demo_cnn", "--data",
            str(tmp_path / "calib.pt"), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(dist_support.HERE)]), "GLOO_SOCKET_IFNAME": "lo"}
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    done = subprocess.run([torchrun, "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port",
                           str(dist_support.free_port()), "--tee", "3", "--log-dir", str(tmp_path / "logs"),
                           "-m", "amct_cli", *argv, "-o", str(tmp_path / "dist")],
                          capture_output=True, text=True, env=env, cwd=dist_support.HERE, timeout=300)
    assert done.returncode == 0, done.stderr

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun rank
    cwd = os.getcwd()
    os.chdir(dist_support.HERE)
    try:
        status, table, err = amct(*argv, "-o", str(tmp_path / "single"))
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    assert status == 0, err
    names = sorted(p.name for p in (tmp_path / "single").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "dist").iterdir())
    for name in names:
        assert filecmp.cmp(tmp_path / "single" / name, tmp_path / "dist" / name, shallow=False), name
    # each rank's own output, as torchrun's --tee kept it: the table and the `wrote` lines on rank 0 only
    logs = {path.parent.name + "/" + path.name: path.read_text() for path in (tmp_path / "logs").rglob("std*.log")}
    rank0 = {k: v for k, v in logs.items() if k.startswith("0/")}
    rank1 = {k: v for k, v in logs.items() if k.startswith("1/")}
    assert rank0["0/stdout.log"] == table
    assert "wrote " in rank0["0/stderr.log"]
    assert rank1 == {"1/stdout.log": "", "1/stderr.log": ""}
