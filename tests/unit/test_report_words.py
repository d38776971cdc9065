"""The report's plain words: the prescription of every example configuration, limits, times."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pumpctl.config import parse_config_text
from pumpctl.core.model import Limits
from pumpctl.daemon.configuration import limits_dict, prescription_dict
from pumpctl.report.words import (
    change_words,
    decimal_text,
    duration_words,
    limits_words,
    local_time,
    prescription_details,
    prescription_words,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

#: What a clinician reads for each shipped example configuration, as the daemon journals it.
#: (The demo's anchor is a time of day: the date it lands on depends on the start, not the words.)
GOLDEN = {
    "demo.toml": (
        "10 µg every 90 min by day, every 120 min 22:00–06:00, 1-min bolus",
        "10 µL per pulse at 1000 µg/mL; local times in Europe/Berlin; cadence counted from ",
        " 08:00+01:00",
    ),
    "harvard11.toml": (
        "5 µg every 120 min, 1-min bolus",
        "5 µL per pulse at 1000 µg/mL; local times in Europe/Berlin; cadence counted from ",
        "2026-03-02 08:00+01:00",
    ),
    "ne1000.toml": (
        "5 µg every 120 min, 1-min bolus",
        "5 µL per pulse at 1000 µg/mL; local times in Europe/Berlin; cadence counted from ",
        "2026-03-02 08:00+01:00",
    ),
}


def test_every_example_configuration_has_a_golden_sentence() -> None:
    """Each configuration shipped in config/ is covered by the golden table below."""
    assert sorted(p.name for p in CONFIG_DIR.glob("*.toml")) == sorted(GOLDEN)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_example_prescriptions_read_in_plain_words(name: str) -> None:
    """The journaled prescription of each example reads as the golden sentence, no reprs."""
    config = parse_config_text((CONFIG_DIR / name).read_text(encoding="utf-8"), now=NOW)
    journaled = prescription_dict(config.prescription)
    words, details, anchor = GOLDEN[name]
    assert prescription_words(journaled) == words
    assert prescription_details(journaled).startswith(details)
    assert prescription_details(journaled).endswith(anchor)


def test_day_night_profile_reads_by_day_and_by_night() -> None:
    """One window across midnight is the night: the base interval reads "by day"."""
    p = {
        "dose_ug": "10",
        "interval_min": 90,
        "pulse_duration_s": 60,
        "profile": [{"start": "22:00:00", "end": "06:00:00", "interval_min": 120}],
    }
    assert prescription_words(p) == (
        "10 µg every 90 min by day, every 120 min 22:00–06:00, 1-min bolus"
    )


def test_day_windows_are_named_without_by_day() -> None:
    """Windows that do not cross midnight are named; the base interval is not called daytime."""
    p = {
        "dose_ug": "12.500",
        "interval_min": 90,
        "pulse_duration_s": 45,
        "profile": [
            {"start": "12:00:00", "end": "14:00:00", "interval_min": 100},
            {"start": "23:00:00", "end": "05:00:00", "interval_min": 120},
        ],
    }
    assert prescription_words(p) == (
        "12.5 µg every 90 min, every 100 min 12:00–14:00, every 120 min 23:00–05:00, 45-s bolus"
    )


def test_durations_and_decimals_read_naturally() -> None:
    """60 s is a 1-min bolus, 90 s a 90-s one; decimals lose trailing zeros, never exponents."""
    assert [duration_words(s) for s in (60, 120, 90, 1)] == ["1-min", "2-min", "90-s", "1-s"]
    assert [decimal_text(v) for v in ("10", "12.500", "0.001", "1E+2")] == [
        "10",
        "12.5",
        "0.001",
        "100",
    ]


def test_local_times_carry_their_offset_across_daylight_saving() -> None:
    """Two slots 120 min apart across the autumn change read with their two offsets."""
    zone = ZoneInfo("Europe/Berlin")
    before = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    after = datetime(2026, 10, 25, 2, 30, tzinfo=UTC)  # 03:30 CET
    assert local_time(before, zone) == "2026-10-25 02:30+02:00"
    assert local_time(after, zone) == "2026-10-25 03:30+01:00"
    assert local_time(before, ZoneInfo("UTC"), seconds=True) == "2026-10-25 00:30:00+00:00"


def test_limits_read_as_one_sentence_with_the_threshold() -> None:
    """The demo's limits in words, with the derived exposure threshold; no field reprs."""
    config = parse_config_text((CONFIG_DIR / "demo.toml").read_text(encoding="utf-8"), now=NOW)
    text = limits_words(limits_dict(config.limits), config.limits)
    assert text.startswith(
        "at least 90 min between pulse starts; at most 16 pulses and 240 µg per 24 h; "
        "at most 15 µg, 20 µL and 60 s per pulse; no pulse starts while the predicted level "
        "exceeds 0.21 of one pulse's peak (derived from the minimum interval)"
    )
    assert "None" not in text
    assert "=" not in text
    assert limits_words(None, Limits()).endswith("(limits not recorded: pumpctl's defaults shown)")


def test_changes_name_what_changed_in_words() -> None:
    """A prescription change reads old → new in words; a limits change names only its fields."""
    old = {"dose_ug": "10", "interval_min": 90, "pulse_duration_s": 60, "profile": []}
    new = old | {"dose_ug": "12"}
    assert change_words("prescription", old, new) == (
        "10 µg every 90 min, 1-min bolus → 12 µg every 90 min, 1-min bolus"
    )
    assert change_words("prescription", None, old) == "set to 10 µg every 90 min, 1-min bolus"
    assert change_words("limits", {"min_interval_min": 90, "grace_min": 10},
                        {"min_interval_min": 100, "grace_min": 10}) == (
        "min interval min: 90 → 100"
    )  # fmt: skip


def test_odd_journaled_values_read_as_journaled_never_crash() -> None:
    """A prescription record with odd values still reads, each odd value shown as written."""
    odd = {
        "dose_ug": "ten",
        "interval_min": "90",
        "pulse_duration_s": "a minute",
        "profile": [{"start": "night", "end": None, "interval_min": 120}, "junk"],
        "anchor": "not a time",
        "timezone": "Mars/Olympus",
        "concentration_ug_per_ml": "0",
    }
    assert prescription_words(odd) == (
        "ten µg every 90 min, every 120 min night–?, a minute-s bolus"
    )
    assert prescription_details(odd) == "local times in Mars/Olympus"
    assert prescription_words({"dose_ug": "5"}) == "5 µg every ? min, ?-s bolus"
    assert prescription_words({}) == "not recorded"
