"""Start-up of ``amct lint``: what a pre-commit hook pays on every commit.

Measures, in one run and on this machine:

1. the whole ``amct lint small.cfg`` process against
   ``python -c "import lark, google.protobuf.text_format"`` (target: ratio <= 2);
2. one process linting 200 small files against one process linting one
   (target: ratio <= 3).

Each command runs ``--repeat`` times after a warm-up; the median wall time is
reported. Usage::

    python bench/startup.py [--repeat 15] [--markdown]
"""

from __future__ import annotations

import argparse
import platform
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


def _median_seconds(argv: list[str], repeat: int, cwd: Path) -> float:
    subprocess.run(argv, cwd=cwd, capture_output=True, check=False)  # warm the file cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} failed with status {done.returncode}: {done.stderr.decode()}")
    return statistics.median(times)


def measure(repeat: int) -> dict[str, float]:
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
            "import": _median_seconds([python, "-c", "import lark, google.protobuf.text_format"], repeat, work),
            "lint_one": _median_seconds([python, "-m", "cfglang", "lint", "small.cfg"], repeat, work),
            "lint_200": _median_seconds([python, "-m", "cfglang", "lint", "many"], repeat, work),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--markdown", action="store_true", help="print a table for docs/benchmarks.md")
    args = parser.parse_args()
    t = measure(args.repeat)
    rows = [
        ("`python -c \"import lark, google.protobuf.text_format\"`", t["import"], ""),
        ("`amct lint small.cfg` (whole process)", t["lint_one"], f"{t['lint_one'] / t['import']:.2f}x the import"),
        ("`amct lint many/` (200 small files)", t["lint_200"], f"{t['lint_200'] / t['lint_one']:.2f}x one file"),
    ]
    machine = f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    if args.markdown:
        print("| command | median wall time | ratio |\n|---|---|---|")
        for name, seconds, ratio in rows:
            print(f"| {name} | {seconds * 1000:.0f} ms | {ratio} |")
        print(f"\n{args.repeat} runs each, median; {machine}")
    else:
        for name, seconds, ratio in rows:
            print(f"{seconds * 1000:8.1f} ms  {name}  {ratio}")
        print(f"targets: lint <= 2x import ({t['lint_one'] / t['import']:.2f}x), "
              f"200 files <= 3x one ({t['lint_200'] / t['lint_one']:.2f}x); {machine}")


if __name__ == "__main__":
    main()
