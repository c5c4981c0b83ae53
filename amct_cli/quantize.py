"""``amct quantize quant.cfg --model package.module:factory --data calib.pt|calib.npz -o out/``.

Checks and resolves the config against the model (diagnostics as ``amct lint`` shows them; errors
stop here with status 1), says how it read ``--data`` (``quant.batches``), calibrates with progress
bars over batches, layers and AdaRound's iterations (when stderr is a terminal: ``quant.engine``),
prints the per-layer table (each layer's output cosine against float on the first batch: two more
forwards of that batch, which ``--no-layer-cosines`` saves on a large model) and writes the outputs of
``QuantResult.save`` into the output folder (existing files are kept unless ``--force``), one
``wrote PATH: WHAT`` line each. ``--no-onnx`` skips the
ONNX model; where no ONNX export of the model works, the other files are still written and one
warning line names the cause (status 0). A batch the model
fails on is a user error (status 1) naming the batch and the innermost layer that raised. The
factory's model is put in eval mode. A ``torch.export`` program file is refused (one line, status 2):
the program keeps the graph but not the ``nn.Module`` layers (``Conv2d``, ``Linear``, ...) that
quantization folds, calibrates and replaces.

Under ``torchrun --nproc-per-node N`` (``WORLD_SIZE`` above 1 in the environment) every process joins
the group (gloo: the command calibrates on the CPU), runs the forwards of its round-robin share of the
batches and exchanges statistics (``quant.distributed``, docs/distributed.md); rank 0 alone prints
the table and writes the outputs, the other ranks print nothing but errors, and every rank exits
with rank 0's status. A single process never joins a group.
"""

from __future__ import annotations

import argparse
import io
import os
from typing import Any, TextIO

from amct_cli import CLIError, UserDataError, plural, warning_line

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="the .cfg file")
    parser.add_argument("--model", metavar="MODULE:FACTORY", required=True,
                        help="a callable with no arguments returning the nn.Module (the current directory is "
                             "importable); a torch.export program file is not enough to quantize")
    parser.add_argument("--data", metavar="PATH", required=True,
                        help="calibration batches: .pt (a list of batches, each a tensor, a tuple or a dict of "
                             "tensors) or .npz (arrays batch_0, batch_1, ...)")
    parser.add_argument("-o", "--output", metavar="DIR", required=True, help="folder for the outputs")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    parser.add_argument("--no-onnx", action="store_true", help="do not export the QDQ ONNX model")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-layer-cosines", action="store_true",
                        help="leave out the table's per-layer output cosine (saves two forwards of the first batch)")


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    if _torchrun_world() <= 1:
        return _main(args, stdout, stderr, None)
    from quant.distributed import joined

    with joined() as exchange:
        if exchange.rank != 0:  # errors reach the terminal as exceptions; everything else is rank 0's
            stdout, stderr = io.StringIO(), io.StringIO()
        return _main(args, stdout, stderr, exchange)


