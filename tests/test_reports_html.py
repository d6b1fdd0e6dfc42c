"""The HTML report (reports.html): its content, that it fetches nothing, and a real browser.

The browser tests load the page in Debian's headless chromium: the DOM after load must hold
the tables, the console must stay silent, and the screenshot must show the coloured verdict
cells. Without /usr/bin/chromium they skip, except under CI, where chromium must be there.
"""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports.html import STYLE_FILE, html_report
from reports.results import RunDocument, load
from tests.helpers import GUEST_RUN, RUN_FILES

CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (1400, 1800)


@pytest.fixture(scope="module")
def runs() -> list[RunDocument]:
    return [load(path) for path in RUN_FILES]


@pytest.fixture(scope="module")
def page(runs: list[RunDocument]) -> str:
    return html_report(runs)


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Elements:
    elements = _Elements()
    elements.feed(page)
    elements.close()
    return elements


def article(page: str, anchor_text: str) -> str:
    """The failure article whose heading names `anchor_text` (a case id)."""
    for chunk in page.split('<article class="failure')[1:]:
        if f"<code>{anchor_text}</code>" in chunk:
            return chunk.split("</article>")[0]
    raise AssertionError(f"no failure article for {anchor_text}")


# --- the page ----------------------------------------------------------------------------


def test_page_has_runs_summary_cases_and_failures(page: str) -> None:
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    sections = [attrs.get("id") for tag, attrs in parse(page).tags if tag == "section"]
    assert sections == ["runs", "features", "cases", "differences", "failures"]
    assert page.index('<table class="matrix summary">') < page.index('<table class="matrix cases">')


def test_page_fetches_nothing(page: str) -> None:
    tags = parse(page).tags
    assert [tag for tag, attrs in tags if "src" in attrs or "srcset" in attrs] == []
    assert [tag for tag, _attrs in tags if tag in ("script", "link", "img", "iframe")] == []
    hrefs = [attrs["href"] or "" for _tag, attrs in tags if "href" in attrs]
    assert hrefs and all(href.startswith("#") for href in hrefs)  # in-page anchors only
    for needle in ("http://", "https://", "url(", "@import", "//cdn", "@font-face"):
        assert needle not in page


def test_in_page_links_reach_their_failure(page: str) -> None:
    tags = parse(page).tags
    ids = {attrs.get("id") for _tag, attrs in tags}
    targets = [attrs["href"] for tag, attrs in tags if tag == "a"]
    assert targets == ["#case-1", "#case-2", "#case-3", "#case-4"]
    assert all((target or "")[1:] in ids for target in targets)


def test_run_metadata_is_shown(page: str) -> None:
    text = " ".join(" ".join(parse(page).text).split())
    for fact in (
        "#1 SMP PREEMPT_DYNAMIC Debian 6.12.57-1 (2025-11-05)",  # kernel version
        "debian:linux-image-6.1.0-56-amd64",  # source
        "sha256:5d0c3e1f7b9a2c4e6f8091a3b5c7d9e1f20314253647586970a1b2c3d4e5f607",
        "tree:/home/dev/linux (v6.19-rc4-31-g1f2e3d4c5b6a)",
        "private-v5",
        "numa-ci-3 (x86_64), Python 3.11.7",
        "17.3 s",  # boot of the TCG run
        "61.2 s",  # its duration
        "WARNING: CPU: 1 PID: 412 at mm/mempolicy.c:2217 alloc_pages_mpol+0x1b4/0x1d0",
        "Console: no Oops, BUG, WARNING or panic.",
    ):
        assert fact in text
    runs_section = page.split('<section id="runs">')[1].split("</section>")[0]
    assert runs_section.count("<td>768 MiB</td>") == 6  # two normal nodes in each of 3 runs
    assert (
        runs_section.count("<td>cpuless</td>") == 2 and runs_section.count("<td>private</td>") == 1
    )
    assert '<span class="status bad">crashed</span>' in page
    assert page.count('<span class="status ok">ok</span>') == 2


