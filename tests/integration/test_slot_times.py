"""Slot times computed independently, from the rule docs/configuration.md states, match pumpctl's.

The reference below does not use pumpctl's planner: it works on POSIX seconds and asks the zone
database only for the local time of day of each slot. The rule (docs/configuration.md, "When
the slots are"): the first slot is the anchor; each next slot comes the interval in force at the
previous slot's local time of day later, in real elapsed time; a window ``start-end`` holds
local times ``start <= t < end`` (wrapping midnight when ``end <= start``).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpctl.cli import main
from pumpctl.config import parse_config_text
from pumpctl.core.planner import Planner

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]


def reference_slots(
    anchor_epoch_s: int,
    zone: str,
    interval_min: int,
    windows: list[tuple[str, str, int]],
    count: int,
) -> list[int]:
    """``count`` slot times as POSIX seconds, by the documented rule."""
    tz = ZoneInfo(zone)

    def minutes_of_day(epoch_s: int) -> int:
        local = datetime.fromtimestamp(epoch_s, tz)
        return local.hour * 60 + local.minute

    def hhmm(text: str) -> int:
        hours, minutes = text.split(":")
        return int(hours) * 60 + int(minutes)

    def interval_at(epoch_s: int) -> int:
        now = minutes_of_day(epoch_s)
        for start, end, minutes in windows:
            a, b = hhmm(start), hhmm(end)
            inside = a <= now < b if a < b else now >= a or now < b
            if inside:
                return minutes
        return interval_min

    slots = [anchor_epoch_s]
    while len(slots) < count:
        slots.append(slots[-1] + 60 * interval_at(slots[-1]))
    return slots


def config_text(anchor: str, zone: str, interval: int, windows: list[tuple[str, str, int]]) -> str:
    profile = "".join(
        f'[[prescription.profile]]\nstart = "{a}"\nend = "{b}"\ninterval_min = {m}\n'
        for a, b, m in windows
    )
    return f"""
[prescription]
dose_ug = 10
concentration_ug_per_ml = 1000
interval_min = {interval}
pulse_duration_s = 60
anchor = "{anchor}"
timezone = "{zone}"
{profile}
[limits]
min_interval_min = 60
max_pulses_24h = 24
max_dose_24h_ug = 240

[pump]
driver = "ne1000"
url = "socket://127.0.0.1:7777"
syringe_diameter_mm = 4.78
syringe_volume_ul = 1000

[journal]
state_dir = "/nonexistent"
"""


@st.composite
def windows(draw: st.DrawFn) -> list[tuple[str, str, int]]:
    """Zero to two windows on whole quarter hours that do not overlap."""
    quarters = sorted(draw(st.sets(st.integers(0, 95), min_size=0, max_size=4)))
    pairs = list(zip(quarters[::2], quarters[1::2], strict=False))
    return [
        (
            f"{a // 4:02d}:{a % 4 * 15:02d}",
            f"{b // 4:02d}:{b % 4 * 15:02d}",
            draw(st.integers(60, 240)),
        )
        for a, b in pairs
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31)),
    st.sampled_from(ZONES),
    st.integers(min_value=60, max_value=240),
    windows(),
)
def test_the_planner_places_slots_where_the_documented_rule_does(
    anchor: datetime, zone: str, interval: int, profile: list[tuple[str, str, int]]
) -> None:
    """SR-32: 200 slots from any anchor, any zone (DST, half and quarter hours), any windows."""
    anchor = anchor.replace(second=0, microsecond=0, tzinfo=UTC)
    config = parse_config_text(config_text(anchor.isoformat(), zone, interval, profile))
    planner = Planner(config.prescription)
    expected = reference_slots(int(anchor.timestamp()), zone, interval, profile, 200)
    assert [int(planner.slot(i).scheduled.timestamp()) for i in range(200)] == expected
    assert all(planner.slot(i).scheduled.tzinfo == UTC for i in (0, 199))


def test_plan_prints_the_independently_computed_slots_across_the_autumn_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-11, SR-32: `plan --json` across 27 Oct 2030 (Berlin) gives the reference's UTC slots,
    each local time with the offset in force then: 90 min by day, 120 min from 22:00 to 06:00."""
    anchor = "2030-10-26T08:00:00+02:00"
    profile = [("22:00", "06:00", 120)]
    path = tmp_path / "pump.toml"
    path.write_text(
        config_text(anchor, "Europe/Berlin", 90, profile).replace(
            'state_dir = "/nonexistent"', f'state_dir = "{tmp_path / "state"}"'
        ),
        encoding="utf-8",
    )
    path.chmod(0o600)
    assert main(["plan", "-c", str(path), "--hours", "48", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    start = int(datetime.fromisoformat(anchor).timestamp())
    expected = [
        s for s in reference_slots(start, "Europe/Berlin", 90, profile, 40) if s < start + 48 * 3600
    ]
    got = [int(datetime.fromisoformat(s["scheduled_utc"]).timestamp()) for s in plan["slots"]]
    assert got == expected
    berlin = ZoneInfo("Europe/Berlin")
    for slot in plan["slots"]:
        local = datetime.fromisoformat(slot["scheduled_local"])
        utc = datetime.fromisoformat(slot["scheduled_utc"])
        assert local == utc and local.utcoffset() == utc.astimezone(berlin).utcoffset()
    offsets = {datetime.fromisoformat(s["scheduled_local"]).utcoffset() for s in plan["slots"]}
    assert offsets == {timedelta(hours=2), timedelta(hours=1)}  # both sides of the change
    # The night's slots straddle the repeated hour: 120 real minutes apart, whatever the clock.
    night = [
        datetime.fromisoformat(s["scheduled_local"])
        for s in plan["slots"]
        if datetime.fromisoformat(s["scheduled_local"]).date().isoformat() == "2030-10-27"
        and datetime.fromisoformat(s["scheduled_local"]).time() < time(6)
    ]
    assert len(night) >= 2
    assert all(b - a == timedelta(minutes=120) for a, b in itertools.pairwise(night))
