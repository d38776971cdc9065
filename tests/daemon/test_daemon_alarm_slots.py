"""Alarms about a slot are journaled with its id, so every review format links them to it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.alarms import AlarmEvent, AlarmSet, Transition
from pumpctl.journal.export import export_slots
from pumpctl.report.build import build_report
from pumpctl.report.outcomes import SlotOutcome
from tests.daemon.harness import START, make_bench

SLOT_1 = START + timedelta(minutes=5)  # 08:00
SLOT_2 = SLOT_1 + timedelta(minutes=90)
SLOT_3 = SLOT_2 + timedelta(minutes=90)


def _raised(bench) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return [
        (str(e.payload["alarm_id"]), e.payload.get("slot_id"))
        for e in bench.journal.events(kinds=("alarm.raised",))
    ]


def test_a_stalled_pulse_journals_its_alarms_with_its_slot(tmp_path: Path) -> None:
    """The stall and partial-delivery alarms name the slot; export and report show them on it."""
    bench = make_bench(tmp_path, faults=("stall@run:1:0.5",))
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    slot = "S20260302T080000Z"
    assert ("pump-alarm-stall", slot) in _raised(bench)
    assert ("partial-delivery", slot) in _raised(bench)
    (row,) = [r for r in export_slots(bench.journal.events()) if r["slot_id"] == slot]
    assert {a["code"] for a in row["alarms"]} == {"pump-alarm-stall", "partial-delivery"}
    report = build_report(bench.journal.path)
    (partial,) = [r for r in report.slots if r.slot_id == slot]
    assert partial.outcome is SlotOutcome.PARTIAL
    assert {a.code for a in partial.alarms} == {"pump-alarm-stall", "partial-delivery"}


def test_an_alarm_still_active_names_each_new_slot_it_concerns(tmp_path: Path) -> None:
    """A partial-delivery alarm not yet acknowledged, raised again by the next slot, is
    journaled again with that slot; a repeat for the same slot adds no record."""
    bench = make_bench(tmp_path, faults=("stall@run:1:0.5", "stall@run:2:0.5"))
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    bench.ack("pump-alarm-stall", "line cleared")  # the high alarm blocks; the medium one stays
    bench.run_until(SLOT_2 + timedelta(minutes=30))
    partial = [s for a, s in _raised(bench) if a == "partial-delivery"]
    assert partial == ["S20260302T080000Z", "S20260302T093000Z"]
    alarms = build_report(bench.journal.path).alarms
    (merged,) = [a for a in alarms if a.code == "partial-delivery"]
    assert merged.slot_ids == ("S20260302T080000Z", "S20260302T093000Z")


def test_missed_pulse_alarms_name_the_missed_slots(tmp_path: Path) -> None:
    """SR-22: the missed-pulse alarm and its escalation each name the slot that was missed."""
    bench = make_bench(tmp_path, fill_ul=None)  # no fill recorded: every slot denied
    bench.daemon.start()
    bench.run_until(SLOT_2 + timedelta(minutes=16))
    missed = [s for a, s in _raised(bench) if a == "missed-pulse"]
    assert missed == ["S20260302T080000Z", "S20260302T093000Z"]
    report = build_report(bench.journal.path)
    by_slot = {r.slot_id: r for r in report.slots}
    assert [a.code for a in by_slot["S20260302T093000Z"].alarms] == ["missed-pulse"]


def test_the_alarm_model_keeps_the_newest_slot_an_alarm_is_about() -> None:
    """SR-22: raised for a slot, then again for another, the alarm names the newer one; raised
    without a slot (a condition), it keeps the one it had."""
    clock = VirtualClock(START)
    events: list[AlarmEvent] = []
    alarms = AlarmSet(clock, [events.append])
    alarms.raise_alarm(AlarmKind.PARTIAL_DELIVERY, "one", slot_id="S1")
    alarms.raise_alarm(AlarmKind.PARTIAL_DELIVERY, "two", slot_id="S2")
    alarms.raise_alarm(AlarmKind.PARTIAL_DELIVERY, "again")
    assert [(e.transition, e.alarm.slot_id) for e in events] == [
        (Transition.RAISED, "S1"),
        (Transition.REPEATED, "S2"),
        (Transition.REPEATED, "S2"),
    ]
    alarms.missed_pulse("S7")
    assert alarms.get("missed-pulse").slot_id == "S7"
