"""What ``amct quantize`` and ``amct demo`` share: the output folder, checked before any work, and how the
output files of ``QuantResult.save`` are announced."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from amct_cli import CLIError, warning_line, wrote

if TYPE_CHECKING:
    from quant.result import SavedOutputs

__all__ = ["OUTPUT_DESCRIPTIONS", "report_outputs", "output_dir"]

#: each output file of ``QuantResult.save`` (``quant.result.OUTPUT_FILES``) and what reads it; docs/cli.md
#: says the same at more length
OUTPUT_DESCRIPTIONS: dict[str, str] = {
    "record.txt": "AMCT's record file (each layer's scales and offsets)",
    "config.json": "AMCT's quantization config (its config.json layout)",
    "plan.json": "the resolved per-layer plan (`quant.quantize` reads it)",
    "fake_quant_model.pt": "the fake-quant model's data (load with `quant.load_fake_quant_model`)",
    "model_qdq.onnx": "the QDQ ONNX model (runs in ONNX Runtime)",
}


def report_outputs(saved: SavedOutputs, stderr: TextIO, command: str) -> None:
    """One ``wrote PATH: WHAT`` line per output file written, ``amct COMMAND: NAME not written: not asked
    for`` per file skipped, and one warning line per file that could not be written, with the cause."""
    for name, path in saved.written.items():
        wrote(stderr, path, OUTPUT_DESCRIPTIONS.get(name, "output"))
    for name in saved.skipped:
        print(f"amct {command}: {name} not written: not asked for", file=stderr)
    for name, cause in saved.failed.items():
        print(warning_line(command, f"{name} not written: {cause}"), file=stderr)


def output_dir(path: str | os.PathLike, force: bool) -> Path:
    """The output folder, checked before any work: a one-line failure when it cannot take the outputs,
    and existing outputs need ``--force`` (the message names the option, not the Python argument)."""
    from quant.result import OUTPUT_FILES, OutputDirError, check_output_dir

    existing = [name for name in OUTPUT_FILES if (Path(path) / name).exists()]
    if existing and not force:
        raise CLIError(f"`{os.fspath(path)}` already has {', '.join(f'`{n}`' for n in existing)}; pass `--force` "
                       f"to overwrite them")
    try:
        return check_output_dir(path, overwrite=force)
    except OutputDirError as exc:
        raise CLIError(str(exc)) from None
