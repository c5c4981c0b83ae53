"""AdaRound: learned rounding of weights (Nagel et al., "Up or Down? Adaptive Rounding for
Post-Training Quantization", ICML 2020), as AMCT's ``ada_quantize``.

For a layer with weight ``W`` and per-tensor or per-output-channel scale ``s``:

    W~ = s * clip(floor(W / s) + h(V), qmin, qmax)
    h(V) = clamp(sigmoid(V) * (zeta - gamma) + gamma, 0, 1),   zeta = 1.1, gamma = -0.1

``V`` starts where ``h(V)`` equals the fractional part of ``W / s`` (so the first soft weight is ``W``
itself, up to clipping). Adam minimises, over minibatches of cached layer inputs,

    ||f(W X) - f(W~ X)||^2 + reg_param * sum(1 - |2 h(V) - 1|^beta)

where ``f`` is the activation fused after the layer (the plan's ``fused_activation``, found once with the
layer inventory; identity if none), the rounding term is switched on after ``warm_start * num_iteration``
steps and ``beta`` anneals from ``beta_range_start`` to ``beta_range_end`` on a cosine. The result rounds
up where ``V >= 0``.

Layers are handled one at a time in model order: the inputs come from the model whose earlier layers
are already quantized, the targets from the float model (as AMCT does). Only a bounded number of
samples is cached per layer (reservoir sampling), so memory does not grow with the data.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from quant.arq import WeightQuant, arq_scale, input_channels_first, weight_axis
from quant.core import AdaRoundSpec, WeightContext, not_called_error, run_batch
from quant.dmq import balanced_inputs
from quant.fakequant import LAYER_KINDS
from quant.inventory import layer_type
from quant.qmath import fake_quantize, qrange

__all__ = [
    "ZETA",
    "GAMMA",
    "AdaRoundParams",
    "AdaRoundLayer",
    "SampleCache",
    "rectified_sigmoid",
    "initial_v",
    "beta_at",
    "rounding_regularizer",
    "soft_quantize",
    "hard_quantize",
    "reconstruction_loss",
    "optimize_rounding",
    "collect_samples",
    "adaround_model",
    "ada_quantize",
]

ZETA = 1.1
GAMMA = -0.1



@dataclass(frozen=True, slots=True)
class AdaRoundParams(AdaRoundSpec):
    """``ada_quantize``'s settings (:class:`~quant.core.AdaRoundSpec`, AMCT's defaults), plus the optimiser
    settings AMCT does not expose."""

    #: samples cached per layer (a sample is one batch item; for Linear one token row)
    max_samples: int = 1024
    #: samples per Adam step
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0

    @classmethod
    def of(cls, spec: AdaRoundSpec, **extra: Any) -> AdaRoundParams:
        """``spec``'s settings with the optimiser settings of ``extra``."""
        return cls(**dataclasses.asdict(spec), **extra)

    @property
    def qmin(self) -> int:
        return qrange(self.bits)[0]

    @property
    def qmax(self) -> int:
        return qrange(self.bits)[1]


@dataclass(frozen=True, slots=True)
class AdaRoundLayer:
    """One layer to round: its module name, its weight scale (broadcastable to the weight) and the
    name of the activation module that consumes its output, if any."""

    name: str
    scale: torch.Tensor
    params: AdaRoundParams
    activation: str | None = None


# ---------------------------------------------------------------------------------------------
# the math (pure functions)


def rectified_sigmoid(v: torch.Tensor) -> torch.Tensor:
    """``h(V) = clamp(sigmoid(V) * (zeta - gamma) + gamma, 0, 1)``."""
    return torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def initial_v(weight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The ``V`` for which ``h(V)`` equals the fractional part of ``weight / scale``."""
    scaled = weight / scale
    frac = scaled - torch.floor(scaled)
    # frac is in [0, 1), so the sigmoid target is in [0.083, 0.917]: the logit is finite
    return torch.logit((frac - GAMMA) / (ZETA - GAMMA))


def beta_at(step: int, params: AdaRoundParams) -> float:
    """The regulariser's exponent at ``step``: cosine from start to end over the steps after warm up."""
    total = params.num_iteration
    warm = params.warm_start * total
    if total <= 0 or step <= warm:
        return params.beta_range_start
    progress = min(1.0, (step - warm) / max(total - warm, 1e-12))
    start, end = params.beta_range_start, params.beta_range_end
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * progress))


