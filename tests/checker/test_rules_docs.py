"""docs/rules.md is generated from the registry; `amct explain` prints an entry."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from amct_cli import run
from cfglang.rules import REGISTRY, all_rules
from cfglang.rules.docs import COMMAND, render_rules_page

ROOT = Path(__file__).resolve().parents[2]


def test_rules_page_is_up_to_date() -> None:
    page = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert page == render_rules_page(), f"docs/rules.md is stale: run `{COMMAND}`"


def test_rules_page_lists_every_code_once() -> None:
    page = render_rules_page()
    for r in all_rules():
        assert len(re.findall(rf"^### {r.code} ", page, re.M)) == 1


def test_every_rule_is_complete() -> None:
    for r in REGISTRY.values():
        assert re.fullmatch(r"[A-Z]\d{3}", r.code)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r.name), r.name
        assert r.summary and not r.summary.endswith(".") and r.explanation and r.bad and r.good


def _explain(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(["explain", *argv], out, err)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("key", ["F011", "f011", "oneof-conflict"])
def test_explain_by_code_or_name(key: str) -> None:
    status, out, err = _explain(key)
    assert status == 0 and err == ""
    assert out.startswith("F011 oneof-conflict (warning)\n")
    assert "bad:\n    common_config {" in out and "good:\n" in out


def test_explain_unknown_code_is_one_line_exit_2() -> None:
    status, out, err = _explain("F999")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "unknown diagnostic code `F999`" in err


def test_explain_suggests_a_close_name() -> None:
    status, _, err = _explain("oneof-conflcit")
    assert status == 2 and "did you mean `oneof-conflict`?" in err
