"""Configuration fields: every kind accepts exactly what it should and names what is allowed."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tests.unit.config_samples import changed, load, problems, valid_document

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_valid_document_gives_exact_domain_objects() -> None:
    """A valid file yields the core's Prescription and Limits with exact Decimal values."""
    config = load(valid_document())
    assert config.prescription.dose_ug == Decimal(10)
    assert config.prescription.volume_ul == Decimal("10.000")
    assert config.prescription.anchor == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
    assert config.limits.min_interval_min == 90
    assert config.pump.baud == 19200
    assert config.logging.level == "info"


def test_decimal_values_carry_no_float_drift() -> None:
    """A dose of 0.1 ug stays exactly 0.1, so 16 pulses make exactly 1.6 ug a day."""
    config = load(changed("prescription.dose_ug", Decimal("0.1")))
    assert config.prescription.dose_ug == Decimal("0.1")
    assert config.prescription.max_daily_dose_ug == Decimal("1.6")


def test_integer_is_accepted_for_a_decimal_field() -> None:
    """``dose_ug = 10`` (a TOML integer) is a valid decimal dose."""
    config = load(changed("prescription.dose_ug", 10))
    assert config.prescription.dose_ug == Decimal(10)


BAD_VALUES = [
    ("prescription.dose_ug", "5", "write it without quotes"),
    ("prescription.dose_ug", "5 mg", "unit is part of the key's name"),
    ("prescription.dose_ug", True, "got a boolean"),
    ("prescription.dose_ug", Decimal("NaN"), "expected a finite number"),
    ("prescription.dose_ug", Decimal("Infinity"), "expected a finite number"),
    ("prescription.dose_ug", Decimal(0), "allowed > 0 and <= 25 micrograms"),
    ("prescription.dose_ug", Decimal("10.0001"), "at most 3 decimal places"),
    ("prescription.dose_ug", [1, 2], "got an array"),
    ("prescription.concentration_ug_per_ml", Decimal(-1), "allowed > 0"),
    ("prescription.interval_min", Decimal("90.0"), "whole number 60..1440 (minutes)"),
    ("prescription.interval_min", "90", "write it without quotes"),
    ("prescription.interval_min", "90 min", "unit is part of the key's name"),
    ("prescription.interval_min", False, "got a boolean"),
    ("prescription.interval_min", 59, "allowed 60..1440 (minutes)"),
    ("prescription.pulse_duration_s", 601, "allowed 1..600 (seconds)"),
    ("prescription.pulse_duration_s", 0, "allowed 1..600 (seconds)"),
    ("prescription.anchor", datetime(2026, 3, 1, 8, 0), "needs a UTC offset"),
    ("prescription.anchor", "2026-03-01T08:00:00", "needs a UTC offset"),
    ("prescription.anchor", date(2026, 3, 1), "got a date only"),
    ("prescription.anchor", "tomorrow morning", "ISO 8601"),
    ("prescription.anchor", "1999-12-31T08:00:00+00:00", "allowed years 2000..2100"),
    ("prescription.anchor", "25:00", "ISO 8601"),
    ("prescription.anchor", 8, "got an integer"),
    ("prescription.timezone", "Mars/Olympus_Mons", "unknown time zone"),
    ("prescription.timezone", "../../etc/passwd", "unknown time zone"),
    ("prescription.timezone", 1, "IANA time zone name"),
    ("pump.driver", "ne9000", "allowed ne1000, harvard11"),
    ("pump.url", "ttyUSB0", "absolute device path"),
    ("pump.url", "gopher://pump", "unknown URL scheme"),
    ("pump.url", "socket://127.0.0.1", "with a port 1..65535"),
    ("pump.url", "socket://127.0.0.1:70000", "with a port 1..65535"),
    ("pump.url", "", "device path or pyserial URL"),
    ("pump.baud", 115200, "ne1000 driver's pumps offer 300, 1200, 2400, 9600, 19200"),
    ("pump.baud", 4800, "allowed 300, 1200, 2400, 9600, 19200, 38400, 57600, 115200"),
    ("pump.baud", "19200", "expected a baud rate"),
    ("pump.address", -1, "allowed 0..99"),
    ("pump.address", 100, "allowed 0..99"),
    ("pump.syringe_diameter_mm", Decimal("0.05"), "allowed >= 0.1 and <= 50 millimetres"),
    ("pump.syringe_volume_ul", Decimal(0), "allowed > 0 and <= 60000 microlitres"),
    ("pump.safe_mode_timeout_s", 0, "allowed 1..255 (seconds)"),
    ("control.mode", 660, "written with the 0o prefix"),
    ("control.mode", 0o666, "nothing for others"),
    ("control.mode", 0o060, "owner read-write"),
    ("control.mode", "0660", "expected an octal mode"),
    ("control.group", "Wheel Group", "Unix group name"),
    ("control.socket_path", "", "expected a path string"),
    ("journal.state_dir", 5, "expected a path string"),
    ("journal.path", "a\x00b", "NUL character"),
    ("logging.format", "xml", "allowed auto, json, console"),
    ("logging.level", "loud", "allowed debug, info, warning, error, critical"),
    ("subject.note", "two\nlines", "without control characters"),
    ("subject.id", "x" * 201, "at most 200 characters"),
    ("subject.id", 14, "expected a string"),
]


