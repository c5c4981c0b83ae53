"""What ``quantize`` returns, and how it is saved.

``QuantResult.save(out_dir)`` writes ``record.txt``, ``config.json`` (AMCT's layout, from
``cfglang.plan.Plan.to_amct_json``), ``plan.json``, ``fake_quant_model.pt`` and ``model_qdq.onnx``,
and returns :class:`SavedOutputs`: what it wrote, and what it did not and why. It never overwrites an
existing file unless ``overwrite=True``. The files appear together or not at all: they are written
into a temporary folder inside the output folder (``.amct-save-PID-XXXX``), each synced to disk, and
only then renamed into place; a failure (a full disk, an interrupt, SIGTERM) before that leaves no
output file and no temporary folder (a later save removes those of killed runs).

The ONNX model is the one output that may be missing: ``onnx=False`` skips it, and where no export of
the model works (:class:`quant.onnx_export.ExportError`: an operator the exporter lacks, inputs it
cannot take) the other four files are still written and ``SavedOutputs.failed`` holds the one-line
cause. A ``model_qdq.onnx`` of an earlier save in the folder is then removed with the others' publication,
since it would not match the new record.

``fake_quant_model.pt`` holds plain data (the plan, the state dict), loadable with
``torch.load(..., weights_only=True)``; :func:`load_fake_quant_model` rebuilds the module from the
model factory and that file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cfglang.fsutil import os_reason, process_alive, signals_raise
from cfglang.plan import Plan
from cfglang.table import table_lines
from quant.binding import as_plan, attach_input_quantizers, layer_specs, placeholder_weights
from quant.fold import fold_pairs

__all__ = ["LayerResult", "QuantResult", "SavedOutputs", "OUTPUT_FILES", "OutputDirError", "check_output_dir", "load_fake_quant_model",
           "layer_table"]

OUTPUT_FILES = ("record.txt", "config.json", "plan.json", "fake_quant_model.pt", "model_qdq.onnx")
_ONNX = "model_qdq.onnx"


class OutputDirError(Exception):
    """The output folder cannot take the results: existing outputs, a file in the way, no permission."""


def check_output_dir(out_dir: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Fail early, before any calibration, when ``out_dir`` cannot receive the output files.

    The folder itself may be missing: then its closest existing ancestor must be
    a writable folder (``save`` creates the rest).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"cannot use `{out}` as the output folder: it is a file, expected a folder")
    for name in OUTPUT_FILES:  # `out/plan.json/` would only fail at the rename, after calibration
        if (out / name).is_dir():
            raise OutputDirError(f"cannot write `{out / name}`: it is a folder, expected a file or nothing")
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise OutputDirError(f"`{out}` already has {', '.join(f'`{n}`' for n in existing)}, expected no such files "
                             f"(pass overwrite=True, or --force, to replace them)")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputDirError(f"cannot create the output folder `{out}`: `{probe}` is a file, expected a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputDirError(f"cannot write into the output folder `{out}`: `{probe}` is not writable")
    return out
_FORMAT = "amct-cfg fake-quant model"
#: 2: quantized layers in place (parametrized weight, ``input_quantizer``); 1 had wrapper modules
_FORMAT_VERSION = 2


@dataclass(frozen=True, slots=True)
class SavedOutputs:
    """What ``QuantResult.save`` did with each of the ``OUTPUT_FILES``."""

    written: dict[str, Path]  # name -> path, in the order of OUTPUT_FILES
    skipped: tuple[str, ...] = ()  # not asked for (``onnx=False``)
    failed: dict[str, str] = field(default_factory=dict)  # name -> why it could not be written (one line)


@dataclass(frozen=True, slots=True)
class LayerResult:
    """Per-layer outcome: the parameters and how much the layer's weight and output moved."""

    name: str
    type: str
    weight_algo: str | None
    weight_bits: int | None
    channel_wise: bool | None
    activation_algo: str
    asymmetric: bool
    scale_d: float
    offset_d: int
    clip_min: float
    clip_max: float
    scale_w: tuple[float, ...]
    weight_sqnr_db: float | None
    output_cosine: float | None  # layer output, fake-quant vs float, on the first calibration batch (`layer_cosines`)
    activation_bits: int = 8


