"""Calibration across processes on ``torch.distributed``, with exactly the single-process result
(docs/distributed.md).

``quant.quantize(model, plan, batches, group=...)`` gives each process (rank) of ``group`` a share of
the ``batch_num`` calibration batches, each with its position in the calibration order; every rank
runs the forwards of its share only, and the observers exchange statistics, never activations:

- DMQ: the per-channel ``max|X_j|`` of each balanced layer, all-reduced with ``max`` (exact in any order).
- HFMG and IFMR depend on the order of the batches (HFMG re-bins its counts each time the running range
  widens; IFMR's histogram range is fixed at its first flush, and its flushes follow the batch sizes),
  so they run in two passes over the share. Pass 1 gathers, per observation (one call of a layer on
  a batch), its size and extremes (IFMR: its top-K and bottom-K values): every rank then knows the
  single process's sequence of HFMG ranges and IFMR's flushes and range. Pass 2 (on the inputs
  that pass 1 kept, up to ``KEEP_BYTES`` per rank, else on the forwards run again) counts each
  observation into the bins of the range that the single process would count it into (HFMG: the
  range current at that observation; IFMR: the range fixed at the first flush); the integer counts are
  summed across ranks (exact), and every rank replays the single process's re-binning and flushes on
  them (``HFMGCalibrator.widen``, ``IFMRCalibrator.replay``). IFMR needs its K before pass 1: every rank
  runs the first batch (pass 0), as the single process sizes K from it.
- AdaRound reconstructs each layer on all calibration batches: with an AdaRound layer in the plan,
  every rank gathers all batches and runs the same optimisation (the same result, no speed-up there).

A rank that fails (nan in its batch, a model error) makes every rank raise the same ``QuantizeError``,
the failure of the earliest batch in the calibration order; every collective is entered by every rank,
with the failure or the rank's part. A single-process run never imports this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
import math
import pickle
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from quant.batches import locate_failure
from quant.calibrators import ActivationQParams, HFMGCalibrator, IFMRCalibrator, IFMRPart, layer_inputs
from quant.core import HFMGSpec, IFMRSpec, LayerSpec, QuantizeError, nonfinite_input_error, not_called_error, run_batch
from quant.dmq import input_channel_count, observe_input_absmax
from quant.fakequant import reused_weight_buffers
from quant.histogram import HistcCounts, clamped_counts, extremes

__all__ = ["Exchange", "BatchDataError", "Share", "joined", "take_share", "balance_collector", "calibrate"]

T = TypeVar("T")
_EMPTY = torch.empty(0)


class Exchange:
    """The collectives of one calibration over a process group (None: the default group), counting
    what this rank contributes: ``bytes_sent`` (pickled objects, tensors' bytes), ``seconds`` spent in
    collectives (waiting for the other ranks included) and ``collectives``. NCCL groups get their
    tensors on the current CUDA device."""

    def __init__(self, group: Any = None) -> None:
        self.group = group
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        nccl = dist.get_backend(group) == "nccl"
        self.device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
        self.bytes_sent = 0
        self.seconds = 0.0
        self.collectives = 0

    def _count(self, size: int, started: float) -> None:
        self.bytes_sent += size
        self.seconds += time.perf_counter() - started
        self.collectives += 1

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (``all_gather_object``)."""
        started = time.perf_counter()
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj, group=self.group)
        self._count(len(pickle.dumps(obj)), started)
        return out

    def broadcast(self, obj: Any, src: int) -> Any:
        """Rank ``src``'s ``obj`` (its rank in the group), on every rank."""
        started = time.perf_counter()
        box = [obj]
        dist.broadcast_object_list(box, group_src=src, group=self.group)
        self._count(len(pickle.dumps(obj)) if self.rank == src else 0, started)
        return box[0]

    def reduce(self, tensor: torch.Tensor, op: Any) -> torch.Tensor:
        """``tensor`` reduced across the ranks with ``op`` (a ``torch.distributed.ReduceOp``), on the CPU."""
        started = time.perf_counter()
        work = tensor.to(self.device, copy=True)
        dist.all_reduce(work, op=op, group=self.group)
        self._count(tensor.numel() * tensor.element_size(), started)
        return work.cpu()

    def agree(self, fn: Callable[[], T]) -> list[T]:
        """Run this rank's part ``fn()`` and gather every rank's result; when any rank failed, every
        rank raises the failure of the earliest batch (:class:`_Failure`; other errors rank after
        them), so that all of them stop with the same message."""
        try:
            mine, failure = fn(), None
        except _Failure as exc:
            mine, failure = None, (exc.index, exc.position, exc.message, exc.data)
        except Exception as exc:  # an engine error on one rank only: every rank must stop
            mine, failure = None, (math.inf, self.rank, f"rank {self.rank}: {type(exc).__name__}: {exc}", False)
        parts = self.gather((failure, mine))
        failures = [f for f, _ in parts if f is not None]
        if failures:
            _, _, message, data = min(failures)
            raise (BatchDataError if data else QuantizeError)(message)
        return [part for _, part in parts]


