"""Benchmark: didChange -> publishDiagnostics of the real `amct lsp` process.

Starts ``python -m amct_cli lsp --debounce-ms 0`` (so no debounce delay is
counted), opens a generated config of about 2 KB and one of about 100 KB, then
sends one-character edits (incremental sync, as editors do) and times each
until the diagnostics for that document version arrive: near the top of the
file, inside an override entry in the middle, and one that breaks and mends
a string (half of those versions have a syntax error and are linted in full);
and the first two again for the large file with a `# amct: layers=` header
naming an inventory of its layers, so that model-aware diagnostics are on.
The peer is a full ``cfglang.lint.lint`` of the same text in this process, what
the server did for every edit before it linted incrementally.

``--first-open`` measures something else: how long the first ``didOpen`` of a
large document (1, 4 and 15 MB, below the 16 MiB size limit) takes until its
diagnostics arrive, against ``amct lint FILE`` on the same text as a process
(start-up included, as a user runs it); the target is at most 1.5 times. Then
the median of five one-character edits in the middle of that document.

    python bench/lsp.py [--repeat N] [--json]
    python bench/lsp.py --first-open [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

_BLOCK = """override_layer_configs {{
  layer_name: "features.{i}.conv"
  calibration_config {{
    arq_quantize {{ channel_wise: true quant_bits: 8 }}
    ifmr_quantize {{ search_range_start: 0.7 search_range_end: 1.3 search_step: 0.01 asymmetric: false }}
  }}
}}
"""
_HEAD = """# proto-message: AMCTConfig
batch_num: 1
activation_offset: true
skip_layers: "classifier.fc"
common_config {
  arq_quantize { channel_wise: true }
  ifmr_quantize { max_percentile: 0.999999 min_percentile: 0.999999 }
}
"""


def config_of_size(size: int) -> str:
    """A valid config of about ``size`` bytes (a head, then override blocks)."""
    parts = [_HEAD]
    total, i = len(_HEAD), 0
    while total < size:
        block = _BLOCK.format(i=i)
        parts.append(block)
        total += len(block)
        i += 1
    return "".join(parts)


class Server:
    """The server process and a reader thread that timestamps every message."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "amct_cli", "lsp", "--debounce-ms", "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT,
        )
        self.messages: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while stream is not None:
            length = 0
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = stream.read(length)
            self.messages.put((time.perf_counter(), json.loads(body)))

    def send(self, method: str, params: Any, request: bool = False) -> int | None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        msg_id = None
        if request:
            self._next_id += 1
            msg_id = message["id"] = self._next_id
        body = json.dumps(message).encode("utf-8")
        stdin = self.process.stdin
        if stdin is None:
            raise RuntimeError("the server's stdin is closed")
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()
        return msg_id

    def wait(self, match, timeout: float = 30.0) -> tuple[float, dict[str, Any]]:
        deadline = time.perf_counter() + timeout
        while True:
            at, message = self.messages.get(timeout=max(deadline - time.perf_counter(), 0.001))
            if match(message):
                return at, message

    def request(self, method: str, params: Any) -> dict[str, Any]:
        msg_id = self.send(method, params, request=True)
        return self.wait(lambda m: m.get("id") == msg_id and "method" not in m)[1]

    def close(self) -> None:
        self.request("shutdown", None)
        self.send("exit", None)
        self.process.wait(timeout=10)


def _diagnostics_for(uri: str, version: int):
    def match(message: dict[str, Any]) -> bool:
        params = message.get("params") or {}
        return (message.get("method") == "textDocument/publishDiagnostics" and params.get("uri") == uri
                and params.get("version") == version)
    return match


