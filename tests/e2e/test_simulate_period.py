"""``pumpctl simulate`` simulates the period it says, from the anchor, or refuses (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumpctl.cli import main

CONFIG = """
[prescription]
dose_ug = 5
concentration_ug_per_ml = 1000
interval_min = 90
pulse_duration_s = 60
anchor = "{anchor}"
timezone = "Europe/Berlin"

[pump]
driver = "ne1000"
url = "socket://127.0.0.1:7777"
syringe_diameter_mm = 4.78
syringe_volume_ul = 1000
safe_mode_timeout_s = 255

[journal]
state_dir = "{state}"
"""


def config(tmp_path: Path, anchor: str) -> Path:
    path = tmp_path / "pump.toml"
    path.write_text(CONFIG.format(anchor=anchor, state=tmp_path / "state"), encoding="utf-8")
    path.chmod(0o600)
    return path


def test_an_anchor_months_after_the_reference_day_is_simulated_from_the_anchor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-32: 2 days from a June anchor deliver 2 days of pulses and say which 2 days they were."""
    path = config(tmp_path, "2026-06-01T08:00:00+02:00")
    journal = tmp_path / "sim.sqlite3"
    assert main(["simulate", "--days", "2", "-c", str(path), "-j", str(journal)]) == 0
    out = capsys.readouterr().out
    assert (
        "simulated 2 days, 2026-06-01 07:55+02:00 to 2026-06-03 07:55+02:00 (Europe/Berlin): "
        "32 slots"
    ) in out
    assert "pulses: delivered 32," in out
    assert "physical pulse starts (ledger): 32;" in out


def test_a_period_that_ends_before_the_first_slot_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Never a silent zero: a period too short to hold a slot is a usage error, exit 2."""
    path = config(tmp_path, "2026-06-01T08:00:00+02:00")
    journal = tmp_path / "sim.sqlite3"
    assert main(["simulate", "--days", "0.001", "-c", str(path), "-j", str(journal)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pumpctl: error: --days 0.001 ends at 2026-06-01 07:56+02:00, before")
    assert not journal.exists()


def test_a_period_past_the_calendar_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A period that would end after the year 9999 is refused with exit 2, no traceback."""
    path = config(tmp_path, "2099-06-01T08:00:00+02:00")
    journal = tmp_path / "sim.sqlite3"
    assert main(["simulate", "--days", "3000000", "-c", str(path), "-j", str(journal)]) == 2
    assert "would end after the year 9999" in capsys.readouterr().err
    assert not journal.exists()