class BatchDataError(QuantizeError):
    """A calibration batch that the model itself fails on (the data's or the model's problem, not the
    engine's); the message names the batch, its shape and the innermost layer that raised."""


class _Failure(Exception):
    """This rank's failure on batch ``index`` (its position in the calibration order), at hook call
    ``position`` of that batch's forward; ``data``: the model failed on the batch."""

    def __init__(self, index: int, position: int, message: str, data: bool = False) -> None:
        super().__init__(message)
        self.index, self.position, self.message, self.data = index, position, message, data


@contextlib.contextmanager
def joined() -> Iterator[Exchange]:
    """Join the process group that ``torchrun`` describes in the environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``) for the block: gloo, as the command line calibrates on the CPU.
    The group is destroyed on exit."""
    dist.init_process_group("gloo")
    try:
        yield Exchange()
        # every rank done with the group before any destroys it: a rank that tears down its connections
        # while another still holds the group can abort that one at exit
        dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
    finally:
        dist.destroy_process_group()


@dataclass(frozen=True, slots=True)
class Share:
    """One rank's calibration batches: ``batches[i]`` is batch ``indices[i]`` of the calibration
    order (``indices`` increasing), of ``total`` in all. ``first`` is batch 0 on every rank;
    ``every`` all batches in order where the plan needs them (AdaRound), else None."""

    indices: tuple[int, ...]
    batches: tuple[Any, ...]
    total: int
    first: Any
    every: list[Any] | None = None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else ("es" if word.endswith(("h", "s")) else "s"))


def _compact(batch: Any) -> Any:
    """``batch`` with each tensor copied to its own storage: a view (a slice of a data set) pickles
    the whole storage it views."""
    if isinstance(batch, torch.Tensor):
        return batch.clone()
    if isinstance(batch, Mapping):
        return {key: _compact(value) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):  # positional inputs (quant.core.batch_arguments)
        return tuple(_compact(b) for b in batch)
    return batch


