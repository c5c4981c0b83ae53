"""``amct tune quant.cfg --model m:f --data calib.pt (--target-cosine 0.99 | --max-drop X --metric pkg.mod:fn)``.

Searches the smallest edit of the config that brings the quantized model to the target
(``quant.tune``: better settings for the most sensitive layers first, then ``skip_layers`` for the
fewest layers, every candidate checked by the validator), and prints what it changed and the figures
before and after; the edited config is quantized once more to verify them. ``--target-cosine`` is on
the lowest output cosine of any evaluation sample; ``--max-drop`` on the user metric (``--metric``)
against the float model's value. ``--diff`` prints the edit as a unified diff; ``--write`` writes it
into the file (atomically, and only when the file is still what was read); ``-o DIR`` writes the report
of the original config with its ``tune`` section (what the editor offers as a code action). Status 0
when the target is met, 1 when it is not (the best edit found is still shown and, with ``--write``, written).
"""

from __future__ import annotations

import argparse
import difflib
from typing import TextIO

from amct_cli import CLIError, wrote

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from amct_cli.analyze import add_measure_arguments

    add_measure_arguments(parser)
    goal = parser.add_mutually_exclusive_group(required=True)
    goal.add_argument("--target-cosine", metavar="C", type=float,
                      help="the lowest output cosine against the float model to reach (e.g. 0.99)")
    goal.add_argument("--max-drop", metavar="X", type=float,
                      help="the largest drop of the --metric against the float model to accept")
    parser.add_argument("--diff", action="store_true", help="print the edit as a unified diff")
    parser.add_argument("--write", action="store_true", help="write the edited config into CONFIG")
    parser.add_argument("-o", "--output", metavar="DIR", help="folder for report.json and report.html (with the edit)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing report")
    parser.add_argument("--setting-layers", metavar="N", type=int, default=3,
                        help="how many of the most sensitive layers get better settings tried before skips (3)")


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from amct_cli.analyze import check_output, load, measured, report_path, write_report
    from quant.tune import Goal, TuneError, tune

    if args.max_drop is not None and args.metric is None:
        raise CLIError("`--max-drop` needs `--metric pkg.mod:fn` (the figure whose drop it bounds)")
    if args.setting_layers < 0:
        raise CLIError(f"`--setting-layers` is {args.setting_layers}, expected 0 or more")
    out = check_output(args.output, args.force) if args.output else None
    loaded = load(args, "tune", stderr)
    if loaded is None:
        return 1
    document = loaded.checked.document
    text = document.text
    goal = Goal("cosine_min", args.target_cosine) if args.target_cosine is not None else \
        Goal("metric", args.max_drop, drop=True)
    try:
        outcome = measured(loaded, lambda: tune(
            loaded.model, text, loaded.inventory, loaded.calib, goal, eval_batches=loaded.evaluation,
            metric=loaded.metric, path=args.config, target=loaded.checked.target,
            setting_layers=args.setting_layers, model_name=args.model, progress=not args.no_progress))
    except TuneError as exc:
        raise CLIError(str(exc)) from None
    goal = outcome.goal
    label = goal.label(loaded.metric)
    stdout.write(f"{label}: {goal.score(outcome.before):.4f} -> {goal.score(outcome.after):.4f} "
                 f"(target {goal.at_least:.4f}: {'met' if outcome.met else 'not met'}; verified by quantizing the "
                 f"edited config)\n")
    for step in outcome.steps:
        stdout.write(f"  {step.candidate.layer}: {step.candidate.summary} ({step.reason})\n")
    if not outcome.steps:
        stdout.write("  no change\n")
    stdout.write(f"{outcome.quantizations} quantizations, {outcome.evaluations} evaluation passes, "
                 f"{outcome.seconds:.1f} s\n")
    if args.diff and outcome.edited != text:
        stdout.writelines(difflib.unified_diff(text.splitlines(keepends=True), outcome.edited.splitlines(keepends=True),
                                               args.config, f"{args.config} (tuned)"))
    if out is not None:
        outcome.report["config"]["path"] = report_path(args.config, out)
        write_report(outcome.report, text, out, stderr)
    if args.write and outcome.edited != text:
        _write(args.config, text, outcome.edited, document.has_bom, stderr)
    if not outcome.met:
        print(f"amct tune: the target is not met ({label} {goal.score(outcome.after):.4f}, expected at least "
              f"{goal.at_least:.4f})", file=stderr)
        return 1
    return 0


def _write(path: str, text: str, edited: str, bom: bool, stderr: TextIO) -> None:
    from cfglang.fsutil import WriteError, atomic_write

    prefix = "\ufeff" if bom else ""
    try:
        atomic_write(path, (prefix + edited).encode("utf-8"), expected=(prefix + text).encode("utf-8"))
    except WriteError as exc:
        raise CLIError(f"{exc}; the edit was not written") from None
    wrote(stderr, path, "the tuned config")
