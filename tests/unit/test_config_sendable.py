"""``config check`` and ``plan`` refuse what the pump cannot be told exactly, or stopped in time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.errors import EXIT_CONFIG, EXIT_OK
from tests.unit.config_samples import dumps, load, problems, valid_document


def document(**prescription: object) -> dict[str, object]:
    doc = valid_document()
    doc["prescription"].update(prescription)
    doc["limits"] = {
        "max_pulse_volume_ul": Decimal(100),
        "max_dose_per_pulse_ug": Decimal(25),
        "max_dose_24h_ug": Decimal(600),
        "max_pulses_24h": 24,
        "max_pulse_duration_s": 600,
        "min_interval_min": 60,
    }
    doc["prescription"]["interval_min"] = 90
    return doc


def test_a_volume_with_five_digits_is_refused_with_neighbours() -> None:
    """SR-04: 12.345 uL (5 digits) is refused, not rounded; the line names the dose and the
    nearest sendable volumes and doses."""
    lines = problems(document(dose_ug=Decimal("12.345")))
    assert len(lines) == 1
    assert lines[0].startswith("prescription.dose_ug = 12.345: at 1000 ug/mL that is 12.345 uL")
    assert "nearest sendable volumes 12.34 uL or 12.35 uL" in lines[0]
    assert lines[0].endswith("e.g. prescription.dose_ug = 12.34 or 12.35")


def test_a_rate_with_no_four_digit_form_is_refused_with_durations_that_work() -> None:
    """SR-04: 50 uL in 45 s needs 66.667 uL/min, which no rate unit states in 4 digits."""
    lines = problems(document(dose_ug=Decimal(5), concentration_ug_per_ml=Decimal(100),
                              pulse_duration_s=45))  # fmt: skip
    assert len(lines) == 1
    assert lines[0].startswith("prescription.pulse_duration_s = 45: 50 uL in 45 s needs 66.667")
    assert lines[0].endswith("pulse_duration_s = 40 or 47 give rates it can")
    for duration in (40, 47):
        load(document(dose_ug=Decimal(5), concentration_ug_per_ml=Decimal(100),
                      pulse_duration_s=duration))  # fmt: skip


def test_a_syringe_over_14_mm_counts_millilitres() -> None:
    """SR-04: with a 26.59 mm syringe volumes are whole uL (0.001 mL): 12.5 uL is refused."""
    doc = document(dose_ug=Decimal("12.5"))
    doc["pump"]["syringe_diameter_mm"] = Decimal("26.59")
    lines = problems(doc)
    assert any("nearest sendable volumes 12 uL or 13 uL" in line for line in lines)


def test_a_diameter_the_pump_cannot_take_is_refused() -> None:
    """SR-24: a syringe diameter with five digits is refused naming pump.syringe_diameter_mm."""
    doc = document()
    doc["pump"]["syringe_diameter_mm"] = Decimal("26.594")
    lines = problems(doc)
    assert lines[0] == (
        "pump.syringe_diameter_mm = 26.594: cannot be stated exactly with at most 4 digits and "
        "3 decimals; nearest sendable 26.59 or 26.6"
    )


def test_a_runaway_the_link_cannot_stop_in_time_is_refused() -> None:
    """SR-25: 10 uL in 1 s at 19200 baud could overshoot more than 0.5 uL before a stop
    reaches the pump: refused, with the shortest duration that keeps the bound."""
    lines = problems(document(pulse_duration_s=1))
    assert len(lines) == 1
    assert lines[0].startswith("prescription.pulse_duration_s = 1: at 19200 baud a runaway")
    assert "more than the SR-25 bound of 0.50 uL" in lines[0]
    assert lines[0].endswith("pulse_duration_s = 2 or longer keeps it within")
    load(document(pulse_duration_s=2))


def test_a_slow_line_needs_longer_pulses() -> None:
    """SR-25: the same 10 uL in 5 s is fine at 19200 baud and refused at 1200 baud."""
    doc = document(pulse_duration_s=5)
    load(doc)
    doc["pump"]["baud"] = 1200
    assert any("at 1200 baud a runaway" in line for line in problems(doc))


def test_coarse_totals_make_small_pulses_unboundable() -> None:
    """SR-25: a syringe whose totals print in 1 uL steps cannot bound a 10 uL pulse's runaway."""
    doc = document()
    doc["pump"]["syringe_diameter_mm"] = Decimal("26.59")
    lines = problems(doc)
    assert any("prints its totals in 1 uL steps" in line for line in lines)


def test_config_check_and_plan_exit_78_on_an_unsendable_dose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-24: ``config check`` and ``plan`` refuse an unsendable dose with exit 78, one line."""
    path = tmp_path / "bad.toml"
    path.write_text(dumps(document(dose_ug=Decimal("12.345"))), encoding="utf-8")
    path.chmod(0o600)
    for argv in (["config", "check", str(path)], ["plan", "-c", str(path)]):
        assert main(argv) == EXIT_CONFIG
        err = capsys.readouterr().err
        assert err.startswith("pumpctl: error: prescription.dose_ug = 12.345:")
        assert len(err.splitlines()) == 1
    path.write_text(dumps(document(dose_ug=Decimal("12.34"))), encoding="utf-8")
    assert main(["config", "check", str(path)]) == EXIT_OK
