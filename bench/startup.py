"""Start-up of ``amct lint``: what a pre-commit hook pays on every commit.

Measures, in one run and on this machine:

1. the whole ``amct lint small.cfg`` process against
   ``python -c "import lark, google.protobuf.text_format"`` (target: ratio <= 2);
2. one process linting 200 small files against one process linting one
   (target: ratio <= 3).

Each command runs ``--repeat`` times after a warm-up; the medians of the wall
time and of the child's CPU time (user + system) are reported. On a busy
machine the CPU time is the steadier figure; on an idle one the two agree. Usage::

    python bench/startup.py [--repeat 15] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL = """\
# proto-message: AMCTConfig
batch_num: 2
activation_offset: true
skip_layers: "fc"
common_config {
  arq_quantize {
    channel_wise: true
    quant_bits: 8
  }
  ifmr_quantize {
    search_range_start: 0.7
    search_range_end: 1.3
    search_step: 0.01
  }
}
override_layer_types {
  layer_type: "Conv2d"
  calibration_config {
    arq_quantize {
      channel_wise: false
    }
  }
}
"""


ROOT = Path(__file__).resolve().parents[1]
# the checkout first, so the benchmark measures this tree whether or not it is installed; bytecode is
# written (by the warm-up run), as pip does on install, else every run would compile the sources again
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _times(argv: list[str], repeat: int, cwd: Path) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of the child process."""
    subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, check=False)  # warm the file cache
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, start = _cpu(), time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, check=False)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
        if done.returncode != 0:  # every file is clean: anything else means the run did not happen
            raise SystemExit(f"{' '.join(argv)} failed with status {done.returncode}: {done.stderr.decode()}")
    return statistics.median(walls), statistics.median(cpus)


def measure(repeat: int) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "amct.toml").write_text("", encoding="utf-8")
        (work / "small.cfg").write_text(SMALL, encoding="utf-8")
        many = work / "many"
        many.mkdir()
        for i in range(200):
            (many / f"c{i:03}.cfg").write_text(SMALL, encoding="utf-8")
        python = sys.executable
        return {
            "import": _times([python, "-c", "import lark, google.protobuf.text_format"], repeat, work),
            "lint_one": _times([python, "-m", "amct_cli", "lint", "small.cfg"], repeat, work),
            "lint_200": _times([python, "-m", "amct_cli", "lint", "many"], repeat, work),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--markdown", action="store_true", help="print a table for docs/benchmarks.md")
    args = parser.parse_args()
    t = measure(args.repeat)
    machine = f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.python_implementation()} " \
              f"{platform.python_version()}"
    rows = [
        ("`python -c \"import lark, google.protobuf.text_format\"`", "import", None),
        ("`amct lint small.cfg` (whole process)", "lint_one", "import"),
        ("`amct lint many/` (200 small files, one process)", "lint_200", "lint_one"),
    ]
    if args.markdown:
        print("| command | wall (median) | CPU (median) | ratio (wall) | ratio (CPU) |\n|---|---|---|---|---|")
    for name, key, peer in rows:
        wall, cpu = t[key]
        ratios = ("", "") if peer is None else (f"{wall / t[peer][0]:.2f}x {peer}", f"{cpu / t[peer][1]:.2f}x {peer}")
        if args.markdown:
            print(f"| {name} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {ratios[0]} | {ratios[1]} |")
        else:
            print(f"{wall * 1000:8.1f} ms wall {cpu * 1000:8.1f} ms CPU  {name}  {' / '.join(ratios)}")
    print(f"\n{args.repeat} runs each after a warm-up; {machine}; targets: lint_one <= 2x import, "
          f"lint_200 <= 3x lint_one")

if __name__ == "__main__":
    main()
