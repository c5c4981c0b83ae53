"""Standard ONNX QDQ export of a fake-quant model (AMCT writes its own ONNX; ours is plain QDQ).

Activations become ``QuantizeLinear``/``DequantizeLinear`` with int8 zero point ``offset_d``; weights
are int8 initializers feeding ``DequantizeLinear`` (per axis when channel-wise, opset 13). Uses the
TorchScript exporter (``dynamo=False``), which honours the ``symbolic`` of quant.fakequant's
functions; the batch dimension of every input and output is dynamic.

A model with 4-bit weights or 16-bit activations needs opset 21, the first whose QuantizeLinear /
DequantizeLinear take int4 and int16. The TorchScript exporter stops at opset 20, so such a model is
exported at 20 (16-bit layers' zero points already int16, from their buffers), converted to 21 by
``onnx.version_converter``, and the 4-bit layers' weight codes and zero points are retyped from int8
to int4 initializers. All-8-bit models (6- and 7-bit weights included: their codes are int8) stay at
opset 13, byte for byte as before.

ONNX Runtime's default CPU graph optimizations compute a QDQ model with integer kernels where they
can, which is not what the fake-quant model computes: ``WeightBiasQuantization`` rounds a Conv's float
bias to int32 at ``scale_d * scale_w``, which lets int8 QDQ Convs become ``QLinearConv`` (the demo's
CNN with HFMG: 97.4% top-1 in ONNX Runtime, 99.4% in the fake-quant model); a ``DequantizeLinear`` of int4
weights and the ``MatMul`` after it become ``MatMulNBits``, which by default
(``session.qdq_matmulnbits_accuracy_level`` 4) quantizes the activations to int8 on the fly (an error
of about 1e-2 of the output). ``onnx_session(..., exact=True)`` turns both off, and ONNX Runtime then
computes what the fake-quant model does (to float32 rounding); the default keeps ONNX Runtime's own
behaviour, what a user of the exported model gets.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["OPSET", "WIDE_OPSET", "export_qdq", "onnx_session", "run_onnx"]

#: the opset of all-8-bit models
OPSET = 13
#: the opset of models with int4 weights or int16 activations (QuantizeLinear-21 / DequantizeLinear-21)
WIDE_OPSET = 21
#: the newest opset the TorchScript exporter writes; wide models are converted from it to WIDE_OPSET
_EXPORT_OPSET = 20


def _args(batch: Any) -> tuple[tuple[Any, ...], dict[str, Any], list[str]]:
    if isinstance(batch, Mapping):
        return (), dict(batch), list(batch)
    if isinstance(batch, (tuple, list)):
        return tuple(batch), {}, [f"input_{i}" for i in range(len(batch))]
    return (batch,), {}, ["input"]


def _widths(model: nn.Module) -> tuple[set[str], bool]:
    """The names of the 4-bit layers' weight-code buffers, and whether any layer has 16-bit activations."""
    int4, int16 = set(), False
    for name, module in model.named_modules():
        int16 = int16 or getattr(module, "act_bits", 8) == 16
        if getattr(module, "weight_bits", 8) == 4 and hasattr(module, "weight_codes"):
            int4.add(f"{name}.weight_codes" if name else "weight_codes")
    return int4, int16


def export_qdq(model: nn.Module, example_inputs: Any) -> bytes:
    """The serialized ONNX model of ``model`` traced on ``example_inputs`` (one batch): opset 13, or 21
    when a layer has 4-bit weights or 16-bit activations."""
    args, kwargs, names = _args(example_inputs)
    int4, int16 = _widths(model)
    wide = bool(int4) or int16
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(), args, buffer, kwargs=kwargs or None, dynamo=False,
            opset_version=_EXPORT_OPSET if wide else OPSET, input_names=names, output_names=["output"],
            dynamic_axes={**{n: {0: "batch"} for n in names}, "output": {0: "batch"}},
        )
    return _widen(buffer.getvalue(), int4) if wide else buffer.getvalue()


def _widen(model_bytes: bytes, int4_codes: set[str]) -> bytes:
    """Convert an opset-20 export to opset 21 and retype the weight codes named in ``int4_codes`` (and
    their zero points) to int4."""
    import onnx
    from onnx import version_converter

    proto = version_converter.convert_version(onnx.load_from_string(model_bytes), WIDE_OPSET)
    graph = proto.graph
    found, detached = set(), set()
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in int4_codes:
            found.add(node.input[0])
            for index in (0, 2):
                detached.add(node.input[index])
                node.input[index] = _int4_copy(graph, node.input[index])
    if found != int4_codes:
        missing = ", ".join(f"`{n}`" for n in sorted(int4_codes - found))
        raise RuntimeError(f"the ONNX export has no DequantizeLinear of {missing}, expected one per 4-bit layer")
    _prune(graph, detached)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _int4_copy(graph, name: str) -> str:
    """A new int4 initializer holding the int8 values that ``name`` (an initializer, or the output of a
    chain of Identity nodes from one: the exporter shares equal initializers that way) holds."""
    from onnx import TensorProto, helper, numpy_helper

    producers = {out: node for node in graph.node for out in node.output}
    initializers = {i.name: i for i in graph.initializer}
    source = name
    while source not in initializers:
        node = producers.get(source)
        if node is None or node.op_type != "Identity":
            raise RuntimeError(f"the ONNX export computes `{name}`, expected an int8 initializer")
        source = node.input[0]
    values = numpy_helper.to_array(initializers[source])
    if values.size and (values.min() < -8 or values.max() > 7):
        raise RuntimeError(f"the ONNX initializer `{source}` holds values outside int4's [-8, 7]")
    new = f"{name}.int4"
    while new in initializers or new in producers:
        new += "_"
    graph.initializer.append(helper.make_tensor(new, TensorProto.INT4, values.shape, values.reshape(-1).tolist()))
    return new


def _prune(graph, detached: set[str]) -> None:
    """Drop the Identity nodes and initializers behind ``detached`` names that nothing reads any more."""
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    pending = set(detached)
    while pending:
        name = pending.pop()
        if name in used:
            continue
        for node in [n for n in graph.node if n.op_type == "Identity" and name in n.output]:
            graph.node.remove(node)
            used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
            pending.add(node.input[0])
        for init in [i for i in graph.initializer if i.name == name]:
            graph.initializer.remove(init)


def onnx_session(model_bytes: bytes, *, exact: bool = False):
    """An ONNX Runtime CPU session: ONNX Runtime's defaults, or with ``exact`` without the integer
    rewrites that change what a QDQ model computes (see the module docstring)."""
    import onnxruntime as ort

    if not exact:
        return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    options = ort.SessionOptions()
    options.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "1")  # float32
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=["WeightBiasQuantization"])


def run_onnx(session, batch: Any) -> np.ndarray:
    """The first output of an ONNX Runtime session on one batch (tensors or arrays)."""
    args, kwargs, names = _args(batch)
    values = list(args) + list(kwargs.values())
    feed = {inp.name: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
            for inp, v in zip(session.get_inputs(), values)}
    return session.run(None, feed)[0]
