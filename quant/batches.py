"""Calibration data files for ``amct quantize --data``.

- ``.pt`` (read with ``torch.load(..., weights_only=True)``): a list or tuple of batches (each a
  tensor, a tuple/list of tensors or a dict of tensors), or one tensor whose dim 0 indexes batches
  (``[batch_num, batch, ...]``).
- ``.npz``: arrays ``batch_0``, ``batch_1``, ... (one batch each, in numeric order), or a single
  array whose dim 0 indexes batches.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["BatchFileError", "load_batches"]


class BatchFileError(ValueError):
    """A calibration data file that cannot be read as batches."""


def load_batches(path: str | os.PathLike) -> list[Any]:
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
            return list(data.unbind(0))
        if isinstance(data, (list, tuple)) and data:
            return list(data)
        raise BatchFileError(f"`{p}` holds a `{type(data).__name__}`, expected a list of batches or a tensor "
                             f"of shape [batch_num, batch, ...]")
    if suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
        except Exception as exc:
            raise BatchFileError(f"cannot read `{p}` as an .npz archive: {type(exc).__name__}: {exc}") from None
        if len(arrays) == 1:
            (only,) = arrays.values()
            return [torch.from_numpy(np.ascontiguousarray(a)) for a in only]
        named = {int(m.group(1)): a for k, a in arrays.items() if (m := re.fullmatch(r"batch_(\d+)", k))}
        if len(named) != len(arrays) or sorted(named) != list(range(len(named))):
            raise BatchFileError(f"`{p}` has arrays {', '.join(f'`{k}`' for k in sorted(arrays))}, expected "
                                 f"`batch_0`, `batch_1`, ... or a single array")
        return [torch.from_numpy(named[i]) for i in range(len(named))]
    raise BatchFileError(f"`{p}` has suffix `{p.suffix}`, expected `.pt` or `.npz`")
