"""The AMCT corpus: config files written after AMCT's own test configs and config-reading code, with the
exact diagnostics each target gives.

Each ``tests/amct/corpus/*.cfg`` says in its header which AMCT file or function it mirrors and, per
target, what the linter reports: ``# expect amct-9.1: C010@7`` (code at line; ``-`` for nothing). A
header line ``# model: model.layers.json`` adds the model-aware checks against that inventory (the corpus has
``model.layers.json`` and ``attributes.layers.json``, whose layers record groups, channels and bias).
protobuf's ``text_format.Merge`` on the calibration proto (the same proto as AMCT's
``calibration_config_pytorch.proto`` of v9.1.0 and of its master branch) is the oracle for what AMCT's
reader refuses before any of its own checks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from google.protobuf import text_format

from cfglang.capabilities import TARGETS
from cfglang.inventory import Inventory
from cfglang.lint import lint
from cfglang.settings import Settings

CORPUS = Path(__file__).parent / "corpus"
_EXPECT = re.compile(r"^# expect (?P<target>\S+): (?P<items>.+)$", re.MULTILINE)
_MODEL = re.compile(r"^# model: (?P<file>\S+\.layers\.json)$", re.MULTILINE)
# what protobuf's text reader itself refuses (the rest are AMCT's checks after reading)
_MERGE_REFUSES = {"F001", "F002", "F003", "F004", "F005", "F006", "F007", "F014", "F016"}


def _files() -> list[Path]:
    return sorted(CORPUS.glob("*.cfg"))


def expectations(text: str) -> dict[str, list[str]]:
    found = {m["target"]: ([] if m["items"].strip() == "-" else m["items"].split()) for m in _EXPECT.finditer(text)}
    assert set(found) == set(TARGETS), f"expected an `# expect` line for each of {', '.join(TARGETS)}"
    return found


def run(path: Path, target: str):
    text = path.read_text(encoding="utf-8")
    inventory = None
    model = _MODEL.search(text)
    if model is not None:
        inventory = Inventory.from_dict(json.loads((CORPUS / model["file"]).read_text(encoding="utf-8")))
    return lint(text, path.name, Settings(target=target), inventory)


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
@pytest.mark.parametrize("target", list(TARGETS))
def test_corpus_file_gives_exactly_its_expected_diagnostics(path: Path, target: str) -> None:
    expected = expectations(path.read_text(encoding="utf-8"))[target]
    assert [f"{d.code}@{d.span.line}" for d in run(path, target).diagnostics] == expected


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_corpus_file_names_what_it_mirrors(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# ") and ("mirrors" in first or "AMCT" in first), first


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_merge_refuses_exactly_the_files_we_say_protobuf_refuses(path: Path) -> None:
    """Our reading agrees with protobuf's: a file Merge refuses gets one of its codes, and only then."""
    from cfglang._proto import calibration_config_pytorch_pb2 as pb

    text = path.read_text(encoding="utf-8")
    codes = {item.split("@")[0] for item in expectations(text)["documented"]}
    try:
        text_format.Merge(text, pb.AMCTConfig())
        refused = False
    except text_format.ParseError:
        refused = True
    assert refused == bool(codes & _MERGE_REFUSES), sorted(codes)


def test_files_amct_accepts_have_no_error_under_their_target() -> None:
    """AMCT's own A8W4 / A16W8 test configs (mirrored) read without an error under the AMCT targets,
    and with V002 / V013 under the documented one."""
    accepted = ["ptq_a8w4", "ptq_a16w8", "ptq_rnn_a8w4", "ptq_rnn_a16w8", "int4_per_type", "dmq_balancer"]
    for stem in accepted:
        for target in ("amct-9.1", "amct-9.2"):
            errors = [d.code for d in run(CORPUS / f"{stem}.cfg", target).diagnostics if d.severity.label == "error"]
            assert errors == [], (stem, target, errors)
        documented = {d.code for d in run(CORPUS / f"{stem}.cfg", "documented").diagnostics}
        assert documented & {"V002", "V013"} or stem == "dmq_balancer", stem


def test_lstm_int16_is_a_9_2_feature() -> None:
    """capacity_config.csv gains GRU and LSTM in INT16_QUANTIZABLE_TYPES after 9.1 (commit ddf58b1)."""
    path = CORPUS / "lstm_int16_override.cfg"
    assert [d.code for d in run(path, "amct-9.1").diagnostics] == ["C010"]
    assert "int16_quantizable not support for LSTM type" in run(path, "amct-9.1").diagnostics[0].hint
    assert run(path, "amct-9.2").diagnostics == ()
