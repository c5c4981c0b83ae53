"""Calibration data files for ``amct quantize --data``, and what to say when a batch does not fit the model.

- ``.pt`` (read with ``torch.load(..., weights_only=True)``): a list or tuple of batches (each a
  tensor, a tuple/list of tensors or a dict of tensors), or one tensor whose dim 0 indexes batches
  (``[batch_num, batch, ...]``).
- ``.npz``: arrays ``batch_0``, ``batch_1``, ... (one batch each, in numeric order), or a single
  array whose dim 0 indexes batches.

A single tensor or array is split along dim 0, which a reader may not expect (a ``[4, 20]`` tensor is
4 batches of shape ``[20]``, not one batch of 4 samples): :func:`read_batches` says that it split, so
the command line can say what it understood. A single 1-D tensor is refused: its batches would be
single numbers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["BatchFileError", "BatchFile", "BatchFailure", "read_batches", "load_batches", "describe_batch",
           "locate_failure", "FORMATS"]

#: the forms ``--data`` accepts, for messages that refuse a file
FORMATS = ("a `.pt` file holding a list of batches (`torch.save([batch_0, batch_1, ...], path)`; a batch is a "
           "tensor, a tuple of tensors or a dict of tensors), or an `.npz` file with arrays `batch_0`, `batch_1`, ...")


class BatchFileError(ValueError):
    """A calibration data file that cannot be read as batches."""


@dataclass(frozen=True)
class BatchFile:
    """The batches of a data file; ``split``: the file held one tensor, split along dim 0 into the batches."""

    batches: list[Any]
    split: bool


def load_batches(path: str | os.PathLike) -> list[Any]:
    """The batches of a ``--data`` file (see the module text)."""
    return read_batches(path).batches


def read_batches(path: str | os.PathLike) -> BatchFile:
    p = Path(path)
    if not p.is_file():
        raise BatchFileError(f"cannot read `{p}`: no such file")
    suffix = p.suffix.lower()
    if suffix == ".pt":
        try:
            data = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise BatchFileError(f"cannot read `{p}` as a torch file: {type(exc).__name__}: {exc}") from None
        if isinstance(data, torch.Tensor):
            return BatchFile(_split(p, data), split=True)
        if isinstance(data, (list, tuple)) and data:
            return BatchFile(list(data), split=False)
        raise BatchFileError(f"`{p}` holds {_what(data)}, expected {FORMATS}")
    if suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
        except Exception as exc:
            raise BatchFileError(f"cannot read `{p}` as an .npz archive: {type(exc).__name__}: {exc}") from None
        if len(arrays) == 1:
            (only,) = arrays.values()
            return BatchFile(_split(p, torch.from_numpy(np.ascontiguousarray(only))), split=True)
        named = {int(m.group(1)): a for k, a in arrays.items() if (m := re.fullmatch(r"batch_(\d+)", k))}
        if len(named) != len(arrays) or sorted(named) != list(range(len(named))):
            raise BatchFileError(f"`{p}` has arrays {', '.join(f'`{k}`' for k in sorted(arrays))}, expected "
                                 f"`batch_0`, `batch_1`, ... or a single array")
        return BatchFile([torch.from_numpy(named[i]) for i in range(len(named))], split=False)
    raise BatchFileError(f"`{p}` has suffix `{p.suffix}`, expected `.pt` or `.npz`")


def _what(data: Any) -> str:
    if isinstance(data, (list, tuple)):
        return f"an empty `{type(data).__name__}`"
    return f"a `{type(data).__name__}`"


def _split(path: Path, tensor: torch.Tensor) -> list[torch.Tensor]:
    """A single tensor's batches along dim 0; a tensor of fewer than 2 dimensions has none that make sense."""
    if tensor.dim() < 2:
        raise BatchFileError(f"`{path}` holds one tensor of shape {_shape(tensor)}, whose dim 0 would give batches "
                             f"of single numbers; expected {FORMATS}, or one tensor of shape "
                             f"[batch_num, batch, ...]")
    return list(tensor.unbind(0))


def _shape(tensor: torch.Tensor) -> str:
    return "[" + ", ".join(str(n) for n in tensor.shape) + "]"


def describe_batch(batch: Any) -> str:
    """``[64, 1, 8, 8]``, ``([64, 3], [64])``, ``{input_ids: [8, 16], mask: [8, 16]}``."""
    if isinstance(batch, torch.Tensor):
        return _shape(batch)
    if isinstance(batch, Mapping):
        return "{" + ", ".join(f"{k}: {describe_batch(v)}" for k, v in batch.items()) + "}"
    if isinstance(batch, (tuple, list)):
        return "(" + ", ".join(describe_batch(v) for v in batch) + ("," if len(batch) == 1 else "") + ")"
    return f"`{type(batch).__name__}`"


@dataclass(frozen=True)
class BatchFailure:
    """The first batch the float model fails on, and the innermost layer that was running."""

    index: int
    batch: str  # its shape, as describe_batch gives it
    layer: str  # "" for the model's own forward
    layer_type: str
    error: BaseException

    def __str__(self) -> str:
        where = (f"in layer `{self.layer}` (`{self.layer_type}`)" if self.layer else
                 f"in the model's own forward (`{self.layer_type}`)")
        message = " ".join(str(self.error).split())  # one line
        return (f"calibration batch {self.index} (shape {self.batch}) does not fit the model: {where}: "
                f"{type(self.error).__name__}: {message}")


def locate_failure(model: nn.Module, batches: Sequence[Any]) -> BatchFailure | None:
    """Run ``model`` on each batch in turn, as the engine calls it; the first failure, or None when all run.

    Forward pre-hooks and hooks keep the stack of modules entered and not yet left; when a forward
    raises, the top of that stack is the innermost layer that raised (a hook does not run for a module
    whose forward raised, so its entry stays)."""
    from quant.core import class_name, run_batch

    stack: list[str] = []

    def enter(name: str):
        def hook(_module: nn.Module, _args: Any) -> None:
            stack.append(name)
        return hook

    def leave(_module: nn.Module, _args: Any, _out: Any) -> None:
        stack.pop()

    handles = []
    try:
        for name, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(enter(name)))
            handles.append(module.register_forward_hook(leave))
        with torch.inference_mode():
            for index, batch in enumerate(batches):
                stack.clear()
                try:
                    run_batch(model, batch)
                except Exception as exc:
                    layer = stack[-1] if stack else ""
                    return BatchFailure(index, describe_batch(batch), layer,
                                        class_name(model.get_submodule(layer)), exc)
    finally:
        for handle in handles:
            handle.remove()
    return None