def test_verdict_cells_are_coloured(page: str) -> None:
    assert '<td class="verdict fail"><a href="#case-1">FAIL</a></td>' in page
    assert '<td class="verdict error"><a href="#case-2">ERROR</a></td>' in page
    assert '<td class="verdict unsupported">unsupported</td>' in page
    # The summary cell of a family takes the colour of its worst verdict.
    assert '<td class="verdict fail">1 FAIL</td>' in page
    assert '<td class="verdict pass">1/1 · 1 absent</td>' in page


def test_failure_shows_expected_against_observed_per_node(page: str) -> None:
    preferred = article(page, "placement-mbind-preferred-node2")
    assert "on 6.12.57+deb13-amd64 · default" in preferred
    assert "<code>N2=256</code>" in preferred and "<code>N0=200 N2=56</code>" in preferred
    # Node 2 expected all 256 pages: the widest bar. Node 0 got 200 it should not have.
    assert '<div class="bar expected" style="width: 85.0%"></div><span class="count">256' in (
        preferred
    )
    assert (
        '<div class="bar observed differs" style="width: 66.4%"></div>'
        '<span class="count differs">200</span>'
    ) in preferred
    assert '<span class="count differs">56</span>' in preferred
    assert preferred.count('<div class="node">') == 3  # every node of the topology


def test_failure_without_pages_on_one_side_says_what_it_had(page: str) -> None:
    private = article(page, "private-set_mempolicy-preferred-node2")
    assert '<span class="count none">EINVAL</span>' in private
    assert "N2 <small>private</small>" in private
    killed = article(page, "migration-move_pages-node2")
    assert '<span class="count none">SIGKILL</span>' in killed
    assert "65,536" in killed


def test_passing_cases_get_no_picture(page: str) -> None:
    assert page.count('<article class="failure') == 4
    assert "<code>placement-mbind-bind-node0</code>" not in page.split('id="failures"')[1]


def test_text_from_the_documents_is_escaped(runs: list[RunDocument]) -> None:
    evil = "<script>alert(1)</script>"
    case = replace(runs[1].cases[3], id=f"x{evil}", message=f"a & b {evil}", area='"><marquee>')
    run = replace(
        runs[1],
        cases=(case,),
        host=replace(runs[1].host, hostname=evil),
        run=replace(runs[1].run, console_findings=(f"BUG: {evil}",)),
    )
    page = html_report([run])
    assert "<script" not in page and "<marquee>" not in page
    assert "x&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a &amp; b &lt;script&gt;" in page
    assert [tag for tag, _attrs in parse(page).tags if tag in ("script", "marquee")] == []


def test_all_passing_run_says_nothing_failed() -> None:
    page = html_report([load(GUEST_RUN)])
    assert "No case failed or errored, and every page landed as expected." in page
    assert '<td class="verdict pass">56/56</td>' in page
    assert page.count('<td class="verdict pass">pass</td>') == 56


# --- in a real browser -------------------------------------------------------------------


