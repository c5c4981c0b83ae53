"""``amct demo``: train (once, cached) a small CNN on scikit-learn's digits, lint and resolve the
bundled configs, quantize with IFMR and with HFMG, and print FP32, fake-quant INT8 and ONNX Runtime
QDQ accuracy on the held-out split (the model, the data and the configs: ``quant.demo``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from amct_cli import CLIError

if TYPE_CHECKING:
    from quant.demo import DemoRow

__all__ = ["add_arguments", "main", "run_demo", "demo_table"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="where the trained model is cached (default: $XDG_CACHE_HOME/amct-cfg or ~/.cache/amct-cfg)")
    parser.add_argument("-o", "--output", metavar="DIR", help="also save each quantized model's outputs under DIR/<algo>")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from amct_cli.outputs import output_dir
    from quant.demo import ALGOS

    output = Path(args.output) if args.output else None
    if output is not None:  # before training and calibrating: a folder that cannot take the outputs
        for algo in ALGOS:
            output_dir(output / algo, args.force)
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


def run_demo(stdout: TextIO, stderr: TextIO, *, cache: Path | None = None, output: Path | None = None,
             overwrite: bool = False) -> int:
    """The ``amct demo`` flow; returns the exit status."""
    import torch

    import cfglang
    from amct_cli.outputs import report_outputs
    from amct_cli.planning import report
    from cfglang.diagnostics import Severity
    from quant import demo
    from quant.engine import quantize
    from quant.inventory import model_inventory

    folder = cache or demo.cache_dir()
    cached = demo.cached_model_path(folder).is_file()
    data = demo.load_digits_data()
    print(("using the cached digits CNN" if cached else "training the digits CNN (once)") +
          f" in `{folder}`", file=stdout)
    model = demo.trained_model(folder, data)
    layers = model_inventory(model, "DigitsCNN")
    with torch.no_grad():
        fp32 = demo.accuracy(model(data.test_x), data.test_y)
    rows = []
    for algo in demo.ALGOS:
        path = demo.config_path(algo)
        checked = cfglang.check(path.read_text(encoding="utf-8"), str(path.name))
        plan = cfglang.resolve(checked, layers)
        diagnostics = [*checked.diagnostics, *plan.diagnostics]
        report(checked, diagnostics, stderr)
        if any(d.severity is Severity.ERROR for d in diagnostics):
            return 1
        result = quantize(model, plan, demo.calibration_batches(data, plan.batch_num), progress=False)
        if output is not None:
            report_outputs(result.save(output / algo, overwrite=overwrite), stderr, "demo")
        rows.append(demo.evaluate(model, result, data, path.name, len(diagnostics), fp32))
    stdout.write(demo_table(rows, len(data.train_y), len(data.test_y)))
    return 0


def demo_table(rows: list[DemoRow], n_train: int, n_test: int) -> str:
    """The accuracy table ``amct demo`` prints: one row per config."""
    from cfglang.table import table_lines

    head = ("config", "lint", "FP32", "INT8 fake-quant", "ONNX Runtime QDQ", "ORT = torch", "logits cosine")
    table = [head] + [(r.config, "clean" if not r.findings else f"{r.findings} findings", f"{r.fp32:.2f}%",
                       f"{r.int8:.2f}%", f"{r.onnx:.2f}%", f"{r.agreement:.2f}%", f"{r.cosine:.6f}") for r in rows]
    lines = [f"digits CNN, top-1 accuracy on {n_test} held-out images ({n_train} for training and calibration):"]
    lines += table_lines(table, rule=True)
    return "\n".join(lines) + "\n"
