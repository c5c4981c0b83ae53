"""What every part of the engine needs: the typed per-layer specs, the engine's error, what a weight
algorithm is given, running a batch and forward hooks. The bottom of :mod:`quant`: it imports no other
module of the package.

A plan (``cfglang.Plan``) becomes one :class:`LayerSpec` per quantized layer (:mod:`quant.binding`):
the weight settings are an :class:`ARQSpec` or an :class:`AdaRoundSpec`, the activation settings an
:class:`IFMRSpec` or an :class:`HFMGSpec`, DMQ a :class:`DMQSpec`. The engine finds each algorithm by
its spec's type (``quant.engine.WEIGHT_ALGOS``, ``quant.calibrators.CALIBRATORS``).

Parameters a spec is built without take the config schema's defaults (:func:`cfglang.plan.parameter_defaults`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import sys
import tempfile
import warnings
import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from cfglang.float32 import as_float32
from cfglang.plan import ActivationPlan, DMQPlan, WeightPlan, parameter_defaults

__all__ = [
    "QuantizeError",
    "ARQSpec",
    "AdaRoundSpec",
    "IFMRSpec",
    "HFMGSpec",
    "DMQSpec",
    "WeightSpec",
    "ActivationSpec",
    "WEIGHT_SPECS",
    "ACTIVATION_SPECS",
    "LayerSpec",
    "WeightContext",
    "batch_arguments",
    "run_batch",
    "forward_hooks",
    "output_tensors",
    "not_called_error",
    "nonfinite_input_error",
    "quiet",
    "divide_channels",
    "class_name",
    "shared_copy",
]


class QuantizeError(ValueError):
    """A plan, model or batch that the engine cannot quantize; the message names the layer."""


def not_called_error(name: str, batches: int) -> QuantizeError:
    """The error for a planned layer that no calibration batch called: its forward never ran (its weight
    read directly, as ``F.linear(x, layer.weight)`` or Mamba's ``conv1d.weight``, or a branch not taken)."""
    return QuantizeError(f"layer `{name}` was not called by the model's forward in {batches} "
                         f"calibration batch{'' if batches == 1 else 'es'}")


def nonfinite_input_error(name: str, batch: int) -> QuantizeError:
    """The error for a layer whose input holds nan or inf in calibration batch ``batch`` (0-based)."""
    return QuantizeError(f"layer `{name}`: calibration batch {batch} has nan or inf values at the layer's input")


def _read(spec: type, part: Any) -> dict[str, Any]:
    """The fields of ``spec`` as the plan ``part`` (a WeightPlan, ActivationPlan or DMQPlan) gives them."""
    return {f.name: getattr(part, f.name) for f in dataclasses.fields(spec)}


_ADA = parameter_defaults("ada")
_IFMR = parameter_defaults("ifmr")
_HFMG = parameter_defaults("hfmg")
_DMQ = parameter_defaults("dmq_balancer")


@dataclass(frozen=True, slots=True)
class ARQSpec:
    """AMCT's ``arq_quantize``: symmetric min/max weight scales, per tensor or per output channel."""

    algo: ClassVar[str] = "arq"
    bits: int
    channel_wise: bool

    @classmethod
    def from_plan(cls, weight: WeightPlan) -> ARQSpec:
        return cls(**_read(cls, weight))


@dataclass(frozen=True, slots=True)
class AdaRoundSpec:
    """AMCT's ``ada_quantize``: ARQ's scale with learned rounding (:mod:`quant.adaround`)."""

    algo: ClassVar[str] = "ada"
    num_iteration: int = _ADA["num_iteration"]
    reg_param: float = _ADA["reg_param"]
    beta_range_start: float = _ADA["beta_range_start"]
    beta_range_end: float = _ADA["beta_range_end"]
    warm_start: float = _ADA["warm_start"]
    channel_wise: bool = False
    bits: int = 8  # AMCT's AdaRound is 8-bit only

    @classmethod
    def from_plan(cls, weight: WeightPlan) -> AdaRoundSpec:
        return cls(**_read(cls, weight))


@dataclass(frozen=True, slots=True)
class IFMRSpec:
    """AMCT's ``ifmr_quantize``; the float parameters are float32 values, as AMCT reads them from the proto."""

    algo: ClassVar[str] = "ifmr"
    bits: int = 8
    asymmetric: bool = True
    search_range_start: float = as_float32(_IFMR["search_range_start"])
    search_range_end: float = as_float32(_IFMR["search_range_end"])
    search_step: float = as_float32(_IFMR["search_step"])
    max_percentile: float = as_float32(_IFMR["max_percentile"])
    min_percentile: float = as_float32(_IFMR["min_percentile"])

    @classmethod
    def from_plan(cls, act: ActivationPlan) -> IFMRSpec:
        return cls(**{key: as_float32(value) if key in _IFMR else value for key, value in _read(cls, act).items()})


@dataclass(frozen=True, slots=True)
class HFMGSpec:
    """AMCT's ``hfmg_quantize``."""

    algo: ClassVar[str] = "hfmg"
    bits: int = 8
    asymmetric: bool = True
    num_of_bins: int = _HFMG["num_of_bins"]

    @classmethod
    def from_plan(cls, act: ActivationPlan) -> HFMGSpec:
        return cls(**_read(cls, act))


@dataclass(frozen=True, slots=True)
class DMQSpec:
    """AMCT's ``dmq_balancer`` (:mod:`quant.dmq`)."""

    migration_strength: float = _DMQ["migration_strength"]

    @classmethod
    def from_plan(cls, dmq: DMQPlan) -> DMQSpec:
        return cls(**_read(cls, dmq))


WeightSpec = ARQSpec | AdaRoundSpec
ActivationSpec = IFMRSpec | HFMGSpec

#: plan ``weight.algo`` -> its spec type
WEIGHT_SPECS: dict[str, type[ARQSpec] | type[AdaRoundSpec]] = {t.algo: t for t in (ARQSpec, AdaRoundSpec)}
#: plan ``activation.algo`` -> its spec type
ACTIVATION_SPECS: dict[str, type[IFMRSpec] | type[HFMGSpec]] = {t.algo: t for t in (IFMRSpec, HFMGSpec)}


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One quantized layer of the plan: its module name and type in the model, and its settings."""

    name: str
    type: str
    weight: WeightSpec | None  # None: a layer without weights (AvgPool2d)
    activation: ActivationSpec
    dmq_balancer: DMQSpec | None = None
    #: the activation module that alone consumes the layer's output, from the plan (AdaRound's target)
    fused_activation: str | None = None


@dataclass(eq=False)
class WeightContext:
    """What a weight algorithm may use besides the layer itself."""

    name: str
    model: nn.Module  # the working model: earlier layers already carry quantized weights
    batches: Sequence[Any]
    float_model_factory: Callable[[], nn.Module]
    progress: bool = False
    fused_activation: str | None = None  # the layer's, from the plan (LayerSpec.fused_activation)

    @functools.cached_property
    def float_model(self) -> nn.Module:
        """The folded (and balanced) float model, copied on first use."""
        return self.float_model_factory()


def batch_arguments(batch: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword inputs of one batch: a tensor, a tuple/list of positional inputs or a
    dict of keywords."""
    if isinstance(batch, Mapping):
        return (), dict(batch)
    if isinstance(batch, (tuple, list)):
        return tuple(batch), {}
    return (batch,), {}


def run_batch(model: nn.Module, batch: Any) -> Any:
    """Call ``model`` on one batch (:func:`batch_arguments`)."""
    args, kwargs = batch_arguments(batch)
    return model(*args, **kwargs)


@contextlib.contextmanager
def forward_hooks(model: nn.Module, hooks: Mapping[str, Callable], *, pre: bool) -> Iterator[None]:
    """Forward (``pre``: forward pre-) hooks on named modules of ``model``, always removed on exit."""
    handles = []
    try:
        for name, hook in hooks.items():
            module = model.get_submodule(name)
            register = module.register_forward_pre_hook if pre else module.register_forward_hook
            handles.append(register(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No warnings, and what is printed on stdout or stderr dropped, at the file descriptors too: the
    exporters and ``torch.export`` write graphs at a failure (up to a megabyte) below Python's streams."""
    with warnings.catch_warnings(), tempfile.TemporaryFile() as sink, \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        for stream in (sys.__stdout__, sys.__stderr__):
            if stream is not None:
                stream.flush()
        saved = [os.dup(fd) for fd in (1, 2)]
        try:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            yield
        finally:
            for fd, duplicate in zip((1, 2), saved):
                os.dup2(duplicate, fd)
                os.close(duplicate)


def divide_channels(x: torch.Tensor, factors: torch.Tensor, dim: int) -> torch.Tensor:
    """``x`` divided by ``factors`` (one per channel) along dimension ``dim`` (negative: from the end):
    a DMQ-balanced layer's input."""
    shape = [1] * x.dim()
    shape[dim if dim >= 0 else x.dim() + dim] = -1
    return x / factors.reshape(shape).to(device=x.device, dtype=x.dtype)


def class_name(module: nn.Module) -> str:
    """The module's class name as the model's code names it: the class that ``torch.nn.utils.parametrize``
    makes for a parametrized weight (``ParametrizedConv2d``, a quantized layer's) by the class it was made from."""
    cls = type(module)
    base = cls.__bases__[0] if cls.__bases__ else cls
    return base.__name__ if cls.__name__ == f"Parametrized{base.__name__}" else cls.__name__


def shared_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model``'s modules that holds the same parameter and buffer tensors (no tensor memory
    is copied). The engine never changes a tensor of it in place: BatchNorm folding, DMQ and the
    quantized weights replace a module's tensor, so ``model`` stays as it is and another module holding
    the same tensor (an embedding tied to an output Linear) keeps the float one."""
    memo: dict[int, Any] = {id(t): t for t in model.parameters()}
    memo.update((id(t), t) for t in model.buffers())
    return copy.deepcopy(model, memo)


def output_tensors(output: Any, prefix: str = "output") -> Iterator[tuple[str, torch.Tensor]]:
    """The tensors in a model output (a tensor, or tuples, lists and mappings of them), each with a name:
    the mapping keys on its path; anything else (``None``, a cache object) is left out."""
    if isinstance(output, torch.Tensor):
        yield prefix, output
    elif isinstance(output, Mapping):
        for key, value in output.items():
            yield from output_tensors(value, key if prefix == "output" else f"{prefix}.{key}")
    elif isinstance(output, (tuple, list)):
        for index, value in enumerate(output):
            yield from output_tensors(value, f"{prefix}.{index}")