def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} is not installed (apt-get install --no-install-recommends chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser check: {reason}")
    pytest.skip(reason)


def test_missing_chromium_skips_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-chromium is not installed"):
        chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser check"):
        chromium()


@dataclass(frozen=True)
class BrowserRun:
    stdout: str
    console: list[str]  # lines chromium logged from the page's console


def run_chromium(page: Path, profile: Path, *extra: str) -> BrowserRun:
    command = [
        str(chromium()),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing the browser tries reaches a network
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        page.as_uri(),
    ]
    # Its own session, so a hung chromium goes with all its helper processes.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"chromium did not finish within 120 s: {' '.join(command)}")
    assert process.returncode == 0, f"chromium exited with {process.returncode}:\n{stderr}"
    console = [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return BrowserRun(stdout, console)


@pytest.fixture(scope="module")
def page_file(page: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def test_console_check_catches_a_broken_page(tmp_path: Path) -> None:
    # The detector must prove itself: a page with a script error is seen as one.
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><p>x</p><script>notAFunction();</script>", encoding="utf-8")
    run = run_chromium(broken, tmp_path / "profile", "--dump-dom")
    assert any("Uncaught ReferenceError: notAFunction" in line for line in run.console)


def test_chromium_builds_the_tables_without_console_errors(page_file: Path, tmp_path: Path) -> None:
    run = run_chromium(page_file, tmp_path / "profile", "--dump-dom")
    assert run.console == []
    dom = run.stdout
    assert '<table class="matrix summary">' in dom and '<table class="matrix cases">' in dom
    assert dom.count('<article class="failure') == 4
    assert "placement-mbind-preferred-node2" in dom


def test_screenshot_shows_the_coloured_tables(page_file: Path, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    width, height = WINDOW
    run = run_chromium(
        page_file,
        tmp_path / "profile",
        f"--screenshot={shot}",
        f"--window-size={width},{height}",
    )
    assert run.console == []
    assert shot.exists() and shot.stat().st_size > 10_000
    image = read_png(shot)
    assert (image.width, image.height) == WINDOW
    colours = image.colours()
    assert len(colours) > 50, "a blank or near-blank screenshot"
    white_share = colours.get((255, 255, 255), 0) / sum(colours.values())
    assert white_share < 0.9, f"{white_share:.0%} of the page is white"
    # The verdict cells' backgrounds, exactly as the stylesheet gives them, are on screen.
    for name in ("pass-bg", "fail-bg", "error-bg", "unsup-bg"):
        assert css_colour(name) in colours, f"no {name} pixel in the screenshot"


# --- a PNG reader, just enough for chromium's screenshots --------------------------------


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    channels: int  # 3 (RGB) or 4 (RGBA)
    rows: list[bytes]

    def colours(self) -> Counter[tuple[int, int, int]]:
        """RGB colours of every other pixel of every other row, counted."""
        found: Counter[tuple[int, int, int]] = Counter()
        step = 2 * self.channels
        for row in self.rows[::2]:
            for x in range(0, len(row), step):
                found[(row[x], row[x + 1], row[x + 2])] += 1
        return found


def read_png(path: Path) -> Png:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    position, header, compressed = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length  # length, type, body, CRC
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            compressed += body
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour_type not in (2, 6) or interlace:
        pytest.fail(f"unexpected PNG format: depth {depth}, colour type {colour_type}")
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(compressed)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(
            raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels
        )
        rows.append(bytes(row))
        previous = row
    return Png(width, height, channels, rows)


def _unfilter(kind: int, row: bytearray, above: bytearray, channels: int) -> bytearray:
    """Undo one row's PNG filter (None, Sub, Up, Average, Paeth)."""
    if kind == 0:
        return row
    for x in range(len(row)):
        left = row[x - channels] if x >= channels else 0
        up = above[x]
        up_left = above[x - channels] if x >= channels else 0
        if kind == 1:
            row[x] = (row[x] + left) & 0xFF
        elif kind == 2:
            row[x] = (row[x] + up) & 0xFF
        elif kind == 3:
            row[x] = (row[x] + (left + up) // 2) & 0xFF
        else:
            estimate = left + up - up_left
            a, b, c = abs(estimate - left), abs(estimate - up), abs(estimate - up_left)
            row[x] = (row[x] + (left if a <= b and a <= c else up if b <= c else up_left)) & 0xFF
    return row


def css_colour(name: str) -> tuple[int, int, int]:
    """A colour the stylesheet defines, e.g. --fail-bg: #ffebe9."""
    found = re.search(rf"--{name}:\s*#([0-9a-fA-F]{{6}})", STYLE_FILE.read_text(encoding="utf-8"))
    assert found, f"report.css defines no --{name}"
    value = found.group(1)
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))