def _torchrun_world() -> int:
    """The number of processes ``torchrun`` started (``WORLD_SIZE``; 1 outside torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise CLIError(f"WORLD_SIZE is `{os.environ['WORLD_SIZE']}` in the environment, expected a number "
                       f"of processes (as torchrun sets it)") from None


def _main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO, exchange: Any) -> int:
    from amct_cli.outputs import output_dir, report_outputs
    from amct_cli.planning import adaround_estimate, checked_file, float_summary, report
    from cfglang.diagnostics import Severity
    from cfglang.planner import resolve
    from quant.batches import BatchFileError, describe_batch, read_batches
    from quant.engine import QuantizeError
    from quant.inventory import model_inventory
    from quant.modelref import ModelRefError, load_model
    from quant.result import OutputDirError

    out = output_dir(args.output, args.force)
    checked = checked_file(args.config)
    if checked.has_errors:
        report(checked, checked.diagnostics, stderr)
        print("amct quantize: the config has errors, nothing quantized", file=stderr)
        return 1
    try:
        model = load_model(args.model).eval()
        data = read_batches(args.data)
    except (ModelRefError, BatchFileError) as exc:
        raise CLIError(str(exc)) from None
    how = ""
    if data.split:  # the reading a newcomer may not expect: say it, and how to get the other one
        first = data.batches[0]
        samples = plural(len(data.batches), "sample")
        how = (f" (the file holds one tensor, split along dim 0; for one batch of {samples} of shape "
               f"{describe_batch(first)}, save a list: `torch.save([tensor], path)`)")
    print(f"amct quantize: read {describe_batches(data.batches)} from `{args.data}`{how}", file=stderr)
    plan = resolve(checked, model_inventory(model, args.model, example=data.batches[0]))
    report(checked, [*checked.diagnostics, *plan.diagnostics], stderr)
    if any(d.severity is Severity.ERROR for d in plan.diagnostics):
        print("amct quantize: the config has errors for this model, nothing quantized", file=stderr)
        return 1
    estimate = adaround_estimate(plan)
    if estimate:
        print(warning_line("quantize", estimate), file=stderr)
    for line in float_summary("quantize", plan, where="the written plan.json names them"):
        print(line, file=stderr)
    try:
        result = _quantize(model, plan, data.batches, progress=not args.no_progress,
                           layer_cosines=not args.no_layer_cosines, exchange=exchange)
    except QuantizeError as exc:
        raise CLIError(str(exc)) from None
    if exchange is not None and exchange.rank != 0:
        failure = exchange.gather(None)[0]  # every rank ends as rank 0's save does
        if failure is not None:
            raise CLIError(failure)
        return 0
    try:
        saved = result.save(out, overwrite=args.force, onnx=not args.no_onnx)
    except Exception as exc:
        if exchange is not None:
            exchange.gather(str(exc) if isinstance(exc, OutputDirError) else f"rank 0 could not write the outputs: {exc}")
        if isinstance(exc, OutputDirError):
            raise CLIError(str(exc)) from None
        raise
    if exchange is not None:
        exchange.gather(None)
    stdout.write(result.table())
    report_outputs(saved, stderr, "quantize")
    return 0


def describe_batches(batches: list[Any]) -> str:
    """``4 calibration batches of shape [20]``, or the first and last shapes when they differ."""
    from quant.batches import describe_batch

    counted = plural(len(batches), "calibration batch")
    shapes = [describe_batch(b) for b in batches]
    if not shapes:
        return counted
    if len(set(shapes)) == 1:
        return f"{counted} of shape {shapes[0]}"
    return f"{counted} of shapes {shapes[0]} ... {shapes[-1]}"


def _quantize(model: Any, plan: Any, batches: list[Any], progress: bool, layer_cosines: bool,
              exchange: Any = None) -> Any:
    """``quant.quantize``; a failure of the user's model on a batch is the user's (exit 1, named batch and
    layer). With ``exchange`` (``quant.distributed``), this rank's round-robin share of the batches."""
    from quant.batches import locate_failure
    from quant.engine import QuantizeError, quantize

    try:
        if exchange is None:
            return quantize(model, plan, batches, layer_cosines=layer_cosines, progress=progress)
        from quant.distributed import BatchDataError

        indices = [i for i in range(exchange.rank, plan.batch_num, exchange.world) if i < len(batches)]
        first = exchange.rank == 0  # the rank that prints the table
        try:
            return quantize(model, plan, [batches[i] for i in indices], group=exchange,
                            batch_indices=range(exchange.rank, plan.batch_num, exchange.world),
                            layer_cosines=layer_cosines and first, progress=progress and first)
        except BatchDataError as exc:  # located on the rank that held the batch, as below
            raise UserDataError(f"{exc}; check `--data` against the model's inputs") from None
    except QuantizeError:
        raise
    except Exception as exc:
        # the float model on the same batches: a batch it fails on is the data's or the model's problem;
        # one it runs is the engine's, and the original failure stays an internal error
        failure = locate_failure(model, batches[:plan.batch_num])
        if failure is None:
            raise
        raise UserDataError(f"{failure}; check `--data` against the model's inputs") from exc
