"""Benchmark: ``cfglang.parse`` against protobuf's ``text_format.Parse`` on the same text.

Generates configs with 100, 1,000 and 10,000 ``override_layer_configs``
entries (each a realistic calibration_config with arq_quantize and
ifmr_quantize blocks) plus a 30 KB file, and times both parsers in this
process (best of several runs). Run from the repository root:

    python bench/parse.py [--repeat N] [--markdown]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout

HEADER = """# global quantize parameter
batch_num : 2
activation_offset : true
skip_layers : "features.0"
do_fusion : true
common_config : {
    arq_quantize : {
        channel_wise : true
    }
    ifmr_quantize : {
        search_range_start : 0.7
        search_range_end : 1.3
        search_step : 0.01
        max_percentile : 0.999999
        min_percentile : 0.999999
        asymmetric : true
    }
}
"""

ENTRY = """override_layer_configs {{
  layer_name: "layer{i}.conv{j}"
  calibration_config {{
    arq_quantize {{
      channel_wise: {wise}
    }}
    ifmr_quantize {{
      search_range_start: 0.{a}
      search_range_end: 1.{b}
      search_step: 0.0{c}
      asymmetric: {asym}
    }}
  }}
}}
"""


def generate(entries: int) -> str:
    parts = [HEADER]
    for n in range(entries):
        parts.append(ENTRY.format(i=n // 4, j=n % 4, wise="true" if n % 3 else "false",
                                  a=6 + n % 3, b=2 + n % 5, c=1 + n % 9, asym="true" if n % 2 else "false"))
    return "".join(parts)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--markdown", action="store_true", help="print the docs/benchmarks.md table")
    args = ap.parse_args()

    from google.protobuf import text_format

    import cfglang
    from cfglang._proto.calibration_config_pytorch_pb2 import AMCTConfig

    cfglang.parse("batch_num: 1")  # build the grammar tables outside the timings
    sizes = [("30 KB", generate(110))] + [(f"{n:,} entries", generate(n)) for n in (100, 1000, 10000)]
    rows = []
    for label, text in sizes:
        document = cfglang.parse(text)
        assert not document.diagnostics, document.diagnostics[:3]
        repeat = args.repeat if len(text) < 1_000_000 else max(2, args.repeat // 2)
        ours = best(lambda: cfglang.parse(text), repeat)
        theirs = best(lambda: text_format.Parse(text, AMCTConfig()), repeat)
        rows.append((label, len(text), ours, theirs))

    if args.markdown:
        print("| input | size | `cfglang.parse` | MB/s | `text_format.Parse` | MB/s | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
    for label, size, ours, theirs in rows:
        mb = size / 1e6
        if args.markdown:
            print(f"| {label} | {size / 1024:,.0f} KiB | {ours * 1e3:,.1f} ms | {mb / ours:.1f} "
                  f"| {theirs * 1e3:,.1f} ms | {mb / theirs:.1f} | {ours / theirs:.2f} |")
        else:
            print(f"{label:>16} {size / 1024:9,.0f} KiB  ours {ours * 1e3:9.1f} ms ({mb / ours:5.1f} MB/s)  "
                  f"protobuf {theirs * 1e3:9.1f} ms ({mb / theirs:5.1f} MB/s)  ratio {ours / theirs:.2f}")
    print(f"\nPython {platform.python_version()} on {platform.machine()}, best of {args.repeat}")


if __name__ == "__main__":
    main()
