"""The HTML report in a real headless Chromium: loads cleanly, offline, with its key elements.

Console messages come from Chromium's own log (``--enable-logging=stderr``: every console call
and uncaught error is a ``CONSOLE`` line); the page's network requests from its net log, told
apart from the browser's background traffic by their ``file://`` isolation key.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pumpctl.report import write_report
from tests.report_journals import known_journal

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
TIMEOUT_S = 90

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is absent (Debian package `chromium`; .ci/run installs it)",
)


@dataclass(frozen=True)
class Load:
    dom: str
    console: list[str]
    page_requests: list[str]


def _load(page: Path, work: Path) -> Load:
    """Open ``page`` once; return its DOM, console lines and the URLs the page itself fetched."""
    net_log = work / "net.json"
    result = subprocess.run(
        [
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={work / 'profile-dom'}",
            "--enable-logging=stderr",
            "--v=0",
            f"--log-net-log={net_log}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    requests: list[str] = []
    for event in json.loads(net_log.read_text(encoding="utf-8"))["events"]:
        params = event.get("params", {})
        url = str(params.get("url", ""))
        key = str(params.get("network_isolation_key", ""))
        if key.startswith("file://") and not url.startswith(("file:", "data:")):
            requests.append(url)
    return Load(result.stdout, console, requests)


def _screenshot(page: Path, work: Path) -> Path:
    shot = work / "report.png"
    subprocess.run(
        [
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={work / 'profile-shot'}",
            f"--screenshot={shot}",
            "--window-size=900,1400",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    return shot


def test_report_loads_offline_without_console_errors_and_screenshots(tmp_path: Path) -> None:
    """The report page logs nothing, fetches nothing, has its key elements and renders."""
    known = known_journal(tmp_path / "journal.sqlite3")
    page = write_report(known.path, "html", tmp_path / "report.html")
    load = _load(page, tmp_path)
    assert load.console == []
    assert load.page_requests == []
    for element in (
        'id="integrity"',
        'id="identity"',
        'id="subject"',
        'id="changes"',
        'id="safety"',
        'id="fig-pulse-map"',
        'id="fig-exposure"',
        'id="fig-interval-histogram"',
        'id="fig-daily-dose"',
        'id="days"',
        'id="numbers"',
        'id="alarms"',
        'id="suspensions"',
    ):
        assert element in load.dom, element
    assert len(re.findall(r"<svg[ >]", load.dom)) == 4
    shot = _screenshot(page, tmp_path)
    header = shot.read_bytes()[:8]
    assert header == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_report_prints_on_a4_pages(tmp_path: Path) -> None:
    """Printed by Chromium, the report comes out as A4 pages (595 × 842 pt), as its CSS asks."""
    known = known_journal(tmp_path / "journal.sqlite3")
    page = write_report(known.path, "html", tmp_path / "report.html")
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile-pdf'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    boxes = re.findall(rb"MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes
    for width, height in boxes:
        assert (round(float(width)), round(float(height))) == (595, 842)


def test_the_browser_checks_catch_console_errors_and_fetches(tmp_path: Path) -> None:
    """The console and network checks above do fail on a page with an error and a fetch."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png">'
        "<script>console.error('boom');</script></body></html>",
        encoding="utf-8",
    )
    load = _load(page, tmp_path)
    assert any('"boom"' in line for line in load.console)
    assert "http://127.0.0.1:9/x.png" in load.page_requests
