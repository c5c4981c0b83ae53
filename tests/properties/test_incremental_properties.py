"""The incremental linter gives what a full lint gives, after every edit of a sequence.

A generated file is edited step by step, as an editor would send it: random
characters typed or deleted anywhere, stretches of the file copied elsewhere
(whole override entries, so that keys repeat across the file), and snippets
that bring findings, suppressions and syntax errors. After each step the
diagnostics of :class:`cfglang.incremental.IncrementalLinter` equal those of
:func:`cfglang.lint.lint` on the same text, in the same order, and so does the
lazily computed check result; with a model inventory, the model-aware
diagnostics too.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfglang.incremental import IncrementalLinter
from cfglang.inventory import Activation, Foldable, Inventory, Layer
from cfglang.lint import lint

from .strategies import JUNK_CHARS, ints, merge_documents, pick, valid_documents

SNIPPETS = (
    'override_layer_configs { layer_name: "conv1" calibration_config { arq_quantize { quant_bits: 9 } } }\n',
    'override_layer_configs {\n  layer_name: "conv1"\n  calibration_config { ifmr_quantize { search_step: 0 } }\n}\n',
    'override_layer_types { layer_type: "Conv2d" calibration_config { hfmg_quantize { num_of_bins: 7 } } }\n',
    'override_layer_types { layer_type: "Dropout" }\n',
    "batch_num: 0\n",
    "common_config { arq_quantize { channel_wise: true quant_bits: 5 } }\n",
    'skip_layers: "conv1"\n',
    "# amct: noqa: F012\n",
    "  # amct: noqa: V001, F013\n",
    "# amct: noqa-file: V003\n",
    "# amct: noqa\n",
    "override_layer_configs {\n",
    "}\n",
    '"',
    "\n",
    "\r\n",
)


@st.composite
def edits(draw, text: str) -> tuple[int, int, str]:
    """One edit of ``text``: (offset, characters deleted, text inserted)."""
    at = draw(ints(0, len(text)))
    kind = draw(pick(["type", "delete", "copy", "snippet", "line"]))
    if kind == "type":
        return at, 0, draw(st.text(pick(JUNK_CHARS + tuple("abz_19 ")), min_size=1, max_size=3))
    if kind == "delete":
        return at, draw(ints(1, 8)), ""
    if kind == "copy":
        start = draw(ints(0, len(text)))
        return at, 0, text[start : start + draw(ints(1, 400))]
    if kind == "line":  # a whole line deleted or repeated
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        end = len(text) if end == -1 else end + 1
        return (start, end - start, "") if draw(st.booleans()) else (start, 0, text[start:end])
    return at, 0, draw(pick(SNIPPETS))


# a model with most of the generated layer names (the others are reported as unknown, with a suggestion)
INVENTORY = Inventory(
    tuple(Layer(name, kind) for name, kind in (
        ("conv1", "Conv2d"), ("bn1", "BatchNorm2d"), ("relu", "ReLU"), ("layer1.0.conv1", "Conv2d"),
        ("layer1.0.conv2", "Conv2d"), ("fc", "Linear"), ("pool", "AvgPool2d"), ("lstm", "LSTM"))),
    (Foldable("conv1", "bn1"),), (Activation("conv1", "relu", "ReLU"),), True, "gen")


@pytest.mark.parametrize("inventory", [None, INVENTORY], ids=["no-inventory", "inventory"])
@given(text=st.one_of(valid_documents(), merge_documents(6)).map(lambda r: r.text), data=st.data())
def test_incremental_lint_equals_full_lint(inventory, text, data):
    linter = IncrementalLinter("gen.cfg")
    for step in range(data.draw(ints(1, 6)) + 1):
        if step:
            at, deleted, inserted = data.draw(edits(text))
            text = text[:at] + inserted + text[at + deleted :]
        got, want = linter.lint(text, None, inventory), lint(text, "gen.cfg", None, inventory)
        assert got.text == want.text and got.has_bom == want.has_bom
        assert got.syntax_ok == want.syntax_ok
        assert got.diagnostics == want.diagnostics, f"step {step}: {text!r}"
        assert got.check.diagnostics == want.check.diagnostics
