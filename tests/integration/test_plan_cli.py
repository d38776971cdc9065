"""``pumpctl plan`` and ``config check`` print the slots the daemon will follow, in local time."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pumpctl.cli import main
from pumpctl.config import load_config
from pumpctl.core.clock import SystemClock, VirtualClock
from pumpctl.core.model import Outcome, Prescription
from pumpctl.core.planner import Planner
from pumpctl.daemon.configuration import record_configuration
from pumpctl.journal import Journal

BERLIN = ZoneInfo("Europe/Berlin")
ROW = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d)  (\S+ \S+)\s.*?\s(allowed.*?|DENIED \S+)$", re.M)


def write_config(tmp_path: Path, *, anchor: str, interval: int = 90) -> Path:
    path = tmp_path / "pump.toml"
    path.write_text(
        f"""
[prescription]
dose_ug = 10
concentration_ug_per_ml = 1000
interval_min = {interval}
pulse_duration_s = 60
anchor = "{anchor}"
timezone = "Europe/Berlin"

[pump]
driver = "ne1000"
url = "socket://127.0.0.1:7777"
syringe_diameter_mm = 4.78
syringe_volume_ul = 1000

[journal]
state_dir = "{tmp_path / "state"}"
""",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def plan_rows(out: str) -> list[tuple[str, str, str]]:
    return [(m[0], m[1], m[2]) for m in ROW.findall(out)]


def test_local_times_carry_their_offset_across_the_autumn_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-11: two slots 120 min apart across the DST change read 120 min apart, not 60."""
    config = write_config(tmp_path, anchor="2036-10-26T00:30:00+00:00", interval=120)
    assert main(["plan", "-c", str(config), "--hours", "4"]) == 0
    rows = plan_rows(capsys.readouterr().out)
    assert [local for _, local, _ in rows[:2]] == [
        "2036-10-26 02:30+02:00",
        "2036-10-26 03:30+01:00",
    ]
    first, second = (datetime.fromisoformat(local.replace(" ", "T")) for _, local, _ in rows[:2])
    assert second - first == timedelta(minutes=120)


def far_from_now() -> time:
    """A local time of day twelve hours from now, so no test run straddles its anchor."""
    local = (datetime.now(BERLIN) + timedelta(hours=12)).replace(second=0, microsecond=0)
    return local.time()


def journal_with_anchor(config_path: Path, days_back: int) -> tuple[Prescription, Path]:
    """A journal whose daemon has followed the configured prescription for ``days_back`` days."""
    config = load_config(config_path)
    p = config.prescription
    local = p.anchor.astimezone(BERLIN)
    old_anchor = datetime.combine(local.date() - timedelta(days=days_back), local.time(), BERLIN)
    journaled = replace(p, anchor=old_anchor)
    config.journal.path.parent.mkdir(parents=True)
    with Journal(config.journal.path, SystemClock()) as journal:
        record_configuration(journal, journaled, config.limits)
    return journaled, config.journal.path


