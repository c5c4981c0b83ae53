"""Every worked example of docs/semantics.md is checked: the doc cannot drift from the code.

The page is a sequence of fenced blocks: ``layers`` sets the model (``name Type`` lines and
``conv -> bn`` pairs) for what follows, ``cfg`` is a config, and the ``resolves`` block after it
lists what the plan must say: ``layer key = value (level)``, ``layer quantize = false``,
``fusions: a+b, ...`` or ``fusions: none``, and ``diagnostic CODE`` (the exact multiset of
resolution codes).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import run

DOC = Path(__file__).resolve().parents[2] / "docs" / "semantics.md"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
_VALUE = re.compile(r"^(?P<layer>\S+) (?P<key>\S+) = (?P<value>\S+)(?: \((?P<level>\w+)\))?$")


def _examples() -> list[tuple[str, list, list, list[str]]]:
    layers: list = []
    foldable: list = []
    cfg = None
    out = []
    for kind, body in _FENCE.findall(DOC.read_text(encoding="utf-8")):
        if kind == "layers":
            layers, foldable = [], []
            for line in body.splitlines():
                if "->" in line:
                    foldable.append(tuple(part.strip() for part in line.split("->")))
                elif line.strip():
                    layers.append(tuple(line.split()))
        elif kind == "cfg":
            cfg = body
        elif kind == "resolves":
            assert cfg is not None, "a `resolves` block without a `cfg` block before it"
            out.append((cfg, list(layers), list(foldable), body.strip().splitlines()))
            cfg = None
    return out


EXAMPLES = _examples()


def _shown(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def test_the_page_has_examples() -> None:
    assert len(EXAMPLES) >= 12


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example-{i + 1}" for i in range(len(EXAMPLES))])
def test_example(example) -> None:
    cfg, layers, foldable, expected = example
    result = run(cfg, layers, foldable)
    codes = []
    for line in expected:
        if line.startswith("diagnostic "):
            codes.append(line.split()[1])
        elif line.startswith("fusions: "):
            found = ", ".join(f"{f.conv}+{f.bn}" for f in result.plan.fusions) or "none"
            assert found == line[len("fusions: "):], line
        else:
            m = _VALUE.match(line)
            assert m, f"malformed line {line!r}"
            layer = result.layer(m["layer"])
            value = layer.quantize if m["key"] == "quantize" else layer.value(m["key"])
            assert _shown(value) == m["value"], line
            if m["level"]:
                assert layer.provenance[m["key"]].source == m["level"], (line, layer.provenance[m["key"]])
    assert sorted(d.code for d in result.plan.diagnostics) == sorted(codes), [
        (d.code, d.message) for d in result.plan.diagnostics]
