"""``amct analyze quant.cfg --model m:f --data calib.pt [--eval-data eval.pt] [--metric pkg.mod:fn] -o report/``.

Checks and resolves the config against the model (errors stop here, status 1, as for ``amct quantize``),
calibrates once, measures every quantized layer on the evaluation batches (``quant.analyze``: ``L + 2``
forwards per batch for ``L`` quantized layers) and writes ``report.json`` (checked against the report
schema) and ``report.html`` (one self-contained page) into the output folder; existing ones need
``--force``. The worst layers are printed as a table. ``--metric pkg.mod:fn`` names
``fn(outputs, batch) -> float`` (higher is better), averaged over the evaluation batches; without it the
figures are the output's cosine and SQNR against the float model. What ``amct tune`` shares is here too.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from amct_cli import CLIError, UserDataError, wrote

__all__ = ["add_arguments", "main", "add_measure_arguments", "Loaded", "load", "REPORT_FILES", "write_report",
           "measured"]

REPORT_FILES = ("report.json", "report.html")


def add_measure_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments ``amct analyze`` and ``amct tune`` share."""
    parser.add_argument("config", metavar="CONFIG", help="the .cfg file")
    parser.add_argument("--model", metavar="MODULE:FACTORY", required=True,
                        help="a callable with no arguments returning the nn.Module (the current directory is importable)")
    parser.add_argument("--data", metavar="PATH", required=True,
                        help="calibration batches: .pt (a list of batches) or .npz (arrays batch_0, batch_1, ...)")
    parser.add_argument("--eval-data", metavar="PATH",
                        help="evaluation batches, in the same formats (default: the calibration batches)")
    parser.add_argument("--metric", metavar="MODULE:FUNCTION",
                        help="fn(outputs, batch) -> float, higher is better, averaged over the evaluation batches "
                             "(default: the output's cosine and SQNR against the float model)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_measure_arguments(parser)
    parser.add_argument("-o", "--output", metavar="DIR", required=True,
                        help="folder for report.json and report.html")
    parser.add_argument("--force", action="store_true", help="overwrite an existing report")
    parser.add_argument("--top", metavar="N", type=int, default=10, help="rows of the worst-layers table (10)")


@dataclass
class Loaded:
    """What a measuring command reads before any work: the checked config, model, batches, metric and plan."""

    checked: Any
    model: Any
    calib: list[Any]
    evaluation: list[Any]
    metric: Any
    inventory: Any
    plan: Any


def _metric(ref: str | None) -> Any:
    from quant.analyze import UserMetric
    from quant.modelref import ModelRefError, import_factory

    if ref is None:
        return None
    module, sep, name = ref.partition(":")
    if not sep or not module or not name:
        raise CLIError(f"found `{ref}` for `--metric`, expected `package.module:function`")
    try:
        return UserMetric(ref, import_factory(ref, "a function fn(outputs, batch) -> float"))
    except ModelRefError as exc:
        raise CLIError(f"--metric: {exc}") from None


def load(args: argparse.Namespace, command: str, stderr: TextIO) -> Loaded | None:
    """Read everything ``args`` names; None (after reporting the diagnostics) when the config has errors."""
    from amct_cli.planning import checked_file, report
    from amct_cli.quantize import describe_batches
    from cfglang.diagnostics import Severity
    from cfglang.planner import resolve
    from quant.batches import BatchFileError, read_batches
    from quant.inventory import model_inventory
    from quant.modelref import ModelRefError, load_model

    metric = _metric(args.metric)
    checked = checked_file(args.config)
    if checked.has_errors:
        report(checked, checked.diagnostics, stderr)
        print(f"amct {command}: the config has errors, nothing measured", file=stderr)
        return None
    try:
        model = load_model(args.model).eval()
        calib = read_batches(args.data).batches
        evaluation = read_batches(args.eval_data).batches if args.eval_data else calib
    except (ModelRefError, BatchFileError) as exc:
        raise CLIError(str(exc)) from None
    print(f"amct {command}: calibrating on {describe_batches(calib)}, evaluating on "
          f"{describe_batches(evaluation).replace('calibration ', '')}", file=stderr)
    inventory = model_inventory(model, args.model, example=calib[0] if calib else None)
    plan = resolve(checked, inventory)
    report(checked, [*checked.diagnostics, *plan.diagnostics], stderr)
    if any(d.severity is Severity.ERROR for d in plan.diagnostics):
        print(f"amct {command}: the config has errors for this model, nothing measured", file=stderr)
        return None
    return Loaded(checked, model, calib, evaluation, metric, inventory, plan)


def measured(loaded: Loaded, run: Any) -> Any:
    """``run()``; a failure of the user's model on a batch, or of the metric, is the user's (status 1)."""
    from quant.analyze import AnalyzeError, model_inputs
    from quant.batches import locate_failure
    from quant.engine import QuantizeError

    try:
        return run()
    except AnalyzeError as exc:
        raise UserDataError(str(exc)) from None
    except QuantizeError as exc:
        raise CLIError(str(exc)) from None
    except Exception as exc:
        for what, batches in (("--data", loaded.calib), ("--eval-data", [model_inputs(b) for b in loaded.evaluation])):
            failure = locate_failure(loaded.model, batches)
            if failure is not None:
                raise UserDataError(f"{failure}; check `{what}` against the model's inputs") from exc
        raise


def report_path(config: str, out: Path) -> str:
    """The config's path relative to the report's folder, with `/` separators."""
    return Path(os.path.relpath(os.path.abspath(config), os.path.abspath(out))).as_posix()


def write_report(data: dict[str, Any], text: str, out: Path, stderr: TextIO) -> Any:
    """Validate ``data`` and write ``report.json`` and ``report.html`` into ``out``; the typed report."""
    import json

    from cfglang.fsutil import atomic_write, os_reason
    from cfglang.report import load_report, render_html

    report = load_report(data, "the report")  # an invalid report is an internal error: it raises
    contents = {"report.json": json.dumps(data, indent=2) + "\n", "report.html": render_html(report, text)}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, content in contents.items():
            atomic_write(out / name, content.encode("utf-8"))
    except OSError as exc:
        raise CLIError(f"cannot write the report into `{out}`: {os_reason(exc)}") from None
    wrote(stderr, out / "report.json", "the sensitivity report (JSON)")
    wrote(stderr, out / "report.html", "the sensitivity report (a page for a browser)")
    return report


def check_output(path: str, force: bool) -> Path:
    """The report folder, checked before any work."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CLIError(f"cannot use `{out}` as the output folder: it is a file, expected a folder")
    existing = [name for name in REPORT_FILES if (out / name).exists()]
    if existing and not force:
        raise CLIError(f"`{out}` already has {', '.join(f'`{n}`' for n in existing)}; pass `--force` to overwrite them")
    return out


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from cfglang.report import worst_layers_table
    from quant.analyze import analyze

    out = check_output(args.output, args.force)
    loaded = load(args, "analyze", stderr)
    if loaded is None:
        return 1
    text = loaded.checked.document.text
    data = measured(loaded, lambda: analyze(
        loaded.model, loaded.plan, loaded.calib, loaded.evaluation, loaded.metric, config_text=text,
        config_path=report_path(args.config, out), model_name=args.model, progress=not args.no_progress))
    report = write_report(data, text, out, stderr)
    stdout.write(worst_layers_table(report, args.top))
    return 0