@pytest.mark.parametrize(("path", "value", "allowed"), BAD_VALUES)
def test_bad_value_gives_one_line_naming_path_value_and_allowed(
    path: str, value: object, allowed: str
) -> None:
    """A wrong value gives exactly one line: the field path, the value and what is allowed."""
    lines = problems(changed(path, value))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path} = ")
    assert allowed in lines[0]


def test_value_with_unit_is_echoed_as_written() -> None:
    """The value is shown as the user wrote it in TOML, quotes included."""
    (line,) = problems(changed("prescription.dose_ug", "5 mg"))
    assert line.startswith('prescription.dose_ug = "5 mg": expected a bare number in micrograms')


@pytest.mark.parametrize(
    ("anchor", "expected_utc"),
    [
        (datetime(2026, 3, 1, 8, 0, tzinfo=UTC), datetime(2026, 3, 1, 8, 0, tzinfo=UTC)),
        ("2026-03-01T08:00:00Z", datetime(2026, 3, 1, 8, 0, tzinfo=UTC)),
        ("2026-03-01T08:00:00-05:00", datetime(2026, 3, 1, 13, 0, tzinfo=UTC)),
        ("11:30", datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
        (time(13, 30), datetime(2026, 2, 28, 12, 30, tzinfo=UTC)),
    ],
)
def test_anchor_forms_resolve_to_utc(anchor: object, expected_utc: datetime) -> None:
    """Offset date-times convert to UTC; a time of day is its latest local occurrence before now."""
    config = load(changed("prescription.anchor", anchor), now=NOW)
    assert config.prescription.anchor == expected_utc


def test_time_of_day_anchor_follows_daylight_saving() -> None:
    """08:00 in Berlin is 07:00 UTC in winter and 06:00 UTC in summer."""
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    config = load(changed("prescription.anchor", "08:00"), now=summer)
    assert config.prescription.anchor == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
    assert config.anchor_time_of_day == time(8, 0)


def test_date_time_anchor_has_no_time_of_day() -> None:
    """An exact anchor is not reported as a daily time of day."""
    assert load(valid_document()).anchor_time_of_day is None


def _with_profile(*windows: dict[str, object]) -> dict[str, object]:
    document = valid_document()
    document["prescription"]["profile"] = list(windows)
    return document


def test_profile_windows_become_core_profile() -> None:
    """A night window wrapping midnight sets a longer interval at night only."""
    config = load(_with_profile({"start": "22:00", "end": time(6, 0), "interval_min": 120}))
    (window,) = config.prescription.profile
    assert (window.start, window.end, window.interval_min) == (time(22), time(6), 120)
    assert config.prescription.interval_at(datetime(2026, 3, 1, 23, 30, tzinfo=UTC)) == 120
    assert config.prescription.interval_at(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) == 90


def test_overlapping_profile_windows_are_refused() -> None:
    """Two windows covering the same time of day would make the interval ambiguous."""
    lines = problems(
        _with_profile(
            {"start": "22:00", "end": "06:00", "interval_min": 120},
            {"start": "05:00", "end": "07:00", "interval_min": 100},
        )
    )
    assert lines == ["prescription.profile: windows [0] and [1] overlap; allowed disjoint windows"]


def test_empty_profile_window_is_refused() -> None:
    """A window that starts when it ends has no length and is refused."""
    (line,) = problems(_with_profile({"start": "22:00", "end": "22:00", "interval_min": 120}))
    assert "window [0] starts and ends at 22:00" in line


def test_profile_window_field_errors_name_the_index() -> None:
    """A bad value inside a window names the window's index in the path."""
    (line,) = problems(_with_profile({"start": "22:00", "end": "24:00", "interval_min": 120}))
    assert line.startswith('prescription.profile[0].end = "24:00": expected a local time of day')


def test_profile_must_be_an_array_of_tables() -> None:
    """``[prescription.profile]`` (one table) instead of ``[[...]]`` is named as such."""
    document = valid_document()
    document["prescription"]["profile"] = {"start": "22:00", "end": "06:00", "interval_min": 120}
    assert problems(document) == [
        "prescription.profile: expected an array of tables [[prescription.profile]]"
    ]


def test_profile_has_a_length_limit() -> None:
    """More than 24 windows are refused."""
    windows = [
        {"start": f"{h:02d}:00", "end": f"{h:02d}:30", "interval_min": 90} for h in range(24)
    ]
    windows.append({"start": "00:40", "end": "00:50", "interval_min": 90})
    (line,) = problems(_with_profile(*windows))
    assert line == "prescription.profile: at most 24 entries allowed"


def test_key_with_another_unit_points_to_the_field_and_its_unit() -> None:
    """``dose_mg`` is refused with a pointer to ``dose_ug`` and its unit."""
    document = valid_document()
    document["prescription"]["dose_mg"] = Decimal("0.01")
    assert problems(document) == [
        "prescription.dose_mg: unknown key; the unit is part of the name: use dose_ug, "
        "in micrograms (ug)"
    ]


def test_interval_in_hours_points_to_minutes() -> None:
    """``interval_h`` is refused with a pointer to ``interval_min``."""
    document = valid_document()
    document["prescription"]["interval_h"] = 2
    (line,) = problems(document)
    assert "use interval_min, in minutes" in line


def test_misspelt_key_suggests_the_nearest_field() -> None:
    """A typo in a key suggests the field it resembles."""
    (line,) = problems(changed("limits.max_pulse_24h", 12))
    assert line == "limits.max_pulse_24h: unknown key; did you mean max_pulses_24h?"


def test_unknown_section_lists_the_sections() -> None:
    """An unknown section is refused with the list of known ones."""
    document = valid_document()
    document["alarms"] = {"volume": 3}
    (line,) = problems(document)
    assert line.startswith("alarms: unknown section; allowed: prescription, pump, limits")


def test_missing_section_and_field_say_what_is_required() -> None:
    """A missing section or field names what is required, one line each."""
    document = changed("prescription.dose_ug")
    del document["pump"]
    assert problems(document) == [
        "prescription.dose_ug: missing; required: dose per pulse in micrograms, > 0 and <= 25",
        "pump: missing; required: section [pump] with driver, url, syringe_diameter_mm, "
        "syringe_volume_ul",
    ]


def test_section_that_is_not_a_table_is_named() -> None:
    """``limits = 5`` is refused as not being a table."""
    document = valid_document()
    document["limits"] = 5
    assert problems(document) == ["limits = 5: expected a table [limits]"]


def test_every_problem_is_reported_at_once() -> None:
    """Problems in several sections all come back in one error, one line each."""
    document = changed("prescription.interval_min", "90")
    document["pump"]["baud"] = 1
    document["logging"] = {"level": 3}
    assert [line.split(" = ")[0] for line in problems(document)] == [
        "prescription.interval_min",
        "pump.baud",
        "logging.level",
    ]


def test_log_level_is_case_insensitive() -> None:
    """``level = "DEBUG"`` is read as debug."""
    document = valid_document()
    document["logging"] = {"level": "DEBUG", "format": "json"}
    assert load(document).logging == type(load(document).logging)(format="json", level="debug")


def test_relative_paths_resolve_inside_state_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The journal and socket default into state_dir; relative ones are placed inside it."""
    state = tmp_path_factory.mktemp("state")
    document = valid_document()
    document["journal"] = {"state_dir": str(state), "path": "j/pulses.sqlite3"}
    config = load(document)
    assert config.journal.path == state / "j" / "pulses.sqlite3"
    assert config.control.socket_path == state / "control.sock"
    assert config.control.mode == 0o660


def test_overlong_socket_path_is_refused() -> None:
    """A control socket path longer than a Unix socket allows is named before the daemon runs."""
    document = valid_document()
    document["control"] = {"socket_path": "/run/" + "s" * 120 + ".sock"}
    (line,) = problems(document)
    assert line.startswith("control.socket_path = ")
    assert "at most 107 bytes" in line


def test_config_is_immutable() -> None:
    """Nothing in a loaded configuration can be changed after validation."""
    config = load(valid_document())
    with pytest.raises(FrozenInstanceError):
        config.digest = "x"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        config.prescription.dose_ug = Decimal(20)  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.pump.url = "/dev/ttyS0"  # type: ignore[misc]


def test_summary_shows_derived_values_and_limit_origins() -> None:
    """The summary shows volume, rate, duration, daily totals and which limits are defaults."""
    document = valid_document()
    document["prescription"]["pulse_duration_s"] = 70
    document["limits"] = {"max_pulse_volume_ul": Decimal(20), "max_pulse_duration_s": 70}
    text = "\n".join(load(document).summary_lines())
    assert "= 10.000 uL per pulse" in text
    assert "pump rate 8.572 uL/min; pulse lasts 69.995 s (prescribed 70 s)" in text
    assert "at most 16 pulses and 160.0 ug per 24 h" in text
    assert "  max_pulse_volume_ul = 20.0\n" in text
    assert "  max_pulses_24h = 16 (default)" in text


def test_a_harvard11_pump_takes_its_own_baud_rates() -> None:
    """The Protocol 11 family runs at 9600..115200 baud; 1200 is an NE-1000 rate only."""
    document = changed("pump.driver", "harvard11")
    document["pump"]["baud"] = 115200
    config = load(document)
    assert (config.pump.driver, config.pump.baud) == ("harvard11", 115200)
    document["pump"]["baud"] = 1200
    lines = problems(document)
    assert any("harvard11 driver's pumps offer 9600, 19200" in line for line in lines)
