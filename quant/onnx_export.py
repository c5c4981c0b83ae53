"""Standard ONNX QDQ export of a fake-quant model (AMCT writes its own ONNX; ours is plain QDQ).

Activations become ``QuantizeLinear``/``DequantizeLinear`` with int8 zero point ``offset_d``; weights
are int8 initializers feeding ``DequantizeLinear`` (per axis when channel-wise, opset 13). The
TorchScript exporter (``dynamo=False``, through the symbolics quant.fakequant registers for its custom
operators) comes first: opset 13, or 20 for an operator 13 lacks. Where it cannot export the model
(``nn.MultiheadAttention``'s fused fast path, ``scaled_dot_product_attention`` with grouped-query
attention, as in Llama, Qwen2 and Mistral), the ``torch.export``-based exporter (``dynamo=True``, the
custom operators through :func:`quant.fakequant.onnx_translations`, needs ``onnxscript``) writes opset
20, with the exporter's graph optimizations (constant folding, no change to the quantize/dequantize
nodes: the weights stay int8 initializers). The batch dimension of every input and output is dynamic, and so is the sequence dimension of
token inputs (integer inputs of two or more dimensions) and of the outputs of that length, except
where ``torch.export`` specializes them (then they are the example batch's).

A model with 4-bit weights or 16-bit activations needs opset 21, the first whose QuantizeLinear /
DequantizeLinear take int4 and int16. The TorchScript exporter stops at opset 20, so such a model is
exported at 20 (by either exporter; 16-bit layers' zero points already int16, from their buffers), converted to 21 by
``onnx.version_converter``, and the 4-bit layers' weight codes and zero points are retyped from int8
to int4 initializers. All-8-bit models (6- and 7-bit weights included: their codes are int8) stay at
opset 13, byte for byte as before.

ONNX Runtime's default CPU graph optimizations compute a QDQ model with integer kernels where they
can, which is not what the fake-quant model computes: ``WeightBiasQuantization`` rounds a Conv's float
bias to int32 at ``scale_d * scale_w``, which lets int8 QDQ Convs become ``QLinearConv`` (the demo's
CNN with HFMG: 97.4% top-1 in ONNX Runtime, 99.4% in the fake-quant model; the cause is the integer
kernel's saturation of 8-bit weight products on an AVX2 CPU: with 7-bit Conv weights it agrees, 99.4%);
a ``DequantizeLinear`` of int4
weights and the ``MatMul`` after it become ``MatMulNBits``, which by default
(``session.qdq_matmulnbits_accuracy_level`` 4) quantizes the activations to int8 on the fly (an error
of about 1e-2 of the output); a ``DequantizeLinear`` of int8 weights and a ``MatMul`` of a 3-D input
(a ``Linear`` on a sequence) become ``MatMulIntegerToFloat``, whose integer kernel differs from the
float product by up to 0.2 of an output in a small model (cosine 0.987). ``onnx_session(..., exact=True)``
turns these off, and ONNX Runtime then computes what the fake-quant model does (to float32 rounding);
the default keeps ONNX Runtime's own behaviour, what a user of the exported model gets.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from quant.core import batch_arguments, output_tensors, quiet
from quant.fakequant import WEIGHT_CODES, InputQuantizer, onnx_translations, weight_dequantizer

__all__ = ["OPSET", "WIDE_OPSET", "ExportError", "export_qdq", "onnx_session", "run_onnx"]

#: the opset of all-8-bit models
OPSET = 13
#: the opset of models with int4 weights or int16 activations (QuantizeLinear-21 / DequantizeLinear-21)
WIDE_OPSET = 21
#: the newest opset the TorchScript exporter writes; wide models are converted from it to WIDE_OPSET
_EXPORT_OPSET = 20


def _args(batch: Any) -> tuple[tuple[Any, ...], dict[str, Any], list[str]]:
    args, kwargs = batch_arguments(batch)
    if isinstance(batch, Mapping):
        return args, kwargs, list(kwargs)
    return args, kwargs, [f"input_{i}" for i in range(len(args))] if isinstance(batch, (tuple, list)) else ["input"]


def _widths(model: nn.Module) -> tuple[set[str], bool]:
    """The state-dict names of the 4-bit layers' weight codes, and whether any layer has 16-bit activations."""
    int4, int16 = set(), False
    for name, module in model.named_modules():
        int16 = int16 or (isinstance(module, InputQuantizer) and module.bits == 16)
        dequantizer = weight_dequantizer(module)
        if dequantizer is not None and dequantizer.bits == 4:
            int4.add(f"{name}.{WEIGHT_CODES}" if name else WEIGHT_CODES)
    return int4, int16


