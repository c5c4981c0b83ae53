"""Headless Chromium for the report tests: the page's DOM after its script ran, its console, a screenshot,
and a small PNG reader (no imaging library needed) to look at the screenshot's pixels."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["chromium", "dump_dom", "screenshot", "Image", "read_png"]

# the distribution's package (Debian: `chromium`; others name the same browser differently)
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
          "--disable-extensions", "--mute-audio")


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
