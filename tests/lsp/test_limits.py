"""What the server sends stays bounded whatever the document: at most MAX_PUBLISHED diagnostics a file."""

from __future__ import annotations

from lsprotocol import types

from cfglang.lint import lint_text
from cfglang.lsp import convert
from cfglang.lsp.analysis import Analyzer


def test_a_file_with_more_diagnostics_than_the_limit_publishes_the_first_and_counts_the_rest() -> None:
    text = "batch_num:\u00a01\n" * (convert.MAX_PUBLISHED // 2 + 10)  # a warning and a duplicate per line
    total = len(lint_text(text))
    assert total > convert.MAX_PUBLISHED
    analysis = Analyzer().analyse(text, "many.cfg")
    items = convert.diagnostics(analysis, "file:///many.cfg")
    assert len(items) == convert.MAX_PUBLISHED + 1
    assert [str(d.code) for d in items[:-1]] == [d.code for d in lint_text(text)[: convert.MAX_PUBLISHED]]
    last = items[-1]
    assert last.severity == types.DiagnosticSeverity.Information and last.code is None
    assert f"{total - convert.MAX_PUBLISHED} more diagnostics" in last.message


def test_a_file_under_the_limit_publishes_everything() -> None:
    text = "batch_num:\u00a01\n" * 10
    items = convert.diagnostics(Analyzer().analyse(text, "few.cfg"), "file:///few.cfg")
    assert [str(d.code) for d in items] == [d.code for d in lint_text(text)]
