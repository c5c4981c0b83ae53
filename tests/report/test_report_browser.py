"""The report page in a real browser (headless Chromium from the distribution's packages; CI installs it):
it draws every chart with no console message and no error, loads nothing from elsewhere, and a
screenshot shows the charts. Without Chromium these tests fail: they never skip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import reportdata
from cfglang.report import load_report, render_html
from headless import dump_dom, read_png, screenshot

# the page's own colours (cfglang/html/report.css): sensitivity bars, weight bars, clipping bars
RED, BLUE, ORANGE = bytes.fromhex("cf222e"), bytes.fromhex("0969da"), bytes.fromhex("bc4c00")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(render_html(load_report(reportdata.report()), reportdata.CONFIG), encoding="utf-8")
    return path


def body_attributes(dom: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", dom).group(1)
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag))


def test_every_chart_is_drawn_without_a_console_message(page: Path, tmp_path: Path) -> None:
    dom, console = dump_dom(page, tmp_path / "profile")
    assert console == []
    body = body_attributes(dom)
    assert body.get("data-charts") == "drawn" and "data-errors" not in body, body
    # the layers chart, the chart along the network, and one histogram per layer
    assert body["data-drawn"] == str(2 + 45)
    assert dom.count('class="hist-bar"') == 45 * 48
    assert dom.count('class="clip-line"') == 2 * 45
    # a hostile layer name reached the SVG as text, not as markup
    assert "<img" not in dom
    assert "<title>head.&lt;img src=x onerror=\"alert(1)\"&gt;&amp;amp;'&lt;/script&gt; (Linear)</title>" in dom


def test_the_console_check_sees_errors_and_blocked_requests(page: Path, tmp_path: Path) -> None:
    """The page's policy refuses anything from elsewhere, and the test would see a script error."""
    html = page.read_text(encoding="utf-8")
    bad = tmp_path / "bad.html"
    bad.write_text(html.replace('<pre id="errors" hidden></pre>',
                                '<pre id="errors" hidden></pre><img src="https://example.invalid/x.png">'
                                '<script>window.notAFunction();</script>'), encoding="utf-8")
    _, console = dump_dom(bad, tmp_path / "profile")
    image, script = (next(c for c in console if what in c) for what in ("image", "inline script"))
    assert "https://example.invalid/x.png" in image and "Content Security Policy" in image
    assert "Content Security Policy" in script


def test_a_script_error_is_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page whose script fails part-way: the console shows it and the body says so."""
    import cfglang.resources

    real = cfglang.resources.data_file
    failing = tmp_path / "report.js"
    failing.write_text(real("html", "report.js").read_text(encoding="utf-8").replace(
        "const layers = data.layers;", "const layers = data.layers; null.x;"), encoding="utf-8")
    monkeypatch.setattr(cfglang.resources, "data_file",
                        lambda folder, name: failing if name == "report.js" else real(folder, name))
    page = tmp_path / "broken.html"
    page.write_text(render_html(load_report(reportdata.report()), reportdata.CONFIG), encoding="utf-8")
    dom, console = dump_dom(page, tmp_path / "profile")
    body = body_attributes(dom)
    assert body.get("data-errors") == "1" and "data-charts" not in body
    assert any("Uncaught TypeError" in c for c in console), console


def test_a_screenshot_shows_the_charts(page: Path, tmp_path: Path) -> None:
    png = tmp_path / "shot.png"
    screenshot(page, png, tmp_path / "profile", 1200, 1000)
    image = read_png(png)
    assert (image.width, image.height) == (1200, 1000)
    counts = {RED: 0, BLUE: 0, ORANGE: 0}
    white = 0
    for pixel in image.pixels():
        if pixel == b"\xff\xff\xff":
            white += 1
        elif pixel in counts:
            counts[pixel] += 1
    assert white < 0.9 * image.width * image.height  # not blank
    # every bar colour covers a good area: the charts were drawn, not only the tables
    assert min(counts.values()) > 2000, counts
