"""Standard ONNX QDQ export of a fake-quant model (SPEC section 9).

Activations become ``QuantizeLinear``/``DequantizeLinear`` with int8 zero point ``offset_d``; weights
are int8 initializers feeding ``DequantizeLinear`` (per axis when channel-wise, opset 13). Uses the
TorchScript exporter (``dynamo=False``), which honours the ``symbolic`` of quant.fakequant's
functions; the batch dimension of every input and output is dynamic.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["OPSET", "export_qdq", "onnx_session", "run_onnx"]

OPSET = 13


def _args(batch: Any) -> tuple[tuple[Any, ...], dict[str, Any], list[str]]:
    if isinstance(batch, Mapping):
        return (), dict(batch), list(batch)
    if isinstance(batch, (tuple, list)):
        return tuple(batch), {}, [f"input_{i}" for i in range(len(batch))]
    return (batch,), {}, ["input"]


def export_qdq(model: nn.Module, example_inputs: Any) -> bytes:
    """The serialized ONNX model of ``model`` traced on ``example_inputs`` (one batch)."""
    args, kwargs, names = _args(example_inputs)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(), args, buffer, kwargs=kwargs or None, dynamo=False, opset_version=OPSET,
            input_names=names, output_names=["output"],
            dynamic_axes={**{n: {0: "batch"} for n in names}, "output": {0: "batch"}},
        )
    return buffer.getvalue()


def onnx_session(model_bytes: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def run_onnx(session, batch: Any) -> np.ndarray:
    """The first output of an ONNX Runtime session on one batch (tensors or arrays)."""
    args, kwargs, names = _args(batch)
    values = list(args) + list(kwargs.values())
    feed = {inp.name: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
            for inp, v in zip(session.get_inputs(), values)}
    return session.run(None, feed)[0]
