"""`amct rules` and `amct explain ALL`: the list of every rule travels with the package (issue 21)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from clirun import amct
from cfglang.rules import all_rules

ROOT = Path(__file__).resolve().parents[2]


def test_rules_lists_every_rule_with_code_name_severity_and_summary() -> None:
    status, out, err = amct("rules")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == len(all_rules())
    for line, rule in zip(lines, all_rules()):
        code, name, severity = line.split()[:3]
        assert (code, name, severity) == (rule.code, rule.name, rule.severity.label)
        assert line.endswith("  " + rule.summary)


def test_rules_by_prefix_and_as_json() -> None:
    status, out, _ = amct("rules", "m", "L00", "--format", "json")
    items = json.loads(out)
    assert status == 0 and items and all(item["code"][0] in "ML" for item in items)
    assert set(items[0]) == {"code", "name", "severity", "family", "status", "summary"}
    status, _, err = amct("rules", "Q")
    assert status == 2 and err.startswith("amct rules: no rule code starts with `Q`")


def test_explain_all_is_the_list_and_unknown_codes_point_at_amct_rules() -> None:
    assert amct("explain", "ALL") == amct("rules")
    status, _, err = amct("explain", "ZZZ999")
    assert status == 2 and "`amct rules` lists them all" in err and "docs/rules.md" not in err


def test_the_test_run_prints_no_pytest_deprecation_warning() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "tests/cli/test_cli_rules.py"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PytestDeprecationWarning" not in done.stdout + done.stderr
    assert "asyncio_default_fixture_loop_scope" not in done.stdout + done.stderr