@dataclass(frozen=True, eq=False)
class QuantResult:
    model: nn.Module
    record: str
    layers: tuple[LayerResult, ...]
    plan: Plan  # as the engine was given it (a plan JSON dict read with ``Plan.from_dict``)
    example_inputs: Any = None
    balance_factors: Mapping[str, torch.Tensor] = field(default_factory=dict)

    def layer(self, name: str) -> LayerResult:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no quantized layer `{name}`")

    def amct_config(self) -> dict[str, Any]:
        return self.plan.to_amct_json()

    def fake_quant_payload(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "plan": self.plan.to_dict(),
            "balance_channels": {name: int(f.numel()) for name, f in self.balance_factors.items()},
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
        }

    def fake_quant_bytes(self) -> bytes:
        """``fake_quant_payload`` as ``torch.save`` writes it (in memory: a full disk is then an OSError)."""
        import io

        buffer = io.BytesIO()
        torch.save(self.fake_quant_payload(), buffer)
        return buffer.getvalue()

    def onnx_bytes(self, example_inputs: Any = None) -> bytes:
        """The QDQ ONNX model (``quant.onnx_export.export_qdq``); :class:`ExportError` when none can be made."""
        from quant.onnx_export import ExportError, export_qdq

        inputs = self.example_inputs if example_inputs is None else example_inputs
        if inputs is None:
            raise ExportError("no example inputs to trace the model with: pass `example_inputs`")
        return export_qdq(self.model, inputs)

    def save(self, out_dir: str | os.PathLike, example_inputs: Any = None, *, overwrite: bool = False,
             onnx: bool = True) -> SavedOutputs:
        """Write the output files into ``out_dir`` (created if needed); ``onnx=False`` skips the ONNX model."""
        from quant.onnx_export import ExportError

        out = check_output_dir(out_dir, overwrite=overwrite)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputDirError(f"cannot create the output folder `{out}`: {os_reason(exc)}") from None
        contents: dict[str, Callable[[], bytes]] = {
            "record.txt": lambda: self.record.encode("utf-8"),
            "config.json": lambda: (json.dumps(self.amct_config(), indent=2) + "\n").encode("utf-8"),
            "plan.json": lambda: (json.dumps(self.plan.to_dict(), indent=2) + "\n").encode("utf-8"),
            "fake_quant_model.pt": self.fake_quant_bytes,
            _ONNX: lambda: self.onnx_bytes(example_inputs),
        }
        skipped = () if onnx else (_ONNX,)
        failed: dict[str, str] = {}
        _remove_stray_folders(out)
        with signals_raise():  # SIGTERM/SIGHUP raise, so that `finally` removes the temporary folder
            try:
                staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=out))
            except OSError as exc:
                raise OutputDirError(f"cannot write into the output folder `{out}`: {os_reason(exc)}") from None
            try:
                for name, content in contents.items():
                    if name in skipped:
                        continue
                    try:
                        data = content()
                    except ExportError as exc:
                        failed[name] = f"the ONNX export failed: {exc}"
                        continue
                    (staging / name).write_bytes(data)
                    _fsync(staging / name)
                written = [name for name in OUTPUT_FILES if name not in skipped and name not in failed]
                check_output_dir(out, overwrite=overwrite)  # nothing appeared in the way meanwhile
                for name in OUTPUT_FILES:  # a file of an earlier save that this one does not replace
                    if name not in written and (out / name).exists():
                        os.remove(out / name)
                for name in written:  # publish: renames in one folder, after everything is written
                    os.replace(staging / name, out / name)
                _fsync(out)
            except OSError as exc:
                raise OutputDirError(f"cannot write the outputs into `{out}`: {os_reason(exc)}; no output file "
                                     f"was written") from None
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return SavedOutputs({name: out / name for name in written}, skipped, failed)

    def table(self) -> str:
        return layer_table(self.layers)


_STAGING = ".amct-save-"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stray_folders(out: Path) -> None:
    """Temporary folders of saves whose process is gone (killed before its cleanup ran)."""
    for stray in out.glob(f"{_STAGING}*"):
        pid = stray.name[len(_STAGING):].split("-", 1)[0]
        if stray.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(stray, ignore_errors=True)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def layer_table(layers: tuple[LayerResult, ...]) -> str:
    """A fixed-width table: name, type, weight algo and bits, activation algo, scale_d, offset_d,
    weight SQNR (dB) and the layer output's cosine against float."""
    rows = [("layer", "type", "weight", "activation", "scale_d", "offset_d", "sqnr_db", "cosine")]
    for r in layers:
        weight = f"{r.weight_algo} {r.weight_bits}b{' per-ch' if r.channel_wise else ''}" if r.weight_algo else "-"
        wide = f" {r.activation_bits}b" if r.activation_bits != 8 else ""  # INT16 (A16W8); INT8 rows as before
        act = f"{r.activation_algo}{wide} {'asym' if r.asymmetric else 'sym'}"
        rows.append((r.name, r.type, weight, act, f"{r.scale_d:.6g}", str(r.offset_d),
                     _fmt(r.weight_sqnr_db, ".1f"), _fmt(r.output_cosine, ".5f")))
    lines = table_lines(rows, rule=True)
    return "\n".join(lines) + "\n"


def load_fake_quant_model(path: str | os.PathLike, factory: Callable[[], nn.Module] | nn.Module) -> nn.Module:
    """Rebuild the fake-quant model: a fresh float model from ``factory`` (or a module, which is
    modified), BatchNorm pairs of the plan folded, each quantized layer given its parametrized weight and
    input quantizer (:mod:`quant.fakequant`), then the saved state loaded."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"`{path}` is not a fake-quant model written by `QuantResult.save`")
    if payload.get("version") != _FORMAT_VERSION:
        raise ValueError(f"`{path}` is a fake-quant model of format version {payload.get('version')}, expected "
                         f"{_FORMAT_VERSION}: it was written by an earlier amct-cfg, quantize the model again")
    model = factory if isinstance(factory, nn.Module) else factory()
    model.eval()
    plan = as_plan(payload["plan"])
    specs = layer_specs(model, plan)
    if plan.do_fusion:
        fold_pairs(model, plan.fusions)
    placeholder_weights(model, specs)
    attach_input_quantizers(model, specs, payload.get("balance_channels", {}))
    model.load_state_dict(payload["state_dict"], strict=True)
    return model.eval()
