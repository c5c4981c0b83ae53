"""The demo's digits CNN at each width AMCT's code takes (issue 15): A8W8 (target ``documented``), A8W4
and A16W8 (target ``amct-9.1``), each with IFMR and HFMG. For each: the layers' widths, the median
time of ``quant.quantize`` over three runs, and top-1 accuracy of the fake-quant model and of the ONNX
QDQ model in ONNX Runtime (``exact=True``: without its integer rewrites; and with its defaults).

The A8W4 / A16W8 configs are the demo's with ``quant_bits: 4`` in every ``arq_quantize`` block, or
``dst_type: INT16`` in the ``common_config`` and Linear override's activation blocks (AvgPool2d,
outside AMCT's INT16 table, keeps its INT8 override).

    python bench/widths.py [--rounds 3] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cfglang  # noqa: E402
from quant import demo, model_inventory, quantize  # noqa: E402
from quant.onnx_export import onnx_session, run_onnx  # noqa: E402


def variants(algo: str) -> dict[str, tuple[str, str]]:
    """name -> (config text, target)."""
    base = demo.config_path(algo).read_text()
    w4 = re.sub(r"\s*quant_bits: 8", "", base).replace("arq_quantize {", "arq_quantize { quant_bits: 4")
    block = f"{algo}_quantize {{"
    a16 = base.replace(block, block + " dst_type: INT16", 2)  # common_config and the Linear override
    return {"A8W8": (base, "documented"), "A8W4": (w4, "amct-9.1"), "A16W8": (a16, "amct-9.1")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    data = demo.load_digits_data()
    model = demo.trained_model(args.cache_dir, data)
    with torch.no_grad():
        print(f"FP32 top-1 {demo.accuracy(model(data.test_x), data.test_y):.2f}%")
    print("algo  widths  layers (weight/activation bits)              quantize  fake-quant  ORT exact  ORT default")
    for algo in ("ifmr", "hfmg"):
        for name, (text, target) in variants(algo).items():
            plan = cfglang.resolve(text, model_inventory(model), target=target)
            batches = demo.calibration_batches(data, plan.batch_num)
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                result = quantize(model, plan, batches, progress=False)
                times.append(time.perf_counter() - start)
            with torch.no_grad():
                fake = demo.accuracy(result.model(data.test_x), data.test_y)
            onnx = result.onnx_bytes()
            exact = demo.accuracy(run_onnx(onnx_session(onnx, exact=True), data.test_x), data.test_y)
            default = demo.accuracy(run_onnx(onnx_session(onnx), data.test_x), data.test_y)
            widths = " ".join(f"{l.weight_bits or '-'}/{l.activation_bits}" for l in result.layers)
            print(f"{algo:<5} {name:<7} {widths:<42} {statistics.median(times):7.3f}s  {fake:9.2f}%  "
                  f"{exact:8.2f}%  {default:10.2f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
