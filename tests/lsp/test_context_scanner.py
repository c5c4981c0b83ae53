"""ContextScanner resumes the cursor scan from saved states: the same context as a scan from the start,
for every text of an edit sequence and every offset (checkpoints every few characters here)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfglang.lsp import context
from cfglang.lsp.context import ContextScanner, cursor_context

PIECES = ["common_config", " {", "}", " <", ">", "[", "]", ":", ",", ";", " ", "\n", "\r", '"a b', '"', "'",
          "\\", "# c", "layer_name", "true", "1.5", "-2", "arq_quantize", "skip_layers", "override_layer_configs",
          "calibration_config", "特", "@"]

texts = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)
edits = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), texts.map(lambda t: t[:8])), max_size=8)


@pytest.fixture(autouse=True)
def small_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "CHECKPOINT", 7)


@given(texts, edits, st.lists(st.floats(0, 1), min_size=1, max_size=5))
def test_resumed_scans_give_the_context_of_a_scan_from_the_start(text: str, changes: list, where: list) -> None:
    scanner = ContextScanner()
    for at, removed, inserted in [(0.0, 0, ""), *changes]:
        cut = int(at * len(text))
        text = text[:cut] + inserted + text[cut + removed:]
        for fraction in where:
            offset = int(fraction * len(text))
            assert scanner.context(text, offset) == cursor_context(text, offset), (text, offset)


def test_states_are_saved_and_kept_before_an_edit() -> None:
    text = "".join(f'override_layer_configs {{\n  layer_name: "l{i}"\n}}\n' for i in range(40)) + "batch_num: "
    scanner = ContextScanner()
    assert scanner.context(text, len(text)) == cursor_context(text, len(text))
    saved = list(scanner._saved)
    assert len(saved) > 10
    edited = text[:-40] + "{" + text[-40:]
    assert scanner.context(edited, len(edited)) == cursor_context(edited, len(edited))
    assert scanner._saved[: len(saved) - 2] == saved[: len(saved) - 2]  # the states before the edit are kept


def test_a_quote_whose_string_an_edit_later_in_the_line_completes() -> None:
    scanner = ContextScanner()
    text = '"a bcommon_config\\'
    scanner.context(text, len(text))
    text += " {"
    assert scanner.context(text, len(text)) == cursor_context(text, len(text))
