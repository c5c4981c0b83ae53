"""What ``amct plan``, ``amct explain --layer`` and ``amct convert`` share: reading a
config for resolution and taking the model (``--model``) or inventory (``--layers``).

Without ``--model``/``--layers`` the inventory is the one ``amct lint`` and the
editor use: the file's ``# amct: layers=PATH`` header, else ``layers`` of its
project settings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from amct_cli import CLIError, plural, wrote

__all__ = ["add_model_arguments", "inventory_from_args", "checked_file", "report", "resolve_file", "refuse_overwrite",
           "write_output", "error_count", "adaround_estimate", "float_summary", "add_layer_arguments",
           "explain_layer_main"]


def add_model_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--model", metavar="MODULE:FACTORY|PROGRAM.pt2",
                       help="`package.module:factory` returning the nn.Module, or a file written by "
                            "`torch.export.save` (needs torch)")
    group.add_argument("--layers", metavar="LAYERS.JSON", help="a layer inventory written by `amct layers`")
    from amct_cli.targets import add_target_argument

    add_target_argument(parser)


def inventory_from_args(args: argparse.Namespace, result: Any, stderr: TextIO) -> Any:
    """The :class:`~cfglang.inventory.Inventory` for the checked config ``result``.

    ``--layers`` or ``--model`` when given; else the inventory the file's header
    or its project settings name (as for ``amct lint``); else a one-line failure.
    """
    from amct_cli import common

    if args.layers:
        return common.load_inventory_file(args.layers)
    if args.model:
        return common.load_model_inventory(args.model)
    from cfglang.settings import SettingsError, SettingsResolver, inventory_source

    path = result.document.path
    try:
        source = inventory_source(result.document.text, path, SettingsResolver().for_path(path))
    except SettingsError as exc:
        raise CLIError(str(exc)) from None
    if source is None:
        raise CLIError(f"{path}: no model to resolve against: pass `--model` or `--layers LAYERS.JSON`, or name an "
                       f"inventory in the file's header (`# amct: layers=PATH`) or in the `layers` setting")
    return common.load_named_inventory(source, path)


def checked_file(path: str, target: str | None = None) -> Any:
    """Read and check ``path`` (at most its settings' ``max-file-size``: S015 beyond); a file that cannot be
    read is a one-line failure. ``target`` (None: the settings' ``target``) is the AMCT behaviour to check against."""
    from cfglang.checker import check
    from amct_cli.common import read_config
    from cfglang.settings import SettingsError, SettingsResolver

    try:
        settings = SettingsResolver().for_path(path)
    except SettingsError as exc:
        raise CLIError(str(exc)) from None
    limit = settings.max_file_size
    return check(read_config(Path(path), limit), path, max_size=limit, target=target or settings.target)


def report(result: Any, diagnostics: Any, stderr: TextIO) -> None:
    """Render ``diagnostics`` of the checked file ``result`` to ``stderr`` in the full format."""
    from cfglang.render import FileReport, render

    if diagnostics:
        path = result.document.path or "<config>"
        stderr.write(render([FileReport(path, result.document.text, tuple(diagnostics))], "full"))


def resolve_file(path: str, args: argparse.Namespace, stderr: TextIO) -> tuple[Any, Any, Any] | None:
    """``(checked config, inventory, plan)`` for a config file and ``--model``/``--layers``.

    The config's and the model-aware diagnostics are reported on ``stderr`` together, so that one run
    shows all that is to fix; a config with errors is still resolved (as ``amct lint`` does), unless
    it has syntax diagnostics: then its tree is not what was meant, only those are reported and the
    result is None.
    """
    from cfglang.planner import resolve
    from cfglang.rules import stage_of

    result = checked_file(path, getattr(args, "amct_target", None))  # `--target`, else the settings'
    if any(stage_of(d.code) == "parse" for d in result.diagnostics):
        report(result, result.diagnostics, stderr)
        return None
    inventory = inventory_from_args(args, result, stderr)
    plan = resolve(result, inventory)
    report(result, [*result.diagnostics, *plan.diagnostics], stderr)
    return result, inventory, plan


def error_count(*diagnostics: Any) -> int:
    from cfglang.diagnostics import Severity

    return sum(d.severity is Severity.ERROR for group in diagnostics for d in group)


#: seconds per AdaRound iteration of a small layer on a CPU, the basis of the estimate below: 0.9 ms for a
#: Linear(20, 16) and 4-5 ms for a Linear(256, 256) or a Conv2d(16, 32, 3) on one core, 2.4 ms for a small MLP
#: on two busy cores (docs/benchmarks.md, "AdaRound time per iteration")
ADAROUND_SECONDS_PER_ITERATION = 0.002
#: from this estimate on, planning AdaRound is worth a warning
ADAROUND_WARN_SECONDS = 60.0


def adaround_estimate(plan: Any) -> str | None:
    """A warning when the plan's AdaRound layers will take long: how many layers, iterations and about
    how long; None when the estimate is under a minute."""
    ada = [layer for layer in plan.layers if layer.quantize and layer.weight is not None and layer.weight.algo == "ada"]
    iterations = sum(layer.weight.num_iteration or 0 for layer in ada)
    seconds = iterations * ADAROUND_SECONDS_PER_ITERATION
    if seconds < ADAROUND_WARN_SECONDS:
        return None
    counts = sorted({layer.weight.num_iteration or 0 for layer in ada})
    each = f"{counts[0]} iterations each" if len(counts) == 1 else f"{iterations} iterations in all"
    took = f"{seconds / 60:.0f} minutes" if seconds >= 90 else f"{seconds:.0f} s"
    return (f"AdaRound (`ada_quantize`) is planned for {plural(len(ada), 'layer')}, {each}: about {took} on a "
            f"CPU at {ADAROUND_SECONDS_PER_ITERATION * 1000:.0f} ms per iteration (a small layer; larger layers take "
            f"longer); `num_iteration` sets the count, `arq_quantize` takes seconds")


def float_summary(command: str, plan: Any, verbose: bool = False, where: str = "`-v` names them") -> list[str]:
    """What ``plan`` leaves in float (:meth:`cfglang.plan.Plan.left_in_float`), one line per reason with the
    count of each type; ``verbose`` names them too, one line per type, else the first line says ``where`` the
    names are. Empty when the plan quantizes every weight its inventory knows."""
    from cfglang.plan import FLOAT_REASONS
    from cfglang.render import printable  # names from an inventory file

    entries = plan.left_in_float()
    if not entries:
        return []
    groups: dict[str, dict[str, list[str]]] = {}
    for name, label, reason in entries:
        groups.setdefault(reason, {}).setdefault(label, []).append(name)
    counted = plural(len(entries), "weighted module or parameter", "weighted modules and parameters")
    lines = [f"amct {command}: left in float: {counted}" + ("" if verbose else f" ({where})")]
    for reason, by_type in groups.items():
        counts = ", ".join(f"{len(names)} {label}" for label, names in by_type.items())
        lines.append(f"  {FLOAT_REASONS[reason]}: {counts}")
        if verbose:
            lines.extend(f"    {label}: {', '.join(f'`{n}`' for n in names)}" for label, names in by_type.items())
    return [printable(line) for line in lines]


def refuse_overwrite(path: str | None, force: bool) -> None:
    """Before any work: an existing output file needs ``--force``; a folder cannot be one (standard output,
    ``/dev/null`` and FIFOs are written through, so they need nothing)."""
    import os
    import stat

    from amct_cli.common import is_stdout

    if not path or is_stdout(path):
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing (created), or a failure the write reports in one line
    if stat.S_ISDIR(mode):
        raise CLIError(f"`{path}` is a folder, expected a file name for the output")
    if stat.S_ISREG(mode) and not force:
        raise CLIError(f"`{path}` exists; pass `--force` to overwrite it")


def write_output(text: str, output: str | None, what: str, stdout: TextIO, stderr: TextIO) -> None:
    """``text`` into the file ``output`` (``-o``), said with a ``wrote PATH: WHAT`` line on stderr; else, and for
    ``-o -`` or ``-o /dev/stdout``, on stdout."""
    from amct_cli.common import is_stdout

    if not output or is_stdout(output):
        stdout.write(text)
        return
    from amct_cli.common import write_bytes

    write_bytes(output, text.encode("utf-8"))
    wrote(stderr, output, what)


def add_layer_arguments(parser: argparse.ArgumentParser) -> None:
    """``amct explain quant.cfg --layer NAME [--model|--layers]``."""
    parser.add_argument("--layer", metavar="NAME", help="with a config file: the layer whose values to explain")
    add_model_arguments(parser, required=False)


def explain_layer_main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Print each resolved value of ``args.layer`` and where it came from, with the source line."""
    from cfglang.plan import explain_layer

    if not args.layer:
        raise CLIError("with a config file, pass `--layer NAME` (and `--model` or `--layers`, unless the file's "
                       "header or settings name an inventory)")
    resolved = resolve_file(args.target, args, stderr)
    if resolved is None or resolved[0].has_errors:
        return 1
    result, inventory, plan = resolved
    if plan.layer(args.layer) is None:
        import difflib

        layer = inventory.get(args.layer)
        if layer is not None:
            raise CLIError(f"`{args.layer}` is a `{layer.type}`, which AMCT does not quantize")
        close = difflib.get_close_matches(args.layer, inventory.names, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise CLIError(f"`{args.layer}` is not a layer of the model{hint}")
    from cfglang.render import printable  # the source lines of the file

    stdout.write(printable(explain_layer(plan, args.layer, result.document.text)))
    return 0
