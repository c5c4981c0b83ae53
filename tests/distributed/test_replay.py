"""The exchange's arithmetic in one process (no group): IFMR and HFMG rebuilt from per-observation
summaries and counts (what the ranks exchange, ``quant.distributed``) give exactly what the calibrator
computes observing the same batches in order, in the regimes the multi-process tests reach less:
several flushes, a batch processed alone, values past IFMR's range kept one by one and then as moments,
a zero-width first range, symmetric quantizers."""

from __future__ import annotations

import pytest
import torch

from quant import distributed
from quant.calibrators import HFMGCalibrator, IFMRCalibrator
from quant.core import HFMGSpec, IFMRSpec


def batches(kind: str) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    if kind == "widening":  # each batch wider than the last: HFMG re-bins, IFMR keeps tails, then moments
        return [torch.randn(40_000 + 7_000 * i, generator=gen) * (1 + i) ** 2 for i in range(9)]
    if kind == "alone":  # one batch larger than IFMR's buffer, between small ones
        sizes = [30_000, 90_000, IFMRCalibrator.BUFFER_CAP + 5, 20_000, 250_000]
        return [torch.relu(torch.randn(n, generator=gen)) * (1 + i) for i, n in enumerate(sizes)]
    # constant first batch (HFMG's range of zero width), then spread
    return [torch.full((5_000,), 0.5)] + [torch.rand(70_000, generator=gen) * i for i in range(1, 6)]


def replayed(spec, data: list[torch.Tensor]):
    """The distributed plan of ``spec`` run on ``data`` in order, with the counts of all observations
    summed as the ranks' all-reduce sums them."""
    cap = None
    if isinstance(spec, IFMRSpec):
        scratch = IFMRCalibrator(spec, num_batches=len(data))
        scratch.announce(data[0].numel())
        cap = scratch.cap
    summaries = [((i, 0), distributed._summary(x, cap)) for i, x in enumerate(data)]
    plan = distributed._plan_of(spec, summaries, len(data))
    found = [((i, 0), plan.count((i, 0), x)) for i, x in enumerate(data)]
    return plan.finish(plan.totals(), found, summaries)


@pytest.mark.parametrize("kind", ["widening", "alone", "flat-first"])
@pytest.mark.parametrize("spec", [IFMRSpec(), IFMRSpec(asymmetric=False, max_percentile=0.999),
                                  HFMGSpec(), HFMGSpec(asymmetric=False, num_of_bins=512)],
                         ids=["ifmr", "ifmr-sym", "hfmg", "hfmg-sym"])
def test_replay_equals_observing_in_order(spec, kind: str) -> None:
    data = batches(kind)
    single = (IFMRCalibrator if isinstance(spec, IFMRSpec) else HFMGCalibrator)(spec, num_batches=len(data))
    for x in data:
        single.observe(x)
    assert replayed(spec, data) == single.compute()


def test_the_batches_reach_the_regimes() -> None:
    # widening: values past IFMR's range, one by one and (past TAIL_CAP) as moments
    ifmr = IFMRCalibrator(IFMRSpec(), num_batches=9)
    for x in batches("widening"):
        ifmr.observe(x)
    ifmr.compute()
    assert ifmr._moments_lo[0] > 0 and sum(t.numel() for t in ifmr._tail_lo + ifmr._tail_hi) > 0
    assert max(x.numel() for x in batches("alone")) > IFMRCalibrator.BUFFER_CAP
    hfmg = HFMGCalibrator(HFMGSpec())
    hfmg.observe(batches("flat-first")[0])
    assert hfmg.min == hfmg.max
