"""The engine's layer-type tables are the ones their owners keep (issue 17: each fact written once)."""

from __future__ import annotations

from cfglang.capabilities import TARGETS, get_target
from quant import dmq, engine, recurrent


def test_dmq_balances_the_types_the_targets_accept() -> None:
    assert dmq.BALANCEABLE is get_target().dmq
    assert all(target.dmq == dmq.BALANCEABLE for target in TARGETS.values())
    assert "LSTM" not in dmq.BALANCEABLE


def test_the_engine_treats_as_recurrent_what_quant_recurrent_wraps() -> None:
    assert engine._RECURRENT is recurrent.RECURRENT_TYPES
    assert recurrent.RECURRENT_TYPES == {"LSTM", "GRU"}
