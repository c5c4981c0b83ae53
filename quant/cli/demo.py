"""``amct demo``: train (once, cached) a small CNN on scikit-learn's digits, lint and resolve the
bundled configs, quantize with IFMR and with HFMG, and print FP32, fake-quant INT8 and ONNX Runtime
QDQ accuracy on the held-out split."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

HELP = "train, quantize and evaluate a small CNN on the digits dataset (needs torch)"

__all__ = ["HELP", "add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="where the trained model is cached (default: $XDG_CACHE_HOME/amct-cfg or ~/.cache/amct-cfg)")
    parser.add_argument("-o", "--output", metavar="DIR", help="also save each quantized model's outputs under DIR/<algo>")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from quant.cli import output_dir
    from quant.demo import ALGOS, run_demo

    output = Path(args.output) if args.output else None
    if output is not None:  # before training and calibrating: a folder that cannot take the outputs
        for algo in ALGOS:
            output_dir(output / algo, args.force)
    from cfglang.cli import CLIError
    from quant.result import OutputDirError

    try:
        status = run_demo(stdout, stderr, cache=Path(args.cache_dir) if args.cache_dir else None, output=output,
                          overwrite=args.force)
    except OutputDirError as exc:  # a full disk while saving: one line, no half-written outputs
        raise CLIError(str(exc)) from None
    if output is None and status == 0:
        print("amct demo: nothing written; pass `-o DIR` to save each quantized model's outputs (record, AMCT "
              "config, plan, fake-quant model, ONNX) under DIR/ifmr and DIR/hfmg", file=stderr)
    return status
