"""Which `report.json` files the language server reads for a document (cfglang/lsp/reports.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import reportdata
from cfglang.lsp.reports import find_reports, pick


def write(folder: Path, config: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = reportdata.report(with_tune=False)
    data["config"]["path"] = config
    (folder / "report.json").write_text(json.dumps(data), encoding="utf-8")
    return folder / "report.json"


def test_reports_below_the_document_up_to_two_levels(tmp_path: Path) -> None:
    config = tmp_path / "quant.cfg"
    config.write_text(reportdata.CONFIG, encoding="utf-8")
    found = {write(tmp_path, "quant.cfg"), write(tmp_path / "a", "../quant.cfg"),
             write(tmp_path / "a" / "b", "../../quant.cfg")}
    write(tmp_path / "a" / "b" / "c", "../../../quant.cfg")  # three levels down
    write(tmp_path / ".hidden", "../quant.cfg")
    write(tmp_path / "other", "../other.cfg")  # another file's
    outside = write(tmp_path.parent / f"{tmp_path.name}-elsewhere", f"../{tmp_path.name}/quant.cfg")
    os.symlink(outside.parent, tmp_path / "linked")  # a folder by a link
    (tmp_path / "d").mkdir()
    os.symlink(outside, tmp_path / "d" / "report.json")  # a report by a link
    notes: list[str] = []
    assert {f.path for f in find_reports(str(config), None, notes)} == found
    assert notes == []


def test_a_report_over_the_size_limit_is_a_note(tmp_path: Path) -> None:
    config = tmp_path / "quant.cfg"
    write(tmp_path / "out", "../quant.cfg")
    notes: list[str] = []
    assert find_reports(str(config), 1000, notes) == []
    assert len(notes) == 1 and "sensitivity report not used: cannot read report" in notes[0]
    assert "limit of 1000" in notes[0]


def test_the_report_of_the_current_text_wins_over_a_newer_one(tmp_path: Path) -> None:
    config = tmp_path / "quant.cfg"
    current = write(tmp_path / "current", "../quant.cfg")
    newer = write(tmp_path / "newer", "../quant.cfg")
    data = json.loads(newer.read_text(encoding="utf-8"))
    data["config"]["sha256"] = "1" * 64
    newer.write_text(json.dumps(data), encoding="utf-8")
    os.utime(current, ns=(1, 1))
    found = find_reports(str(config), None, [])
    assert pick(found, reportdata.CONFIG).path == current
    assert pick(found, "# another text\n").path == newer  # none is fresh: the newest