def test_plan_follows_the_anchor_the_journal_follows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-32: with a journal, plan shows the daemon's slots, not a cadence re-anchored today."""
    tod = far_from_now()
    config_path = write_config(tmp_path, anchor=f"{tod:%H:%M}", interval=100)
    assert main(["plan", "-c", str(config_path)]) == 0
    fresh = [utc for utc, _, _ in plan_rows(capsys.readouterr().out)]

    journaled, _ = journal_with_anchor(config_path, days_back=3)
    assert main(["plan", "-c", str(config_path)]) == 0
    out = capsys.readouterr().out
    shown = [utc for utc, _, _ in plan_rows(out)]
    now = datetime.now(BERLIN)
    expected = [
        f"{s.scheduled:%Y-%m-%d %H:%M}"
        for s in Planner(journaled).slots_between(
            now - timedelta(minutes=5), now + timedelta(hours=25)
        )
    ]
    assert shown and set(shown) <= set(expected)
    assert shown != fresh  # 100 min does not divide a day: re-anchoring today would show
    assert f"the anchor the journal already follows for {tod:%H:%M}" in out
    assert "not re-anchored daily" in out

    assert main(["config", "check", str(config_path)]) == 0
    checked = capsys.readouterr().out
    assert "the anchor the journal already follows" in checked
    assert "daily at" not in checked

    # The JSON outputs say the same for scripts.
    assert main(["plan", "-c", str(config_path), "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["anchor_from_journal"] is True
    assert planned["anchor_utc"] == journaled.anchor.astimezone(UTC).isoformat()
    assert [s["scheduled_utc"][:16].replace("T", " ") for s in planned["slots"]] == shown
    assert main(["config", "check", str(config_path), "--json"]) == 0
    checked_json = json.loads(capsys.readouterr().out)["prescription"]
    assert checked_json["anchor_from_journal"] is True
    assert checked_json["anchor_utc"] == planned["anchor_utc"]


def test_config_check_says_the_cadence_is_not_re_anchored_daily(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """config check describes a time-of-day anchor as what it is: where the cadence starts."""
    config_path = write_config(tmp_path, anchor="08:00")
    assert main(["config", "check", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert "daily at" not in out
    assert "the last 08:00 before the configuration was loaded" in out
    assert "not re-anchored daily" in out


def journal_one_pulse(config_path: Path, ago: timedelta, started_late: timedelta) -> None:
    """A delivered pulse whose slot was ``ago`` before now, confirmed started ``started_late``
    after its slot, on this boot's elapsed clock (as the daemon's gate will weigh it)."""
    system = SystemClock()
    now = system.now()
    config = load_config(config_path)
    config.journal.path.parent.mkdir(parents=True)
    pulse_at = now - ago
    clock = VirtualClock(
        pulse_at,
        elapsed_s=system.elapsed_s() - ago.total_seconds(),
        boot_id=system.boot_id,
    )
    earlier = Planner(replace(config.prescription, anchor=pulse_at)).slot(0)
    with Journal(config.journal.path, clock) as journal:
        record_configuration(journal, config.prescription, config.limits)
        journal.record_intent(earlier)
        clock.advance(started_late)
        journal.record_started(earlier.slot_id)
        clock.advance(60)
        journal.record_outcome(earlier.slot_id, Outcome.DELIVERED, delivered_volume_ul=Decimal(10))


def test_plan_weighs_the_journals_last_pulse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-02: a pulse journaled 20 min before now makes the slot 50 min from now show
    min-interval: its interval ends 20 min after that slot, past its 10-min window."""
    first_slot = (SystemClock().now() + timedelta(minutes=50)).replace(second=0, microsecond=0)
    config_path = write_config(tmp_path, anchor=first_slot.isoformat())
    journal_one_pulse(config_path, ago=timedelta(minutes=20), started_late=timedelta(0))

    assert main(["plan", "-c", str(config_path), "--hours", "3"]) == 1
    out = capsys.readouterr().out
    rows = plan_rows(out)
    verdicts = [verdict for _, _, verdict in rows]
    assert verdicts[0].startswith("DENIED min-interval") and verdicts[1:] == ["allowed"]
    assert "1 pulse(s) of the last 26 h weighed" in out


def test_plan_shows_the_wait_for_a_late_start_not_a_denial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-02, SR-32: after a start confirmed 5 s late, the next slot at the minimum interval is
    not DENIED (the daemon waits the excess quietly inside the window and delivers): the plan
    shows it allowed, starting 4 s after its slot.

    The journal's pulse is on this boot's elapsed clock, which the plan maps to wall time with
    a fresh reading of both clocks: the two cannot be read at one instant, hence the slack of a
    few milliseconds below.
    """
    now = SystemClock().now()
    first_slot = (now + timedelta(minutes=30)).replace(second=0, microsecond=0)
    config_path = write_config(tmp_path, anchor=first_slot.isoformat())
    previous_slot = first_slot - timedelta(minutes=90)
    journal_one_pulse(config_path, ago=now - previous_slot, started_late=timedelta(seconds=5))

    assert main(["plan", "-c", str(config_path), "--hours", "9"]) == 0
    out = capsys.readouterr().out
    verdicts = [verdict for _, _, verdict in plan_rows(out)]
    assert re.fullmatch(
        r"allowed, starts 4(\.\d+)? s after its slot \(the last interval ends then\)", verdicts[0]
    )
    assert main(["plan", "-c", str(config_path), "--hours", "9", "--json"]) == 0
    slots = json.loads(capsys.readouterr().out)["slots"]
    waits = [
        datetime.fromisoformat(s["starts_utc"]) - datetime.fromisoformat(s["scheduled_utc"])
        for s in slots
    ]
    # The excess is waited out inside the window and shrinks by the 1-s allowance at each slot
    # (each planned start is its own intent): 4, 3, 2, 1 s, then on time. No ratchet.
    slack = timedelta(milliseconds=50)
    for wait, expected_s in zip(waits, (4, 3, 2, 1, 0, 0), strict=True):
        assert timedelta(seconds=expected_s) <= wait < timedelta(seconds=expected_s) + slack
    wait = datetime.fromisoformat(slots[0]["starts_utc"]) - previous_slot - timedelta(minutes=90)
    assert timedelta(seconds=4) <= wait < timedelta(seconds=4) + slack


def test_plan_shows_every_slot_denied_while_a_pulse_is_uncertain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-09: a pulse left UNCERTAIN in the journal blocks every planned slot, and plan says so."""
    config_path = write_config(tmp_path, anchor="2036-01-05T08:00:00+01:00")
    config = load_config(config_path)
    config.journal.path.parent.mkdir(parents=True)
    with Journal(config.journal.path, SystemClock()) as journal:
        record_configuration(journal, config.prescription, config.limits)
        journal.record_intent(Planner(config.prescription).slot(0))
    assert main(["plan", "-c", str(config_path), "--hours", "3"]) == 1
    verdicts = {v for _, _, v in plan_rows(capsys.readouterr().out)}
    assert verdicts == {"DENIED uncertain-pending"}