class ExportError(Exception):
    """No ONNX export of the model works; the message is one line naming the cause (an operator the
    exporter does not support, or what it could not do with the inputs or outputs)."""


def export_qdq(model: nn.Module, example_inputs: Any) -> bytes:
    """The serialized ONNX model of ``model`` traced on ``example_inputs`` (one batch): opset 13, or 21
    when a layer has 4-bit weights or 16-bit activations; an all-8-bit model with an operator that opset
    13 lacks (``aten::scaled_dot_product_attention``) is exported at opset 20 instead, and one that the
    TorchScript exporter cannot take by the ``torch.export``-based exporter at opset 20.

    A dict batch is passed by keyword, each key becoming an input of the ONNX model in the batch's
    order; an output that is not a tensor or a tuple of tensors (a ``transformers`` ``ModelOutput``
    with its cache) is exported as its tensors, named by their keys. What the exporter prints and warns
    is dropped; a failure raises :class:`ExportError`."""
    module, args, names, outputs, axes = _traceable(model.eval(), example_inputs)
    int4, int16 = _widths(module)
    wide = bool(int4) or int16
    causes: list[str] = []
    exported = _torchscript_export(module, args, names, outputs, axes, wide, causes)
    if exported is None:
        exported = _dynamo_export(module, args, names, outputs, axes, causes)
    if exported is None:
        raise ExportError("; ".join(causes))
    return _widen(exported, int4) if wide else exported


def _torchscript_export(module: nn.Module, args: tuple[Any, ...], names: list[str], outputs: list[str],
                        axes: dict[str, dict[int, str]], wide: bool, causes: list[str]) -> bytes | None:
    """The TorchScript exporter at opset 13, then 20 for an operator 13 lacks (wide models: 20 only)."""
    for opset in (_EXPORT_OPSET,) if wide else (OPSET, _EXPORT_OPSET):
        buffer = io.BytesIO()
        try:
            with torch.no_grad(), quiet():
                torch.onnx.export(
                    module, args, buffer, dynamo=False, opset_version=opset, input_names=names,
                    output_names=outputs, dynamic_axes=axes,
                )
        except torch.onnx.errors.UnsupportedOperatorError as exc:  # a newer opset may have it
            causes.append(_cause(exc, opset))
        except Exception as exc:
            causes.append(_cause(exc, opset))
            return None
        else:
            return buffer.getvalue()
    return None


def _dynamo_export(module: nn.Module, args: tuple[Any, ...], names: list[str], outputs: list[str],
                   axes: dict[str, dict[int, str]], causes: list[str]) -> bytes | None:
    """The ``torch.export``-based exporter at opset 20 (the custom operators through
    :func:`quant.fakequant.onnx_translations`), with the dynamic dimensions of :func:`_dynamic_axes`, or
    fixed ones where ``torch.export`` cannot keep them dynamic."""
    try:
        translations = onnx_translations()
    except ImportError:
        causes.append("the `torch.export`-based exporter needs the package `onnxscript`, which is not installed")
        return None
    for dynamic in (True, False):
        try:
            with torch.no_grad(), quiet():
                program = torch.onnx.export(
                    module, args, dynamo=True, opset_version=_EXPORT_OPSET, input_names=names, output_names=outputs,
                    dynamic_axes=axes if dynamic else None,
                    custom_translation_table=translations, verbose=False,
                )
            return program.model_proto.SerializeToString()
        except Exception as exc:
            if not dynamic:
                causes.append(_short(f"torch.export-based exporter: {_first_line(exc)}"))
    return None


