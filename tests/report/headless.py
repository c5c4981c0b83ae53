"""Headless Chromium for the report tests: the page's DOM after its script ran, its console, a screenshot,
and a small PNG reader (no imaging library needed) to look at the screenshot's pixels."""

from __future__ import annotations

import shutil
import sys
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["chromium", "dump_dom", "screenshot", "Image", "read_png", "write_indexed_png"]

# the distribution's package (Debian: `chromium`; others name the same browser differently)
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
          "--disable-extensions", "--mute-audio", "--disable-dev-shm-usage")


def chromium() -> str:
    """The browser's executable; an AssertionError naming the package when there is none."""
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("no headless Chromium: install the distribution's package "
                         "(`apt-get install -y --no-install-recommends chromium`, as .ci/run does)")


def _run(page: Path, profile: Path, *flags: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *flags,
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=timeout, check=False)


def dump_dom(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the messages the page wrote to its console (Chromium logs
    each as ``CONSOLE(line)``), errors included."""
    done = _run(page, profile, "--dump-dom", "--virtual-time-budget=5000")
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return done.stdout, console


def screenshot(page: Path, png: Path, profile: Path, width: int, height: int) -> None:
    done = _run(page, profile, f"--screenshot={png.resolve()}", f"--window-size={width},{height}",
                "--virtual-time-budget=5000")
    assert done.returncode == 0 and png.is_file(), done.stderr[-2000:]


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    rows: list[bytes]  # RGBA or RGB, unfiltered
    channels: int

    def pixels(self):
        for row in self.rows:
            for x in range(0, len(row), self.channels):
                yield row[x:x + 3]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def read_png(path: Path) -> Image:
    """An 8-bit RGB or RGBA PNG, non-interlaced (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat, header = 8, [], None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        chunk = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        at += 12 + length
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 4 if color == 6 else 3
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, previous = [], bytes(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, previous))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                up_left = previous[i - channels] if i >= channels else 0
                line[i] = (line[i] + _paeth(left, previous[i], up_left)) & 255
        previous = bytes(line)
        rows.append(previous)
    return Image(width, height, rows, channels)


def write_indexed_png(image: Image, path: Path) -> None:
    """``image`` as a palette PNG (a page's flat colours fit in 256; the rarest, anti-aliasing shades, take
    their nearest kept colour): a fraction of the size of the browser's RGB file."""
    counts: dict[bytes, int] = {}
    for pixel in image.pixels():
        counts[pixel] = counts.get(pixel, 0) + 1
    palette = sorted(counts, key=counts.__getitem__, reverse=True)[:256]
    index = {colour: i for i, colour in enumerate(palette)}
    for colour in counts:
        if colour not in index:
            index[colour] = min(range(len(palette)),
                                key=lambda i: sum((a - b) ** 2 for a, b in zip(colour, palette[i])))
    raw = bytearray()
    for row in image.rows:
        raw.append(0)
        raw += bytes(index[row[x:x + 3]] for x in range(0, len(row), image.channels))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", image.width, image.height, 8, 3, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"PLTE", b"".join(palette)) + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
                     + chunk(b"IEND", b""))


def main(argv: list[str]) -> int:
    """``headless.py OUT.png [REPORT.json CONFIG]``: a screenshot of a report's page (default: the tests'
    realistic report), as docs/images/report.png is made."""
    import tempfile

    from cfglang.report import load_report, render_html

    if len(argv) not in (1, 3):
        print("usage: headless.py OUT.png [REPORT.json CONFIG]", file=sys.stderr)
        return 2
    if len(argv) == 3:
        report, config = load_report(argv[1]), Path(argv[2]).read_text(encoding="utf-8")
    else:
        import reportdata

        report, config = load_report(reportdata.report()), reportdata.CONFIG
    with tempfile.TemporaryDirectory() as work:
        page, shot = Path(work) / "report.html", Path(work) / "shot.png"
        page.write_text(render_html(report, config), encoding="utf-8")
        screenshot(page, shot, Path(work) / "profile", 1280, 1500)
        write_indexed_png(read_png(shot), Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' shared helpers (reportdata)
    raise SystemExit(main(sys.argv[1:]))