def rounding_regularizer(v: torch.Tensor, beta: float) -> torch.Tensor:
    """``sum(1 - |2 h(V) - 1|^beta)``: zero only when every ``h(V)`` is exactly 0 or 1."""
    return (1.0 - (2.0 * rectified_sigmoid(v) - 1.0).abs().pow(beta)).sum()


def soft_quantize(
    w_floor: torch.Tensor, v: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int
) -> torch.Tensor:
    """The differentiable weight ``scale * clip(floor(W / s) + h(V), qmin, qmax)``."""
    return torch.clamp(w_floor + rectified_sigmoid(v), qmin, qmax) * scale


def hard_quantize(
    w_floor: torch.Tensor, v: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int
) -> torch.Tensor:
    """The final weight: round up where ``V >= 0``, down elsewhere."""
    return torch.clamp(w_floor + (v >= 0).to(w_floor.dtype), qmin, qmax) * scale


def reconstruction_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over the channel dimension, averaged over samples and positions."""
    diff = (output - target).pow(2)
    channel_dim = 1 if diff.dim() > 2 else diff.dim() - 1
    return diff.sum(dim=channel_dim).mean()


# ---------------------------------------------------------------------------------------------
# the sample cache


class SampleCache:
    """A bounded, uniformly drawn set of (input, target) sample pairs (reservoir sampling).

    Pairs are kept together, so that an input always meets the target of the same sample."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        if capacity <= 0:
            raise ValueError(f"sample capacity must be positive, found {capacity}")
        self.capacity = capacity
        self.seen = 0
        self._rng = random.Random(seed)
        self._inputs: torch.Tensor | None = None
        self._targets: torch.Tensor | None = None

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def add(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        if inputs.shape[0] != targets.shape[0]:
            raise ValueError(
                f"inputs hold {inputs.shape[0]} samples and targets {targets.shape[0]}, expected the same"
            )
        inputs, targets = inputs.detach(), targets.detach()
        if self._inputs is None:
            self._inputs = inputs.new_empty((self.capacity, *inputs.shape[1:]))
            self._targets = targets.new_empty((self.capacity, *targets.shape[1:]))
        elif inputs.shape[1:] != self._inputs.shape[1:] or targets.shape[1:] != self._targets.shape[1:]:
            raise ValueError(
                f"sample shape changed from {tuple(self._inputs.shape[1:])} to "
                f"{tuple(inputs.shape[1:])}, expected the same shape in every batch"
            )
        count = inputs.shape[0]
        fill = min(count, self.capacity - self.seen) if self.seen < self.capacity else 0
        if fill:
            self._inputs[self.seen : self.seen + fill] = inputs[:fill]
            self._targets[self.seen : self.seen + fill] = targets[:fill]
            self.seen += fill
        for k in range(fill, count):
            self.seen += 1
            slot = self._rng.randrange(self.seen)
            if slot < self.capacity:
                self._inputs[slot] = inputs[k]
                self._targets[slot] = targets[k]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._inputs is None or self._targets is None:
            raise ValueError("no samples were cached")
        n = len(self)
        return self._inputs[:n], self._targets[:n]


# ---------------------------------------------------------------------------------------------
# one layer


def _frozen_copy(module: nn.Module) -> nn.Module:
    clone = copy.deepcopy(module)
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone


def _transposed_linear(module: nn.Module, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    return nn.functional.linear(x, w.t(), module.bias)


def optimize_rounding(
    layer: nn.Module,
    scale: torch.Tensor,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    params: AdaRoundParams,
    *,
    activation: nn.Module | None = None,
    progress: bool = False,
    desc: str = "AdaRound",
) -> torch.Tensor:
    """Learn the rounding of ``layer.weight`` and return the quantized (dequantized-float) weight.

    ``inputs`` are the layer's cached inputs (from the already-quantized prefix), ``targets`` the float
    model's output of the layer followed by ``activation``. ``num_iteration == 0`` gives nearest
    rounding. The layer itself is not modified."""
    weight = layer.weight.detach()
    scale = scale.to(device=weight.device, dtype=weight.dtype)
    if params.num_iteration <= 0:
        return fake_quantize(weight, scale, 0, params.bits)

    # the layer's float op with a given weight (quant.fakequant's table), cheaper than functional_call
    layer_op = LAYER_KINDS[layer_type(layer)].forward
    if input_channels_first(layer) and layer_type(layer) == "Linear":  # transformers' Conv1D: x @ W + b
        layer_op = _transposed_linear
    work = _frozen_copy(layer)
    act = _frozen_copy(activation) if activation is not None else None
    w_floor = torch.floor(weight / scale)
    # the elementwise chain from V to the weight and the regulariser is differentiated by hand (autograd
    # would keep a dozen weight-sized temporaries per step, most of an AdaRound step's time); autograd
    # runs the layer op and its activation only. d weight / d h is the scale where floor + h stays on
    # the grid (h is in [0, 1], so where the floor is below qmax)
    grid_scale = scale * ((w_floor >= params.qmin) & (w_floor < params.qmax))
    v = initial_v(weight, scale).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([v], lr=params.lr, fused=True)
    warm_steps = params.warm_start * params.num_iteration
    generator = torch.Generator().manual_seed(params.seed)
    count = inputs.shape[0]
    batch = min(params.batch_size, count)

    steps = range(params.num_iteration)
    if progress:
        from tqdm.auto import tqdm

        # `desc` names the layer, the counter is the iteration; disable=None: no bar unless stderr is a
        # terminal (a redrawn bar, nested under the engine's, would write cursor moves into a log)
        steps = tqdm(steps, desc=desc, unit="it", leave=False, disable=None)
    for step in steps:
        idx = torch.randint(count, (batch,), generator=generator).to(inputs.device)
        x, y = inputs[idx], targets[idx]
        with torch.no_grad():
            sig = torch.sigmoid(v)
            h = sig * (ZETA - GAMMA) + GAMMA  # rectified_sigmoid, before its clamp
            stretched = (h >= 0.0) & (h <= 1.0)  # where the clamp passes the gradient
            h.clamp_(0.0, 1.0)
            soft = (w_floor + h).clamp_(params.qmin, params.qmax).mul_(scale).requires_grad_(True)
        out = layer_op(work, x, soft)
        if act is not None:
            out = act(out)
        (grad,) = torch.autograd.grad(reconstruction_loss(out, y), soft)
        with torch.no_grad():
            grad.mul_(grid_scale)
            if step >= warm_steps:  # d/dh of reg_param * sum(1 - |2h - 1|^beta)
                beta = beta_at(step, params)
                u = h.mul_(2.0).sub_(1.0)
                grad.add_(u.abs().pow_(beta - 1.0).mul_(u.sign()), alpha=-2.0 * params.reg_param * beta)
            # dh/dV = (zeta - gamma) sigmoid(V) (1 - sigmoid(V)) where h is not clamped
            grad.mul_(torch.addcmul(sig, sig, sig, value=-1.0).mul_(stretched).mul_(ZETA - GAMMA))
        v.grad = grad
        optimizer.step()
    return hard_quantize(w_floor, v.detach(), scale, params.qmin, params.qmax)


# ---------------------------------------------------------------------------------------------
# a whole model, layer by layer


class _StopForward(Exception):
    """Raised by a capture hook once it has what it needs, so the rest of the forward is skipped."""


def _as_samples(tensor: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    # a Linear acts on each row of the last dimension: every token is a sample, so sequences of
    # different lengths can share one cache
    if layer_type(layer) == "Linear":
        return tensor.reshape(-1, tensor.shape[-1])
    return tensor


@contextlib.contextmanager
def _capture(module: nn.Module, what: str, sink: list[torch.Tensor]) -> Iterator[None]:
    """Record the first input (``what == "input"``) or output of ``module`` per forward, then stop."""

    def hook(_mod: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        sink.append((args[0] if what == "input" else output).detach())
        raise _StopForward

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def collect_samples(
    float_model: nn.Module,
    quant_model: nn.Module,
    name: str,
    batches: Iterable[Any],
    capacity: int,
    *,
    activation: nn.Module | None = None,
    seed: int = 0,
) -> SampleCache:
    """Cache pairs of (input of ``name`` in ``quant_model``, output of ``name`` then ``activation`` in
    ``float_model``) over ``batches``, at most ``capacity`` of them."""
    batches = list(batches)
    float_layer = float_model.get_submodule(name)
    quant_layer = quant_model.get_submodule(name)
    cache = SampleCache(capacity, seed=seed)
    # layers balanced by DMQ carry their factors: divide their inputs so both models compute in float
    # what the balanced model means
    with torch.no_grad(), balanced_inputs(quant_model), balanced_inputs(float_model):
        for batch in batches:
            ins: list[torch.Tensor] = []
            outs: list[torch.Tensor] = []
            with _capture(quant_layer, "input", ins), contextlib.suppress(_StopForward):
                run_batch(quant_model, batch)
            with _capture(float_layer, "output", outs), contextlib.suppress(_StopForward):
                run_batch(float_model, batch)
            if not ins or not outs:
                raise not_called_error(name, len(batches))
            target = activation(outs[0]) if activation is not None else outs[0]
            cache.add(_as_samples(ins[0], quant_layer), _as_samples(target, quant_layer))
    return cache


def adaround_model(
    float_model: nn.Module,
    quant_model: nn.Module,
    layers: Sequence[AdaRoundLayer],
    batches: Sequence[Any] | Callable[[], Iterable[Any]],
    *,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """Round the weights of ``layers`` (in model order) in ``quant_model`` in place.

    ``quant_model`` is the working copy whose other layers already carry their quantized weights;
    ``float_model`` gives the targets. ``batches`` is re-iterated once per layer (a sequence, or a
    callable returning a fresh iterable). Returns the new weight of every layer."""
    results: dict[str, torch.Tensor] = {}
    for layer in layers:
        act = float_model.get_submodule(layer.activation) if layer.activation else None
        data = batches() if callable(batches) else batches
        cache = collect_samples(
            float_model,
            quant_model,
            layer.name,
            data,
            layer.params.max_samples,
            activation=act,
            seed=layer.params.seed,
        )
        inputs, targets = cache.tensors()
        module = quant_model.get_submodule(layer.name)
        with torch.enable_grad():
            new_weight = optimize_rounding(
                module,
                layer.scale,
                inputs,
                targets,
                layer.params,
                activation=act,
                progress=progress,
                desc=f"AdaRound {layer.name}",
            )
        with torch.no_grad():
            module.weight.copy_(new_weight)
        results[layer.name] = new_weight
    return results


# ---------------------------------------------------------------------------------------------
# the engine's ``"ada"`` weight algorithm

def ada_quantize(module: nn.Module, spec: AdaRoundSpec, context: WeightContext) -> WeightQuant:
    """The AdaRound weight algorithm (``quant.engine.WEIGHT_ALGOS``).

    The inputs come from ``context.model`` (earlier layers already quantized), the targets from
    ``context.float_model`` through the layer's fused activation of the plan (``context.fused_activation``);
    the scale is ARQ's, so only the rounding differs from ARQ."""
    params = AdaRoundParams.of(spec, **ENGINE_SETTINGS)
    axis = weight_axis(module)
    scale = arq_scale(module.weight, params.bits, channel_wise=params.channel_wise, axis=axis)
    view = scale
    if scale.dim():
        shape = [1] * module.weight.dim()
        shape[axis] = -1
        view = scale.reshape(shape)
    float_model = context.float_model
    act = float_model.get_submodule(context.fused_activation) if context.fused_activation else None
    inputs, targets = collect_samples(
        float_model, context.model, context.name, context.batches, params.max_samples,
        activation=act, seed=params.seed,
    ).tensors()
    with torch.enable_grad():
        weight = optimize_rounding(
            module, view, inputs, targets, params, activation=act,
            progress=context.progress, desc=f"AdaRound {context.name}",
        )
    codes = torch.round(weight / view.to(weight.device)).to(torch.int8)
    return WeightQuant(codes, scale.to(weight.device), axis, params.bits, params.channel_wise)


#: optimiser settings the engine uses for ``ada_quantize`` (AMCT's config does not expose them)
ENGINE_SETTINGS: dict[str, Any] = {"max_samples": 1024, "batch_size": 32, "lr": 1e-3}