def _cause(exc: BaseException, opset: int) -> str:
    """One line from a TorchScript exporter failure, naming the operator where the message does (the
    exporter appends the whole TorchScript graph to its messages)."""
    first = _first_line(exc)
    unsupported = re.search(r"operator '([\w:.]+)' to ONNX opset version", first)
    if unsupported:
        return f"the operator `{unsupported[1]}` is not supported at opset {opset}"
    node = re.search(r"The containing node has kind '([\w:.]+)'", str(exc))
    where = f"`{node[1]}` at opset {opset}" if node else f"at opset {opset}"
    return _short(f"{where}: {first}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _short(line: str) -> str:
    return line if len(line) <= 300 else line[:297] + "..."


class _KeywordCall(nn.Module):
    """The model called with its last inputs by keyword (``keys``), the others by position, returning
    the output's tensors as a tuple (those named ``names`` by :func:`quant.core.output_tensors`)."""

    def __init__(self, model: nn.Module, keys: list[str], names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.keys = keys
        self.names = names

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        split = len(args) - len(self.keys)
        tensors = dict(output_tensors(self.model(*args[:split], **dict(zip(self.keys, args[split:])))))
        return tuple(tensors[name] for name in self.names)


def _traceable(model: nn.Module, batch: Any) -> tuple[nn.Module, tuple[Any, ...], list[str], list[str],
                                                      dict[str, dict[int, str]]]:
    """What the exporter is given: the module, its positional inputs, the input and output names, and
    the dynamic dimensions of each (:func:`_dynamic_axes`).

    A model taking tensors and returning a tensor or a tuple of them is exported as it is (the first
    output named ``output``); a dict batch or another output goes through :class:`_KeywordCall`."""
    args, kwargs, names = _args(batch)
    try:
        with torch.no_grad(), quiet():
            output = model(*args, **kwargs)
    except Exception as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise ExportError(f"the model fails on the example inputs: {lines[0]}") from None
    inputs = (*args, *kwargs.values())
    plain = isinstance(output, torch.Tensor) or (
        isinstance(output, tuple) and all(isinstance(o, torch.Tensor) for o in output))
    if plain and not kwargs:
        first = output if isinstance(output, torch.Tensor) else output[0]
        return model, args, names, ["output"], _dynamic_axes(inputs, names, [("output", first)])
    tensors = list(output_tensors(output))
    if not tensors:
        raise ExportError(f"the model returns no tensor ({type(output).__name__}), expected at least one")
    outputs = [name for name, _ in tensors]
    # in eval mode as the model is: the exporter puts the module it is given back in its mode, recursively
    return (_KeywordCall(model, list(kwargs), outputs).eval(), inputs, names, outputs,
            _dynamic_axes(inputs, names, tensors))


def _dynamic_axes(inputs: tuple[Any, ...], names: list[str],
                  outputs: list[tuple[str, torch.Tensor]]) -> dict[str, dict[int, str]]:
    """Dimension 0 of every input and output is the batch. Dimension 1 of an integer input of two or
    more dimensions (token ids, an attention mask) is the sequence, and so is dimension 1 of an output
    of that length, when the integer inputs have one length."""
    def integer(t: Any) -> bool:
        return isinstance(t, torch.Tensor) and t.dim() >= 2 and not t.is_floating_point() and not t.is_complex()

    lengths = {t.shape[1] for t in inputs if integer(t)}
    axes = {}
    for name, tensor in zip(names, inputs):
        if isinstance(tensor, torch.Tensor) and tensor.dim() >= 1:
            axes[name] = {0: "batch", 1: "sequence"} if integer(tensor) and len(lengths) == 1 else {0: "batch"}
    for name, tensor in outputs:
        if tensor.dim() >= 1:
            sequence = len(lengths) == 1 and tensor.dim() >= 2 and tensor.shape[1] in lengths
            axes[name] = {0: "batch", 1: "sequence"} if sequence else {0: "batch"}
    return axes


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
                                disabled_optimizers=["WeightBiasQuantization", "QDQSelectorActionTransformer"])


def run_onnx(session, batch: Any) -> np.ndarray:
    """The first output of an ONNX Runtime session on one batch (tensors or arrays)."""
    args, kwargs, names = _args(batch)
    values = list(args) + list(kwargs.values())
    feed = {inp.name: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
            for inp, v in zip(session.get_inputs(), values)}
    return session.run(None, feed)[0]
