"""The report as a clinician sees it: opened and printed by a real headless Chromium.

Journals of one day, 30 days and a year come from ``pumpctl simulate`` (the daemon's own code on
a virtual clock, with random pump faults); each report is loaded, measured as printed on A4,
screenshot, and printed to PDF by ``pumpctl report --format pdf``. Set PUMPCTL_REPORT_SHOTS to a
folder to keep the screenshots and PDFs for a look.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pumpctl.report import write_report
from tests.browser import (
    A4_TEXT_WIDTH_PX,
    CHROMIUM,
    HEADERS_NOT_REPEATED,
    LAYOUT_PROBLEMS,
    Browser,
    pdf_pages,
)
from tests.report_journals import known_journal

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is absent (Debian package `chromium`; .ci/run installs it)",
)

A4_POINTS = (595, 842)
#: A4 less the report's 14 mm top and 16 mm bottom margins, in CSS px: one printed page's height.
A4_TEXT_HEIGHT_PX = round((297 - 14 - 16) / 25.4 * 96)


@dataclass(frozen=True)
class Period:
    name: str
    days: int
    seed: int
    fault_rate: str
    pages: tuple[int, int]  # printed page count bounds (inclusive)


PERIODS = (
    Period("1-day", 1, 5, "0.05", (2, 4)),
    Period("30-days", 30, 7, "0.02", (3, 6)),
    Period("1-year", 365, 11, "0.005", (4, 9)),
)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One simulated journal per period (a year takes about a minute)."""
    out = tmp_path_factory.mktemp("simulated")
    journals = {}
    for period in PERIODS:
        journal = out / f"{period.name}.sqlite3"
        subprocess.run(
            [sys.executable, "-m", "pumpctl", "simulate", "--days", str(period.days),
             "--seed", str(period.seed), "--fault-rate", period.fault_rate, "-j", str(journal)],
            check=True,
            capture_output=True,
            timeout=600,
        )  # fmt: skip
        journals[period.name] = journal
    return journals


def _keep(path: Path) -> None:
    folder = os.environ.get("PUMPCTL_REPORT_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


def test_report_loads_offline_without_console_errors(tmp_path: Path) -> None:
    """The page logs nothing, fetches nothing, and has its key elements."""
    known = known_journal(tmp_path / "journal.sqlite3")
    page_file = write_report(known.path, "html", tmp_path / "report.html")
    with Browser(tmp_path / "profile") as browser:
        page = browser.open(page_file.as_uri())
        assert page.console() == []
        assert page.requests() == []
        ids = page.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)")
        for element in ("integrity", "identity", "prescription", "keys", "safety",
                        "fig-pulse-map", "fig-daily-dose", "fig-exposure",
                        "fig-interval-histogram", "days", "exceptions", "alarms",
                        "suspensions", "changes", "numbers"):  # fmt: skip
            assert element in ids, element
        assert page.evaluate("document.querySelectorAll('svg').length") == 4


def test_the_page_checks_catch_console_errors_fetches_and_cut_tables(tmp_path: Path) -> None:
    """The console, network and layout checks do fail on a page with an error, a fetch and a
    table wider than the printed page."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png">'
        "<script>console.error('boom');</script>"
        '<table id="wide"><tr><td style="white-space:nowrap">' + "a very long cell " * 20
        + "</td></tr></table></body></html>",
        encoding="utf-8",
    )  # fmt: skip
    with Browser(tmp_path / "profile") as browser:
        page = browser.open(bad.as_uri(), width=A4_TEXT_WIDTH_PX)
        page.media("print")
        assert any("boom" in line for line in page.console())
        assert "http://127.0.0.1:9/x.png" in page.requests()
        assert any(p.startswith("TABLE#wide") for p in page.evaluate(LAYOUT_PROBLEMS))


@pytest.mark.timeout(900)  # the first one simulates a year for the fixture (a minute, idle)
@pytest.mark.parametrize("period", PERIODS, ids=[p.name for p in PERIODS])
def test_report_of_a_period_fits_a4_and_prints_within_its_page_bounds(
    period: Period, simulated: dict[str, Path], tmp_path: Path
) -> None:
    """Printed on A4 portrait: no table or figure wider than the page, every header repeats,
    page 1 holds the whole at-a-glance section, and the PDF has A4 pages within bounds."""
    journal = simulated[period.name]
    html = write_report(journal, "html", tmp_path / f"report-{period.name}.html")
    with Browser(tmp_path / "profile") as browser:
        page = browser.open(html.as_uri())
        assert page.console() == []
        assert page.requests() == []
        _keep(page.screenshot(tmp_path / f"report-{period.name}.png"))
        page.size(A4_TEXT_WIDTH_PX, 1000)
        page.media("print")
        assert page.evaluate(LAYOUT_PROBLEMS) == []
        assert page.evaluate(HEADERS_NOT_REPEATED) == []
        glance_bottom = page.evaluate("document.getElementById('glance').offsetHeight")
        assert glance_bottom <= A4_TEXT_HEIGHT_PX
    shot = tmp_path / f"report-{period.name}.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 40_000  # a rendered page with figures, not a blank one
    pdf = write_report(journal, "pdf", tmp_path / f"report-{period.name}.pdf")
    _keep(pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = pdf_pages(data)
    low, high = period.pages
    assert low <= len(pages) <= high, len(pages)
    assert {(round(w), round(h)) for w, h in pages} == {A4_POINTS}


@pytest.mark.timeout(900)  # shares the simulated journals (the year takes about a minute)
@pytest.mark.parametrize(("name", "bars"), [("1-day", (0, 0)), ("1-year", (52, 54))])
def test_pituitary_section_reads_from_a_day_to_a_year(
    name: str, bars: tuple[int, int], simulated: dict[str, Path], tmp_path: Path
) -> None:
    """``report --pituitary``: the model's section loads offline without errors, fits A4 with
    its table's header repeated, says "model" in its heading and caption; a day is drawn as a
    curve and a bar per pulse, a year as one bar per week (52 or 53, never a solid block)."""
    html = write_report(simulated[name], "html", tmp_path / f"pit-{name}.html", pituitary=True)
    with Browser(tmp_path / "profile") as browser:
        page = browser.open(html.as_uri())
        assert page.console() == []
        assert page.requests() == []
        _keep(page.screenshot(tmp_path / f"report-pituitary-{name}.png"))
        heading = page.evaluate("document.querySelector('#pituitary h2').textContent")
        assert heading == "Predicted pituitary response (model, not a measurement)"
        caption = page.evaluate("document.querySelector('#fig-pituitary figcaption').textContent")
        assert caption.startswith("MODEL, not a measurement")
        weekly = page.evaluate(
            'document.querySelectorAll(\'#fig-pituitary rect[fill="#1b7837"],'
            ' #fig-pituitary rect[fill="#b2182b"]\').length'
        )
        paths = page.evaluate("document.querySelectorAll('#fig-pituitary path').length")
        if bars == (0, 0):  # a day: the release curve, and one bar per pulse
            assert paths >= 1
            assert weekly >= 10
        else:
            assert bars[0] <= weekly - 1 <= bars[1]  # less the legend's box
        page.size(A4_TEXT_WIDTH_PX, 1000)
        page.media("print")
        assert page.evaluate(LAYOUT_PROBLEMS) == []
        assert page.evaluate(HEADERS_NOT_REPEATED) == []
