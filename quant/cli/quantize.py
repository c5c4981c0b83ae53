"""``amct quantize quant.cfg --model package.module:factory --data calib.pt|calib.npz -o out/``.

Checks and resolves the config against the model (diagnostics as ``amct lint`` shows them; errors
stop here with status 1), calibrates with a progress bar over batches and layers, prints the
per-layer table and writes the outputs of ``QuantResult.save`` into the output folder (existing
files are kept unless ``--force``). The factory's model is put in eval mode. A ``torch.export``
program file is refused (one line, status 2): the program keeps the graph but not the ``nn.Module``
layers (``Conv2d``, ``Linear``, ...) that quantization folds, calibrates and replaces.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from cfglang.cli import CLIError

HELP = "calibrate and quantize a PyTorch model (needs torch)"

__all__ = ["HELP", "add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="the .cfg file")
    parser.add_argument("--model", metavar="MODULE:FACTORY", required=True,
                        help="a callable with no arguments returning the nn.Module (the current directory is "
                             "importable); a torch.export program file is not enough to quantize")
    parser.add_argument("--data", metavar="PATH", required=True,
                        help="calibration batches: .pt (a list of batches) or .npz (batch_0, batch_1, ...)")
    parser.add_argument("-o", "--output", metavar="DIR", required=True, help="folder for the outputs")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from cfglang.cli.planning import checked_file, report
    from cfglang.diagnostics import Severity
    from cfglang.resolve import resolve
    from quant.batches import BatchFileError, load_batches
    from quant.engine import QuantizeError, quantize
    from quant.inventory import inventory
    from quant.modelref import ModelRefError, load_model
    from quant.result import OutputDirError, check_output_dir

    try:
        out = check_output_dir(args.output, overwrite=args.force)
    except OutputDirError as exc:
        raise CLIError(str(exc)) from None
    checked = checked_file(args.config)
    if checked.has_errors:
        report(checked, checked.diagnostics, stderr)
        return 1
    try:
        model = load_model(args.model).eval()
        batches = load_batches(args.data)
    except (ModelRefError, BatchFileError) as exc:
        raise CLIError(str(exc)) from None
    plan = resolve(checked, inventory(model, args.model))
    report(checked, [*checked.diagnostics, *plan.diagnostics], stderr)
    if any(d.severity is Severity.ERROR for d in plan.diagnostics):
        return 1
    try:
        result = quantize(model, plan, batches, progress=not args.no_progress)
        paths = result.save(out, overwrite=args.force)
    except (QuantizeError, OutputDirError) as exc:
        raise CLIError(str(exc)) from None
    stdout.write(result.table())
    for path in paths.values():
        print(f"wrote {path}", file=stdout)
    return 0