def take_share(ex: Exchange, batches: Iterable[Any], indices: Sequence[int] | None, total: int, *,
               everything: bool = False) -> Share:
    """This rank's share: ``batches`` are the batches at positions ``indices`` of the calibration
    order (by default round-robin: rank ``r`` of ``W`` holds ``r, r + W, ...``). The ranks' positions
    must cover ``0 .. total - 1`` once each. Checked on every rank before any forward."""
    if total < ex.world:
        raise QuantizeError(f"`batch_num` = {_plural(total, 'calibration batch')} for {ex.world} processes, expected "
                            f"at least one batch per process (run at most {_plural(total, 'process')}, or raise "
                            f"`batch_num`)")
    if indices is None:
        indices = range(ex.rank, total, ex.world)

    taken: list[Any] = []

    def mine() -> list[int]:  # the positions are gathered, the batches stay
        if isinstance(batches, torch.Tensor):
            raise _Failure(-1, ex.rank, "batches is a single tensor, expected an iterable of batches (e.g. `[x]`)")
        wanted = [int(i) for i in indices]
        taken.extend(itertools.islice(iter(batches), len(wanted)))  # as one process, the first ones
        if len(taken) < len(wanted):
            raise _Failure(-1, ex.rank, f"rank {ex.rank}: got {_plural(len(taken), 'calibration batch')} for "
                                        f"{_plural(len(wanted), 'position')} in the calibration order, expected one per position")
        return wanted

    shares = ex.agree(mine)
    owner = {}
    for rank, wanted in enumerate(shares):
        for index in wanted:
            if not 0 <= index < total:
                raise QuantizeError(f"rank {rank}: batch position {index} is outside the calibration order "
                                    f"0 .. {total - 1} (`batch_num` = {total})")
            if index in owner:
                raise QuantizeError(f"batch position {index} is given to ranks {owner[index]} and {rank}, "
                                    f"expected one rank per batch")
            owner[index] = rank
    missing = [i for i in range(total) if i not in owner]
    if missing:
        raise QuantizeError(f"no rank holds batch position {missing[0]} of the calibration order "
                            f"(`batch_num` = {total}), expected each of 0 .. {total - 1} once")
    pairs = sorted(zip(shares[ex.rank], taken), key=lambda pair: pair[0])
    own = {index: batch for index, batch in pairs}
    first = ex.broadcast(_compact(own.get(0)), src=owner[0])
    every = None
    if everything:
        gathered: dict[int, Any] = {}
        for part in ex.gather({index: _compact(batch) for index, batch in own.items()}):
            gathered.update(part)
        every = [gathered[i] for i in range(total)]
    return Share(tuple(i for i, _ in pairs), tuple(b for _, b in pairs), total, first, every)


def _failure(model: nn.Module, index: int, position: int, batch: Any, exc: Exception) -> _Failure:
    """``exc``, raised on the batch at ``index`` of the calibration order, as a :class:`_Failure`: an
    engine error keeps its message; a model error names the innermost layer that raised."""
    if isinstance(exc, _Failure):
        return exc
    if isinstance(exc, QuantizeError):
        return _Failure(index, position, str(exc))
    failure = locate_failure(model, [batch])
    if failure is None:  # the model runs the batch alone: the engine's error
        return _Failure(index, position, f"calibration batch {index}: {type(exc).__name__}: {exc}")
    return _Failure(index, position, str(dataclasses.replace(failure, index=index)), data=True)


def _run(model: nn.Module, share: Share, position: list[int], progress: bool, desc: str) -> None:
    """Run ``model`` on each batch of ``share``; ``position`` holds the batch's position in the
    calibration order and the hook calls so far in its forward (the hooks count them)."""
    pairs: Iterable[tuple[int, Any]] = list(zip(share.indices, share.batches))
    if progress:
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, total=len(share.indices), desc=desc, leave=False, disable=None)
    for index, batch in pairs:
        position[0], position[1] = index, 0
        try:
            run_batch(model, batch)
        except Exception as exc:
            raise _failure(model, index, position[1], batch, exc) from None


def balance_collector(ex: Exchange, share: Share) -> Callable[[nn.Module, Sequence[str], Sequence[Any]],
                                                                 dict[str, torch.Tensor]]:
    """DMQ's ``collect`` (``quant.dmq.balance_pass``) across the ranks: each observes its share, then
    the per-channel maxima are all-reduced with ``max`` (exact; a layer a rank never saw sends -1)."""

    def collect(model: nn.Module, names: Sequence[str], _batches: Sequence[Any]) -> dict[str, torch.Tensor]:
        current: list[Any] = [0, None]

        def tracked() -> Iterable[Any]:
            for pair in zip(share.indices, share.batches):
                current[:] = pair
                yield pair[1]

        local: dict[str, torch.Tensor | None] = {}

        def mine() -> None:  # the maxima go through the all-reduce below, not the gather
            try:
                local.update(observe_input_absmax(model, names, tracked(), share.indices))
            except Exception as exc:
                raise _failure(model, current[0], 0, current[1], exc) from None

        ex.agree(mine)
        sizes = [input_channel_count(model.get_submodule(name)) for name in names]
        merged = ex.reduce(torch.cat([local[name].float().cpu().reshape(-1) if local[name] is not None else
                                      torch.full((size,), -1.0) for name, size in zip(names, sizes)]),
                           dist.ReduceOp.MAX)
        out, start = {}, 0
        for name, size in zip(names, sizes):
            part = merged[start:start + size]
            start += size
            if bool((part < 0).any()):
                raise not_called_error(name, share.total)
            out[name] = part.to(local[name].dtype if local[name] is not None else torch.float32)
        return out

    return collect


