"""Clock campaign: wall steps, DST, a long suspend and a reboot with a wrong RTC (SR-11).

Each case runs the real daemon against the in-process pump with two virtual clocks (see
:mod:`tests.reliability.clock_rig`): the host's clock is abused, the pump's is true time, and
the physical starts are judged in true time.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pumpctl.config import Config
from pumpctl.journal import Journal
from pumpctl.journal.query import EventRow
from pumpctl.simulation import default_config
from tests.reliability import campaign_numbers
from tests.reliability.clock_rig import ClockRig

STEPS_S = (60, -60, 3600, -3600, 86400, -86400)
MOMENTS = ("after-pulse", "before-slot")


def demo_config(now: datetime) -> Config:
    return default_config(now)


def rig_at(tmp_path: Path, when: datetime, driver: str) -> ClockRig:
    config = demo_config(when)
    start = config.prescription.anchor - timedelta(minutes=5)
    return ClockRig(config, tmp_path, start, driver)


def to_moment(rig: ClockRig, moment: str) -> None:
    """Run to just after a pulse ended, or to five minutes before the next slot."""
    nxt = rig.daemon.planner.next_after(rig.host.now())
    if moment == "after-pulse":
        rig.run_until(rig.true_now + (nxt.scheduled - rig.host.now()) + timedelta(minutes=3))
    else:
        rig.run_until(rig.true_now + (nxt.scheduled - rig.host.now()) - timedelta(minutes=5))


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("step_s", STEPS_S)
def test_wall_step_gives_no_early_or_extra_pulse(
    driver: str, tmp_path: Path, step_s: int, moment: str
) -> None:
    """SR-11 SR-02 SR-10: a wall step of ±1 min/h/day never brings a pulse early, twice or late."""
    rig = rig_at(tmp_path, datetime(2026, 2, 10, 6, 0, tzinfo=UTC), driver)
    rig.run_for(6)
    to_moment(rig, moment)
    before = rig.daemon.counts.get("DELIVERED", 0)
    rig.step_wall(step_s)
    rig.run_for(14)
    after = rig.daemon.counts.get("DELIVERED", 0) - before
    verdict = rig.verdict()
    campaign_numbers.add("clock_cases")
    assert verdict.violations == []
    if step_s > -86400:
        assert after >= 6  # therapy goes on after the step
    else:
        # The host relives a day whose slots were already given: none is given again.
        assert after == 0


@pytest.mark.parametrize(
    "eve", [datetime(2026, 3, 29, 6, 0, tzinfo=UTC), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)]
)
def test_dst_transition_keeps_the_local_cadence_and_the_interval(
    driver: str, tmp_path: Path, eve: datetime
) -> None:
    """SR-11: across a DST change in Europe/Berlin the interval holds in true time; no slot lost."""
    rig = rig_at(tmp_path, eve, driver)
    rig.run_for(40)
    verdict = rig.verdict()
    campaign_numbers.add("clock_cases")
    assert verdict.violations == []
    assert verdict.missed == []
    # The planned cadence itself stays 90 min by day and 120 min by night, in UTC, across
    # the hour that is skipped or repeated.
    scheduled = [datetime.fromisoformat(str(e.payload["scheduled_utc"])) for e in _intents(rig)]
    gaps_min = {(b - a).total_seconds() / 60 for a, b in itertools.pairwise(scheduled)}
    assert gaps_min <= {90.0, 120.0}
    assert len(scheduled) >= 20


def _intents(rig: ClockRig) -> list[EventRow]:
    with Journal(rig.path, rig.host) as journal:
        return list(journal.events(kinds=("pulse.intent",)))


def test_three_hour_suspend_records_missed_slots_and_never_catches_up(
    driver: str, tmp_path: Path
) -> None:
    """SR-11 SR-10: a 3 h suspend records the slots it swallowed as MISSED and gives none late."""
    rig = rig_at(tmp_path, datetime(2026, 2, 10, 6, 0, tzinfo=UTC), driver)
    rig.run_for(5)
    to_moment(rig, "before-slot")
    rig.suspend(3 * 3600)
    rig.run_for(12)
    verdict = rig.verdict()
    campaign_numbers.add("clock_cases")
    assert verdict.violations == []
    assert len(verdict.missed) >= 2  # 3 h swallow at least two 90 min slots


@pytest.mark.parametrize("wall_error_s", [3600, -3600, 86400, -86400])
def test_reboot_with_wrong_rtc_gives_no_early_pulse(
    driver: str, tmp_path: Path, wall_error_s: int
) -> None:
    """SR-11 SR-02: a crash and a reboot whose RTC is off by ±1 h or ±1 day never pulse early."""
    rig = rig_at(tmp_path, datetime(2026, 2, 10, 6, 0, tzinfo=UTC), driver)
    rig.run_for(5)
    to_moment(rig, "after-pulse")
    before = rig.daemon.counts.get("DELIVERED", 0)
    rig.reboot(downtime_s=600, wall_error_s=wall_error_s)
    rig.run_for(14)
    verdict = rig.verdict()
    campaign_numbers.add("clock_cases")
    assert verdict.violations == []
    assert before >= 2
    if wall_error_s > -86400:
        assert rig.daemon.counts.get("DELIVERED", 0) >= 6  # therapy resumes after the reboot