def _edits(text: str, where: str, count: int) -> list[tuple[int, int, int, str]]:
    """``count`` one-character edits as (line, start character, end character, new text), each a real change.

    ``head``: `batch_num: 1` -> `batch_num: N` near the top; ``entry``: a `quant_bits` digit of the override
    entry in the middle of the file; ``syntax``: a closing quote of that entry deleted and typed again, so
    that every other version has a syntax error (each of those is linted in full).
    """
    lines = text.splitlines()
    if where == "head":
        line = lines.index("batch_num: 1")
        return [(line, 11, 12, str(v % 9 + 1)) for v in range(count)]
    middle = len(lines) // 2
    if where == "entry":
        line = next(i for i in range(middle, len(lines)) if "quant_bits: 8" in lines[i])
        column = lines[line].index("quant_bits: 8") + len("quant_bits: ")
        return [(line, column, column + 1, "7" if v % 2 == 0 else "8") for v in range(count)]
    line = next(i for i in range(middle, len(lines)) if "layer_name:" in lines[i])
    column = lines[line].rindex('"')
    return [(line, column, column + 1, "") if v % 2 == 0 else (line, column, column, '"') for v in range(count)]


def time_server(server: Server, name: str, text: str, edits: list[tuple[int, int, int, str]]) -> list[float]:
    uri = (ROOT / "bench" / f"{name}.cfg").as_uri()
    server.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "amct-cfg", "version": 1,
                                                          "text": text}})
    server.wait(_diagnostics_for(uri, 1))
    times = []
    for version, (line, start, end, new) in enumerate(edits, 2):
        change = {"range": {"start": {"line": line, "character": start}, "end": {"line": line, "character": end}},
                  "text": new}
        sent = time.perf_counter()
        server.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": [change]})
        arrived, _ = server.wait(_diagnostics_for(uri, version))
        times.append(arrived - sent)
    server.send("textDocument/didClose", {"textDocument": {"uri": uri}})
    return times


def with_inventory(text: str, folder: Path) -> tuple[str, Any]:
    """The text with a `# amct: layers=` header naming an inventory of its layers (written to ``folder``)."""
    from cfglang.inventory import Inventory

    names = [line.split('"')[1] for line in text.splitlines() if line.strip().startswith("layer_name:")]
    data = {"version": 1, "layers": [{"name": n, "type": "Conv2d"} for n in names]
            + [{"name": "classifier.fc", "type": "Linear"}]}
    path = folder / "layers.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return f"# amct: layers={path}\n" + text, Inventory.from_dict(data)


def time_peer(text: str, repeat: int, inventory: Any = None) -> list[float]:
    from cfglang.lint import lint

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        lint(text, "bench.cfg", None, inventory)
        times.append(time.perf_counter() - start)
    return times


FIRST_OPEN_MB = (1, 4, 15)
FIRST_OPEN_TARGET = 1.5  # times `amct lint FILE`
FIRST_OPEN_EDITS = 5


