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


def test_incremental_linting_near_the_size_limit_matches_a_full_lint() -> None:
    """Texts over a quarter of max-file-size are linted incrementally too (they were linted whole at every
    edit); over the limit in UTF-8 bytes, whatever their length in characters, they are one S015."""
    from cfglang.incremental import IncrementalLinter
    from cfglang.lint import lint
    from cfglang.settings import Settings

    entry = 'override_layer_configs {\n  layer_name: "层%d"\n  calibration_config { }\n}\n'
    base = "batch_num: 1\n" + "".join(entry % i for i in range(30))
    limit = len(base.encode("utf-8")) + 8
    settings = Settings(max_file_size=limit)
    linter = IncrementalLinter("near.cfg")
    # under, at, just over (a three-byte character more than fits), then under again
    for text in (base, base + "#" * 8, base + "#" * 7 + "层", base.replace("batch_num: 1", "batch_num: 0")):
        assert linter.lint(text, settings).diagnostics == lint(text, "near.cfg", settings).diagnostics
    assert [d.code for d in linter.lint(base + "#" * 7 + "层", settings).diagnostics] == ["S015"]
