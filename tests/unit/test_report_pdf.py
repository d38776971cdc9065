"""``report --format pdf`` without a browser: one clear line, exit 1, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.report.pdf import ENV, find_browser
from tests.report_journals import known_journal


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return known_journal(tmp_path / "journal.sqlite3").path


def test_pdf_without_any_browser_says_so_in_one_line(
    journal: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No Chromium on PATH: exit 1, one error line naming what to install, no file."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no browser on it
    out = tmp_path / "report.pdf"
    code = main(["report", "-j", str(journal), "--format", "pdf", "-o", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--format pdf needs Chromium or Chrome" in err
    assert "chromium" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_pdf_with_a_configured_browser_that_is_missing_names_it(
    journal: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A PUMPCTL_CHROMIUM that is not an executable is named in the one error line."""
    monkeypatch.setenv(ENV, str(tmp_path / "no-such-browser"))
    code = main(["report", "-j", str(journal), "--format", "pdf", "-o", str(tmp_path / "r.pdf")])
    assert code == 1
    err = capsys.readouterr().err
    assert f"{ENV}={tmp_path / 'no-such-browser'} is not an executable file" in err
    assert err.count("\n") == 1


def test_browser_is_found_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first Chromium-like executable on PATH is the one used."""
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_browser() == fake


def test_a_browser_that_prints_nothing_is_an_error_not_an_empty_pdf(
    journal: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A browser that exits without writing a PDF gives one error line, exit 1, no file."""
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv(ENV, str(fake))
    out = tmp_path / "r.pdf"
    code = main(["report", "-j", str(journal), "--format", "pdf", "-o", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "did not print the report (exit 3): cannot open display" in err
    assert not out.exists()