def _flat(x: torch.Tensor) -> torch.Tensor:
    """An observed input as the calibrators take it (``observe``): 1-d float32."""
    return x.detach().reshape(-1).to(torch.float32)


class _Kept:
    """Pass 1's observed inputs, kept for pass 2 while they fit in ``KEEP_BYTES`` (then pass 2 needs no
    forwards); past that, none are kept and pass 2 runs the share's forwards again."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0
        self.inputs: list[tuple[str, tuple[int, int], torch.Tensor]] | None = []

    def add(self, name: str, key: tuple[int, int], x: torch.Tensor) -> None:
        if self.inputs is None:
            return
        self.size += x.numel() * x.element_size()
        if self.size > self.limit:
            self.inputs = None
        else:
            self.inputs.append((name, key, x.clone()))


#: bytes of observed inputs a rank keeps between its two passes (see _Kept)
KEEP_BYTES = 256 << 20


def _observe_share(ex: Exchange, model: nn.Module, specs: Sequence[LayerSpec], share: Share,
                   factors: dict[str, torch.Tensor], progress: bool, desc: str,
                   record: Callable[[str, tuple[int, int], torch.Tensor], Any],
                   kept: _Kept | None = None) -> dict[str, list[tuple]]:
    """One pass over the share: ``record(name, (batch, call), x)`` for each call of a planned layer
    (``call`` counts that layer's calls in the batch), gathered from every rank as
    ``{name: [((batch, call), recorded), ...]}`` in the calibration order. Into an empty ``kept`` the
    pass keeps the inputs; from a full one it reads them instead of running the forwards."""
    position = [0, 0]
    calls: dict[tuple[str, int], int] = {}
    mine: dict[str, list[tuple]] = {s.name: [] for s in specs}
    replay = kept is not None and bool(kept.inputs)

    def observe(name: str, x: torch.Tensor) -> None:
        key = (position[0], calls.get((name, position[0]), 0))
        calls[(name, position[0])] = key[1] + 1
        x = _flat(x)
        try:
            mine[name].append((key, record(name, key, x)))
        except QuantizeError as exc:
            raise _Failure(position[0], position[1], str(exc)) from None
        if kept is not None:
            kept.add(name, key, x)
        position[1] += 1

    def run() -> dict[str, list[tuple]]:
        if replay:
            for name, key, x in kept.inputs:
                mine[name].append((key, record(name, key, x)))
            kept.inputs = None
            return mine
        with torch.inference_mode(), reused_weight_buffers(), layer_inputs(model, specs, factors, observe):
            _run(model, share, position, progress, desc)
        return mine

    merged: dict[str, list[tuple]] = {s.name: [] for s in specs}
    for part in ex.agree(run):
        for name, items in part.items():
            merged[name].extend(items)
    for items in merged.values():
        items.sort(key=lambda item: item[0])
    return merged


@dataclass(frozen=True, slots=True)
class _Summary:
    """Pass 1's record of one observation: its size and extremes; IFMR's top-K and bottom-K."""

    numel: int
    min: float
    max: float
    top: torch.Tensor | None = None
    bottom: torch.Tensor | None = None


def _summary(x: torch.Tensor, cap: int | None) -> _Summary:
    """Pass 1's record of the observation ``x`` (1-d float32); with IFMR's ``cap``, its extremes too.
    Its minimum or maximum is not finite where ``x`` holds nan or inf (then no extremes)."""
    if x.numel() == 0:
        return _Summary(0, 0.0, 0.0, _EMPTY, _EMPTY)
    mn, mx = (v.item() for v in torch.aminmax(x))  # nan and inf reach them
    if cap is None or not (math.isfinite(mn) and math.isfinite(mx)):
        return _Summary(x.numel(), mn, mx)
    top, bottom, _ = extremes(x, min(cap, x.numel()))
    return _Summary(x.numel(), mn, mx, top.cpu(), bottom.cpu())


def calibrate(ex: Exchange, model: nn.Module, specs: Sequence[LayerSpec], share: Share,
              factors: dict[str, torch.Tensor], progress: bool) -> dict[str, ActivationQParams]:
    """The activation parameters of every layer of ``specs``, as ``quant.engine`` computes them in one
    process on all batches in the calibration order, from this rank's share and the other ranks'
    statistics (the module docstring)."""
    ifmr = [s for s in specs if isinstance(s.activation, IFMRSpec)]
    caps = _ifmr_caps(ex, model, ifmr, share, factors)

    def summarise(name: str, key: tuple[int, int], x: torch.Tensor) -> _Summary:
        summary = _summary(x, caps.get(name))
        if not (math.isfinite(summary.min) and math.isfinite(summary.max)):
            raise nonfinite_input_error(name, key[0])
        return summary

    kept = _Kept(KEEP_BYTES)
    summaries = _observe_share(ex, model, specs, share, factors, progress, "calibration batches (1/2)", summarise,
                               kept)
    for name, items in summaries.items():
        if not items:
            raise not_called_error(name, share.total)

    plans = {s.name: _plan_of(s.activation, summaries[s.name], share.total) for s in specs}
    def count(name: str, key: tuple[int, int], x: torch.Tensor) -> Any:
        return plans[name].count(key, x)

    found = _observe_share(ex, model, specs, share, factors, progress, "calibration batches (2/2)", count, kept)
    # every count of every layer, summed across the ranks in one collective (integers: exact)
    local = [t for plan in plans.values() for t in plan.totals()]
    summed = ex.reduce(torch.cat(local), dist.ReduceOp.SUM) if local else torch.empty(0, dtype=torch.int64)
    start = 0
    qparams = {}
    for spec in specs:
        plan = plans[spec.name]
        sizes = [t.numel() for t in plan.totals()]
        totals = []
        for size in sizes:
            totals.append(summed[start:start + size])
            start += size
        qparams[spec.name] = plan.finish(totals, found[spec.name], summaries[spec.name])
    return qparams


def _ifmr_caps(ex: Exchange, model: nn.Module, specs: Sequence[LayerSpec], share: Share,
               factors: dict[str, torch.Tensor]) -> dict[str, int]:
    """Pass 0: IFMR's K per layer, as the single process sizes it from its first non-empty observation
    (in batch 0, which every rank holds)."""
    if not specs:
        return {}
    scratch = {s.name: IFMRCalibrator(s.activation, num_batches=share.total) for s in specs}
    first = Share((0,), (share.first,), share.total, share.first)

    def run() -> dict[str, int]:
        with torch.inference_mode(), reused_weight_buffers(), layer_inputs(model, specs, factors,
                                                  lambda name, x: scratch[name].announce(x.numel())):
            _run(model, first, [0, 0], False, "")
        return {name: cal.cap for name, cal in scratch.items()}

    caps = ex.agree(run)[ex.rank]
    for name, cap in caps.items():
        if cap == 0:
            raise QuantizeError(f"layer `{name}`: no input values in calibration batch 0, expected some: "
                                f"IFMR across processes sizes its kept extremes from the first batch")
    return caps


class _HFMGPlan:
    """HFMG across ranks: the ranges of the single process, from the gathered extremes in order (one
    counter per range), each rank's counts into them, then the same re-binning on the summed counts."""

    def __init__(self, spec: HFMGSpec, summaries: list[tuple]) -> None:
        self.spec = spec
        self.counters: list[HistcCounts] = []
        self.segment: dict[tuple[int, int], int | None] = {}
        scratch = HFMGCalibrator(spec)

        def new_counter(bins: int, lo: float, hi: float) -> HistcCounts:
            self.counters.append(HistcCounts(bins, lo, hi))
            return self.counters[-1]

        for key, s in summaries:
            if s.numel:
                counter = scratch.widen(s.min, s.max, s.numel, new_counter)
                self.segment[key] = None if counter is None else len(self.counters) - 1

    def count(self, key: tuple[int, int], x: torch.Tensor) -> None:
        index = self.segment.get(key)
        if index is not None:
            self.counters[index].add(x)

    def totals(self) -> list[torch.Tensor]:
        return [torch.cat([c.counts for c in self.counters])] if self.counters else []

    def finish(self, totals: list[torch.Tensor], _found: list[tuple], summaries: list[tuple]) -> ActivationQParams:
        if totals:
            for counter, counts in zip(self.counters, totals[0].split(self.spec.num_of_bins)):
                counter.counts.copy_(counts)
        made = iter(self.counters)
        final = HFMGCalibrator(self.spec)
        for _, s in summaries:
            final.observations += 1
            if s.numel:
                final.widen(s.min, s.max, s.numel, lambda *_: next(made))
        return final.compute()


class _IFMRPlan:
    """IFMR across ranks: the single process's flushes and histogram range from the gathered sizes and
    extremes; each rank's counts over that range and the values it leaves out (or, when all of the
    layer's inputs are at most ``EXACT_LIMIT`` values, the values); then the same flushes replayed."""

    def __init__(self, spec: IFMRSpec, summaries: list[tuple], total: int) -> None:
        self.spec, self.total = spec, total
        self.exact = sum(s.numel for _, s in summaries) <= IFMRCalibrator.EXACT_LIMIT
        self.scratch = IFMRCalibrator(spec, num_batches=total)
        self.counts: torch.Tensor | None = None
        if not self.exact:
            self.scratch.replay([IFMRPart(s.numel, s.top, s.bottom) for _, s in summaries])
            self.counts = torch.zeros(IFMRCalibrator.BINS + 2, dtype=torch.int64)

    def count(self, _key: tuple[int, int], x: torch.Tensor) -> tuple:
        if self.exact:
            return (x.cpu().clone(),)
        lo, hi = self.scratch.range
        counts = clamped_counts(x, lo, hi, IFMRCalibrator.BINS).cpu()
        self.counts += counts
        below, above = counts[[0, -1]].tolist()
        if not (below or above):  # (not x[:0]: a view pickles its whole storage)
            return below, above, _EMPTY, _EMPTY
        low, high = self.scratch.outside(x)
        return below, above, low.cpu(), high.cpu()

    def totals(self) -> list[torch.Tensor]:
        return [] if self.counts is None else [self.counts]

    def finish(self, totals: list[torch.Tensor], found: list[tuple], summaries: list[tuple]) -> ActivationQParams:
        parts = []
        for (_, s), (_, got) in zip(summaries, found):
            if self.exact:
                parts.append(IFMRPart(s.numel, s.top, s.bottom, values=got[0]))
            else:
                below, above, low, high = got
                parts.append(IFMRPart(s.numel, s.top, s.bottom, below, above, low, high))
        final = IFMRCalibrator(self.spec, num_batches=self.total)
        final.replay(parts, totals[0] if totals else None)
        return final.compute()


def _plan_of(spec: IFMRSpec | HFMGSpec, summaries: list[tuple], total: int) -> _HFMGPlan | _IFMRPlan:
    """The exchange plan of an activation spec, from pass 1's summaries in the calibration order."""
    if isinstance(spec, HFMGSpec):
        return _HFMGPlan(spec, summaries)
    return _IFMRPlan(spec, summaries, total)
