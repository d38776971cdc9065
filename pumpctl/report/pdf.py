"""PDF: the HTML report printed by a headless Chromium, so the PDF is the page a browser prints.

No Python PDF library is needed (and none of their layout engines re-implements the page): the
report is one self-contained HTML file whose CSS sets A4 portrait, margins and the page footer
(subject, period, "page N of M"), and Chromium's own print path lays it out. The price is a
browser on the machine; without one, ``--format pdf`` says so in one line and exits 1, and the
HTML report prints the same pages from any browser.

The browser is ``$PUMPCTL_CHROMIUM`` if set, else the first of :data:`BROWSERS` on ``PATH``. It
runs with a throw-away profile, no network services, and renders a page that fetches nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pumpctl.errors import PumpctlError
from pumpctl.report.html import render_html
from pumpctl.report.model import Report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ENV = "PUMPCTL_CHROMIUM"
TIMEOUT_S = 180.0
FLAGS = (
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-pdf-header-footer",  # the page's own CSS footer names the subject and the page
)


class BrowserError(PumpctlError):
    """No browser to print with, or the browser failed to print."""


def find_browser() -> Path | None:
    """``$PUMPCTL_CHROMIUM`` if set (it must exist), else the first Chromium on ``PATH``."""
    configured = os.environ.get(ENV)
    if configured:
        path = Path(configured)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def require_browser() -> Path:
    browser = find_browser()
    if browser is None:
        where = (
            f"{ENV}={os.environ[ENV]} is not an executable file"
            if os.environ.get(ENV)
            else f"none of {', '.join(BROWSERS)} is on PATH"
        )
        raise BrowserError(
            f"--format pdf needs Chromium or Chrome to print the report ({where}); install the "
            f"`chromium` package or set {ENV}, or write --format html and print it from a browser"
        )
    return browser


def print_pdf(html_file: Path, output: Path, browser: Path | None = None) -> None:
    """Print ``html_file`` to ``output`` (A4, as its CSS says) with headless Chromium."""
    browser = browser or require_browser()
    flags = list(FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to start as root with its sandbox; the page is our own, script-free
        # and fetches nothing.
        flags.append("--no-sandbox")
    with tempfile.TemporaryDirectory(prefix="pumpctl-pdf-") as profile:
        target = Path(profile) / "report.pdf"
        command = [
            str(browser),
            *flags,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={target}",
            html_file.resolve().as_uri(),
        ]
        try:
            result = subprocess.run(  # noqa: S603  (a browser binary found above, fixed flags)
                command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise BrowserError(f"{browser} could not print the report: {err}") from err
        if not target.is_file() or not target.read_bytes().startswith(b"%PDF-"):
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise BrowserError(
                f"{browser} did not print the report (exit {result.returncode}): {last}"
            )
        shutil.move(str(target), output)


def write_pdf(report: Report, output: Path) -> None:
    browser = require_browser()  # before any work: a missing browser is one line, at once
    with tempfile.TemporaryDirectory(prefix="pumpctl-report-") as work:
        page = Path(work) / "report.html"
        page.write_text(render_html(report), encoding="utf-8")
        print_pdf(page, output, browser)
