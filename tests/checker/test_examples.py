"""AMCT's own documentation samples (copied into tests/data/valid), pinned exactly.

The samples use placeholder names: `"Opname"` for a layer and `"Optype"` for a
layer type. Without a model a layer name cannot be checked, so `"Opname"` is
silent here; but `"Optype"` is not a quantizable PyTorch class, so every use as
a type (`skip_layer_types`, an `override_layer_types` entry) is an error
(C001): a user who copies the sample must put a real type there. `quant.cfg`
also sets `quant_bits: 7` in `common_config`, which only Conv2d layers can
honour: an info (C003). `hfmg_fragment.txt` is an excerpt with `...` lines
standing for omitted text, so it is not a config: syntax errors, nothing else.
Everything else in the samples keeps every rule (docs/rules.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cfglang.checker import check
from cfglang.diagnostics import Severity

DATA = Path(__file__).parent.parent / "data"
VALID = DATA / "valid"


def _summary(name: str) -> list[tuple[str, str, int, int]]:
    result = check((VALID / name).read_bytes(), name)
    return [(d.code, d.severity.label, d.span.line, d.span.column) for d in result.diagnostics]


PINNED = {
    "ada_round.cfg": [],
    "dmq_balancer.cfg": [
        ("C001", "error", 5, 18),  # skip_layer_types:"Optype"
        ("C001", "error", 26, 18),  # override_layer_types { layer_type : "Optype" }
    ],
    "quant.cfg": [
        ("C001", "error", 5, 18),  # skip_layer_types:"Optype"
        ("C003", "info", 11, 22),  # common_config arq_quantize quant_bits : 7
    ],
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_sample_gives_exactly_the_pinned_diagnostics(name: str) -> None:
    assert _summary(name) == PINNED[name]


def test_placeholder_type_message_names_the_placeholder() -> None:
    result = check((VALID / "dmq_balancer.cfg").read_bytes(), "dmq_balancer.cfg")
    messages = [d.message for d in result.diagnostics if d.code == "C001"]
    assert messages and all("`Optype`" in m for m in messages)


def test_fragment_is_not_a_config() -> None:
    result = check((DATA / "hfmg_fragment.txt").read_bytes(), "hfmg_fragment.txt")
    codes = {d.code[0] for d in result.diagnostics}
    assert codes == {"S"}, result.diagnostics



def _pinned_name(path: Path) -> str | None:
    """The pinned sample that ``path`` is a byte-identical copy of, if any."""
    data = path.read_bytes()
    return next((name for name in PINNED if (VALID / name).read_bytes() == data), None)


def _valid_files() -> list[Path]:
    return sorted(VALID.glob("*.cfg"))


@pytest.mark.parametrize("path", _valid_files(), ids=lambda p: p.name)
def test_valid_corpus_has_no_errors_or_warnings(path: Path) -> None:
    """The valid corpus is clean; copies of AMCT's samples give what is pinned above (placeholders)."""
    result = check(path.read_bytes(), path.name)
    sample = _pinned_name(path)
    if sample is not None:
        assert [(d.code, d.severity.label, d.span.line, d.span.column) for d in result.diagnostics] == PINNED[sample]
        return
    assert [d for d in result.diagnostics if d.severity is not Severity.INFO] == []