def time_lint_process(path: Path) -> float:
    """Wall time of ``amct lint FILE`` as a process (the same interpreter and checkout as the server)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "amct_cli", "lint", str(path)], env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def first_open(folder: Path, repeat: int) -> list[dict[str, Any]]:
    """didOpen -> publishDiagnostics of a fresh server per size, against `amct lint` of the same file; medians
    of ``repeat`` rounds, each round one of each (so that a busy moment weighs on both)."""
    rows = []
    for megabytes in FIRST_OPEN_MB:
        text = config_of_size(megabytes * 1_000_000)
        path = folder / f"first-open-{megabytes}mb.cfg"
        path.write_text(text, encoding="utf-8")
        rounds = [_open_round(path, text) for _ in range(repeat)]
        lint_s = statistics.median(r[0] for r in rounds)
        open_s = statistics.median(r[1] for r in rounds)
        edits = [e for r in rounds for e in r[2]]
        rows.append({"megabytes": megabytes, "bytes": len(text.encode()), "first_open_s": round(open_s, 2),
                     "amct_lint_s": round(lint_s, 2), "ratio": round(open_s / lint_s, 2),
                     "ratios": [round(r[1] / r[0], 2) for r in rounds],
                     "edit_median_s": round(statistics.median(edits), 3),
                     "within_target": open_s <= FIRST_OPEN_TARGET * lint_s})
    return rows


def _open_round(path: Path, text: str) -> tuple[float, float, list[float]]:
    """One round: `amct lint FILE`, then a fresh server's first open and a few edits."""
    lint_s = time_lint_process(path)
    server = Server()  # fresh: nothing cached from an earlier document
    try:
        server.request("initialize", {"processId": os.getpid(), "rootUri": ROOT.as_uri(), "capabilities": {}})
        server.send("initialized", {})
        uri = path.as_uri()
        sent = time.perf_counter()
        server.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "amct-cfg",
                                                              "version": 1, "text": text}})
        arrived, _ = server.wait(_diagnostics_for(uri, 1), timeout=600)
        edits = []  # then a few one-character edits in the middle, as while typing
        for version, (line, start, end, new) in enumerate(_edits(text, "entry", FIRST_OPEN_EDITS), 2):
            change = {"range": {"start": {"line": line, "character": start},
                                "end": {"line": line, "character": end}}, "text": new}
            edit_sent = time.perf_counter()
            server.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                   "contentChanges": [change]})
            edit_arrived, _ = server.wait(_diagnostics_for(uri, version), timeout=600)
            edits.append(edit_arrived - edit_sent)
    finally:
        server.close()
    return lint_s, arrived - sent, edits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=60, help="edits per case (default 60)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--first-open", action="store_true",
                        help=f"time the first open of {', '.join(map(str, FIRST_OPEN_MB))} MB documents instead")
    parser.add_argument("--open-repeat", type=int, default=3, help="rounds per size with --first-open (default 3)")
    args = parser.parse_args()
    if args.first_open:
        with tempfile.TemporaryDirectory() as folder:
            rows = first_open(Path(folder), args.open_repeat)
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}")
        print(f"{'MB':>4}{'bytes':>11}{'first open s':>14}{'amct lint s':>13}{'ratio':>7}{'edit s':>8}"
              f"  target <= {FIRST_OPEN_TARGET}; medians of {args.open_repeat} rounds")
        for row in rows:
            print(f"{row['megabytes']:>4}{row['bytes']:>11}{row['first_open_s']:>14.2f}{row['amct_lint_s']:>13.2f}"
                  f"{row['ratio']:>7.2f}{row['edit_median_s']:>8.3f}  rounds {row['ratios']}"
                  f"{'' if row['within_target'] else '  (over target)'}")
        return 0

    cases = [("small", 2_000, "head", 0.010), ("large", 100_000, "head", 0.050),
             ("large", 100_000, "entry", 0.050), ("large", 100_000, "syntax", None),
             ("large+inventory", 100_000, "head", 0.050), ("large+inventory", 100_000, "entry", 0.050)]
    folder = tempfile.TemporaryDirectory()
    server = Server()
    server.request("initialize", {"processId": os.getpid(), "rootUri": ROOT.as_uri(), "capabilities": {}})
    server.send("initialized", {})
    rows = []
    try:
        for n, (name, size, where, target) in enumerate(cases):
            text, inventory = config_of_size(size), None
            if name.endswith("+inventory"):  # model-aware: every override names a layer of the model
                text, inventory = with_inventory(text, Path(folder.name))
            served = statistics.median(time_server(server, f"{n}", text, _edits(text, where, args.repeat)))
            peer = statistics.median(time_peer(text, args.repeat, inventory))
            rows.append({"document": name, "edit": where, "bytes": len(text.encode()),
                         "median_ms": round(served * 1000, 2), "lint_median_ms": round(peer * 1000, 2),
                         "ratio": round(served / peer, 3), "target_ms": target and target * 1000,
                         "within_target": target is None or served <= target})
    finally:
        server.close()
        folder.cleanup()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}")
    print(f"{'document':<17}{'edit':<8}{'bytes':>9}{'server ms':>11}{'full lint ms':>14}{'ratio':>7}{'target':>8}")
    for row in rows:
        target = f"<= {int(row['target_ms'])}" if row["target_ms"] else "-"
        print(f"{row['document']:<17}{row['edit']:<8}{row['bytes']:>9}{row['median_ms']:>11.2f}"
              f"{row['lint_median_ms']:>14.2f}{row['ratio']:>7.2f}{target:>8}"
              f"{'' if row['within_target'] else '  (over target)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
