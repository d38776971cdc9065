"""Totals that fell between pulses: to the pump's power reset, or to a clear outside pumpctl.

Either way nothing says what the pump moved before its totals fell, so delivery stops until a
person has looked (SR-26). What differs is the cause the alarm names: a reset the pump (or its
driver) reported raises the pump's reset alarm, whose acknowledgement lets delivery go on; a
clear with no reset is unexplained, suspends delivery and says so.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.daemon.harness import START, Bench, make_bench

SLOT_1 = START + timedelta(minutes=5)  # 08:00
SLOT_2 = SLOT_1 + timedelta(minutes=90)
SLOT_3 = SLOT_2 + timedelta(minutes=90)


def slot(when: object) -> str:
    return when.strftime("S%Y%m%dT%H%M%SZ")  # type: ignore[attr-defined]


def intents(bench: Bench) -> list[str]:
    return [str(e.payload["slot_id"]) for e in bench.journal.events(kinds=("pulse.intent",))]


def high_unacknowledged(bench: Bench) -> set[str]:
    return {str(a.kind) for a in bench.daemon.alarms.unacknowledged() if str(a.priority) == "high"}


def test_a_power_reset_between_pulses_is_the_pumps_reset_alarm_not_a_clear_outside(
    tmp_path: Path,
) -> None:
    """SR-26 SR-22: a Pump 11 loses power between pulses (its counters and target go); its
    totals read 0 where 10 uL were expected. The fall is journaled (``flow.unexplained``, volume
    unknown, ``pump_reset``) and raises the pump's reset alarm, high: the next slot is denied
    while it is unacknowledged, delivery is not suspended for flow, and once a person
    acknowledges it pulses go on. (An NE-1000's reset keeps its totals: nothing falls.)"""
    bench = make_bench(tmp_path, driver="harvard11")
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert intents(bench) == [slot(SLOT_1)]
    bench.sim.inject("power-reset")
    bench.run_until(SLOT_2 + timedelta(minutes=15))
    (fell,) = bench.journal.events(kinds=("flow.unexplained",))
    assert fell.payload["volume_ul"] is None
    assert fell.payload["pump_reset"] is True
    assert Decimal(fell.payload["expected_ul"]) == 10
    assert "pump-alarm-reset" in high_unacknowledged(bench)
    assert "unexplained-flow" not in high_unacknowledged(bench)
    assert bench.journal.events(kinds=("delivery.suspended",)) == []
    assert "power reset" in bench.daemon.alarms.get("pump-alarm-reset").detail
    assert intents(bench) == [slot(SLOT_1)]  # slot 2 denied: a high alarm is active
    assert len(bench.starts()) == 1
    bench.ack("pump-alarm-reset", "pump power and line checked")
    bench.run_until(SLOT_3 + timedelta(minutes=5))
    assert intents(bench) == [slot(SLOT_1), slot(SLOT_3)]
    assert len(bench.starts()) == 2


def test_a_power_reset_while_no_daemon_ran_is_named_at_the_next_start(
    tmp_path: Path, driver: str
) -> None:
    """SR-26 SR-13: the daemon is killed between pulses and the pump is power-cycled (all its
    state lost, as pumpsim restarted) before the next one starts. The new daemon learns of the
    reset at connect (the NE-1000's reset alarm, the Pump 11's missing target) and names it as
    the cause of the zero totals, at once."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    bench.journal.close()  # gone without a word, as after kill -9
    bench.clock.advance(600)
    again = make_bench(tmp_path, ledger=bench.ledger, clock=bench.clock, driver=driver)
    again.daemon.start()
    # Judged at start-up, before the first tick: the NE-1000 reports its reset only once, and
    # a daemon killed before its first scheduled reading must not take that evidence with it.
    (fell,) = again.journal.events(kinds=("flow.unexplained",))
    assert fell.payload["pump_reset"] is True
    again.run_for(60)
    assert "pump-alarm-reset" in high_unacknowledged(again)
    assert "unexplained-flow" not in high_unacknowledged(again)


def test_totals_cleared_outside_pumpctl_without_a_reset_stay_unexplained(
    tmp_path: Path,
) -> None:
    """SR-26: an NE-1000 whose totals are cleared at its keypad (no reset alarm) between
    pulses: the fall is unexplained flow, high alarm and suspension, and says so."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    bench.sim.pump.drive.infused_ul = 0.0  # a clear at the keypad: no alarm on the wire
    bench.run_until(SLOT_1 + timedelta(minutes=10))
    (fell,) = bench.journal.events(kinds=("flow.unexplained",))
    assert "pump_reset" not in fell.payload
    assert "unexplained-flow" in high_unacknowledged(bench)
    assert "cleared outside pumpctl" in bench.daemon.alarms.get("unexplained-flow").detail
    assert bench.journal.events(kinds=("delivery.suspended",)) != []
