"""In-process pieces: the cursor scanner, the handler guard, and the import boundary."""

from __future__ import annotations

import subprocess
import sys

from lsprotocol import types

from cfglang.directives import header_layers
from cfglang.lsp.context import cursor_context, word_at
from cfglang.lsp.server import _guarded


def test_cursor_context_finds_the_enclosing_message_in_broken_text() -> None:
    text = 'batch_num: 2\noverride_layer_configs: [{ layer_name: "a" }, {\n  calibration_config <\n    arq_q'
    context = cursor_context(text, len(text))
    assert context.path == ("override_layer_configs", "calibration_config")
    assert (context.slot, context.prefix) == ("name", "arq_q")


def test_cursor_context_in_values_and_strings() -> None:
    text = "common_config { ifmr_quantize { dst_type: IN"
    context = cursor_context(text, len(text))
    assert (context.path, context.slot, context.field, context.prefix) == (
        ("common_config", "ifmr_quantize"), "value", "dst_type", "IN")
    text = 'skip_layers: ["a", "b\\"c'
    context = cursor_context(text, len(text))
    assert (context.slot, context.field, context.in_string, context.prefix) == ("value", "skip_layers", True, 'b\\"c')


def test_cursor_context_ignores_brackets_in_comments_and_strings() -> None:
    text = 'common_config { # a } here\n  arq_quantize { } skip_layers: "}" \n  '
    context = cursor_context(text, len(text))
    assert (context.path, context.slot) == (("common_config",), "name")


def test_word_at() -> None:
    assert word_at("a: quant_bits: 1", 5) == (3, 13)
    assert word_at("a: 12", 4) is None


def test_header_layers_reads_only_the_header() -> None:
    assert header_layers("# proto-message: AMCTConfig\n# amct: layers=model/layers.json\nbatch_num: 1\n") == \
        "model/layers.json"
    assert header_layers("batch_num: 1\n# amct: layers=x.json\n") is None


class _Server:
    def __init__(self) -> None:
        self.logged: list[str] = []

    def log_exception(self, what: str) -> None:
        self.logged.append(what)


def test_a_failing_handler_answers_empty_and_logs() -> None:
    server = _Server()

    def handler(ls: object, params: object) -> list[int]:
        raise RuntimeError("boom")

    guarded = _guarded(server, types.TEXT_DOCUMENT_COMPLETION, lambda: [])(handler)  # type: ignore[arg-type]
    assert guarded(server, None) == []
    assert server.logged == [types.TEXT_DOCUMENT_COMPLETION]


def test_the_lint_path_never_imports_pygls(tmp_path) -> None:
    config = tmp_path / "quant.cfg"
    config.write_text("batch_num: 0\n", encoding="utf-8")
    code = ("import io, sys; from amct_cli import run; "
            f"status = run(['lint', {str(config)!r}], io.StringIO(), io.StringIO()); "
            "print(status, sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1 []"
