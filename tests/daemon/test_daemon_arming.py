"""The pre-armed pulse against the simulator's wire, on one virtual clock: armed ahead, fired at
the slot, and disarmed (journaled, missed, never caught up) by whatever changes in between."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.daemon.runner import reload_loader
from tests.daemon.harness import CONFIG, OPERATOR, START, Bench, make_bench

SLOT_1 = START + timedelta(minutes=5)  # 08:00
SLOT_2 = SLOT_1 + timedelta(minutes=90)
LEAD = timedelta(seconds=2)  # [pump] arm_lead_s's default


def slot_ids(bench: Bench, kind: str) -> list[str]:
    return [str(e.payload["slot_id"]) for e in bench.journal.events(kinds=(kind,))]


def pulse_kinds(bench: Bench) -> list[str]:
    return [k for k in bench.kinds() if k.startswith(("pulse.", "gate.", "slot."))]


def disarmed_why(bench: Bench) -> str:
    (event,) = bench.journal.events(kinds=("pulse.disarmed",))
    return str(event.payload["why"])


def test_the_bolus_is_armed_ahead_and_only_intent_and_run_come_at_the_slot(
    tmp_path: Path, driver: str
) -> None:
    """SR-27 SR-08: programmed and read back two seconds before the slot (``pulse.armed``
    carries the pump's read-back); at the slot the gate's record, the intent, the RUN record
    and RUN; the plunger starts at the slot's time, not after three more round trips."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(seconds=1))
    (armed,) = bench.journal.events(kinds=("pulse.armed",))
    assert armed.wall == SLOT_1 - LEAD
    assert armed.payload["read_back"]["direction"] == "infuse"
    assert bench.starts() == [] and slot_ids(bench, "pulse.intent") == []
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert pulse_kinds(bench) == [
        "pulse.armed",
        "gate.decision",
        "pulse.intent",
        "pulse.run",
        "pulse.started",
        "pulse.outcome",
    ]
    (intent,) = bench.journal.events(kinds=("pulse.intent",))
    assert intent.wall == SLOT_1
    (start,) = bench.starts()
    assert start["at"] == SLOT_1.isoformat()
    assert bench.journal.events(kinds=("pulse.outcome",))[0].payload["outcome"] == "DELIVERED"


def test_suspend_and_resume_inside_the_armed_window_disarm_and_miss_the_slot(
    tmp_path: Path, driver: str
) -> None:
    """SR-12 SR-10: an operator suspends at slot-1 s and resumes at slot-0.5 s. Nothing is
    suspended at the slot, but the armed pulse is disarmed (journaled in plain words), the slot
    is missed and never caught up inside its window; the next slot is given as usual."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(seconds=1))
    bench.daemon.handle({"cmd": "suspend", "reason": "line check"}, OPERATOR)
    bench.run_until(SLOT_1 - timedelta(milliseconds=500))
    bench.daemon.handle({"cmd": "resume", "reason": "line fine"}, OPERATOR)
    bench.run_until(SLOT_1 + timedelta(minutes=15))
    assert bench.starts() == []
    assert "delivery.suspended" in disarmed_why(bench)
    assert slot_ids(bench, "pulse.intent") == []
    (missed,) = bench.journal.events(kinds=("slot.missed",))
    assert missed.payload["detail"].startswith("disarmed before its start:")
    bench.run_until(SLOT_2 + timedelta(minutes=5))
    assert len(bench.starts()) == 1
    assert slot_ids(bench, "pulse.intent") == [SLOT_2.strftime("S%Y%m%dT%H%M%SZ")]


def test_a_reload_that_changes_the_dose_while_armed_disarms(tmp_path: Path) -> None:
    """SR-21 SR-27: SIGHUP at slot-1 s with a new dose: the bolus armed for the old dose is
    never started; the slot is missed and the new dose is given from the next slot on."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    path = tmp_path / "pumpctl.toml"
    path.write_text(CONFIG.replace("dose_ug = 10", "dose_ug = 12"), encoding="utf-8")
    path.chmod(0o600)
    bench.run_until(SLOT_1 - timedelta(seconds=1))
    bench.daemon.reload_requested = reload_loader(bench.daemon, path)
    bench.run_until(SLOT_2 + timedelta(minutes=5))
    assert (
        disarmed_why(bench) == "the slot is different since arming (the prescription was reloaded)"
    )
    assert [float(e["target_ul"]) for e in bench.starts()] == [12.0]


def test_a_reload_that_changes_nothing_leaves_the_pulse_armed(tmp_path: Path) -> None:
    """SR-21: SIGHUP at slot-1 s with the running file: nothing changed, nothing journaled, so
    the armed pulse starts at its slot (a reload is not a reason to miss a pulse)."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    path = tmp_path / "pumpctl.toml"
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(0o600)
    bench.run_until(SLOT_1 - timedelta(seconds=1))
    bench.daemon.reload_requested = reload_loader(bench.daemon, path)
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert bench.journal.events(kinds=("pulse.disarmed",)) == []
    assert [e["at"] for e in bench.starts()] == [SLOT_1.isoformat()]


def test_a_wall_clock_step_while_armed_disarms(tmp_path: Path, driver: str) -> None:
    """SR-11: the wall clock is stepped back 30 s while a pulse is armed: not started."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(seconds=1))
    bench.clock.step_wall(-30)
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert bench.starts() == []
    assert disarmed_why(bench).startswith("the wall clock stepped -30.000 s")


def test_a_pump_alarm_while_armed_disarms(tmp_path: Path, driver: str) -> None:
    """SR-12 SR-27: the pump resets (power) inside the armed window: the programme it held is
    gone, the pulse is disarmed and the slot missed; no RUN reaches the pump for it."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(seconds=1))
    bench.sim.inject("power-reset")
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert bench.starts() == []
    assert slot_ids(bench, "pulse.intent") == []
    assert slot_ids(bench, "pulse.disarmed") == [SLOT_1.strftime("S%Y%m%dT%H%M%SZ")]


def test_a_stall_alarm_sent_unprompted_at_the_slot_disarms_without_a_round_trip(
    tmp_path: Path,
) -> None:
    """SR-12: an NE-1000 in safe mode sends its alarm on its own; the slot's last look reads it
    (no command sent) and disarms before any intent is written."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(milliseconds=1))
    bench.sim.inject("stall")
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert bench.starts() == [] and slot_ids(bench, "pulse.intent") == []
    assert disarmed_why(bench).startswith(("the pump raised alarm", "alarm.raised"))


def test_a_restart_after_arming_programs_and_reads_back_again(tmp_path: Path, driver: str) -> None:
    """SR-08 SR-27 SR-26: the daemon dies with the second pulse armed (the pump still holds the
    programme, and its totals were cleared by the arming). The next daemon expects those zero
    totals (no unexplained-flow alarm), never runs the programme it finds: it arms the slot
    anew (its own programming and read-back) before its intent, and the slot is given once."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_2 - timedelta(seconds=1))
    second = SLOT_2.strftime("S%Y%m%dT%H%M%SZ")
    assert slot_ids(bench, "pulse.armed")[-1] == second
    # Gone without a word (no stop record, no disarm): as after kill -9.
    bench.journal.close()
    again = make_bench(
        tmp_path, sim=bench.sim, ledger=bench.ledger, clock=bench.clock, driver=driver
    )
    again.daemon.start()
    again.run_until(SLOT_2 + timedelta(minutes=5))
    assert again.journal.events(kinds=("flow.unexplained",)) == []
    assert slot_ids(again, "pulse.armed").count(second) == 2
    assert slot_ids(again, "pulse.intent").count(second) == 1
    kinds = again.kinds()

    def last(kind: str) -> int:
        return len(kinds) - 1 - kinds[::-1].index(kind)

    # This run's own arming, after its start and before its intent.
    assert last("daemon.start") < last("pulse.armed") < last("pulse.intent")
    assert len(again.starts()) == 2


class Killed(BaseException):
    """The daemon's process dies here (SIGKILL): nothing after it runs, nothing is closed."""


def _die(*_args: object) -> None:
    """The daemon's process ends here: nothing after this call runs."""
    raise Killed


def test_a_restart_after_the_clear_but_before_arming_raises_no_false_flow_alarm(
    tmp_path: Path, driver: str
) -> None:
    """SR-26 SR-08: the daemon clears the totals for the second pulse and dies before it has
    programmed anything. The clear was journaled first (``totals.clearing``), so the next
    daemon takes the zero totals it finds for that clear, not for one made outside pumpctl:
    no unexplained-flow alarm, no suspension, and the slot is armed anew and given once."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    driver_ = bench.daemon.delivery.driver

    driver_.program_bolus = _die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        bench.run_until(SLOT_2 + timedelta(minutes=5))
    second = SLOT_2.strftime("S%Y%m%dT%H%M%SZ")
    assert bench.kinds()[-1] == "totals.clearing"
    assert bench.sim.pump.drive.infused_ul == 0  # the clear reached the pump
    bench.journal.close()
    again = make_bench(
        tmp_path, sim=bench.sim, ledger=bench.ledger, clock=bench.clock, driver=driver
    )
    again.daemon.start()
    again.run_until(SLOT_2 + timedelta(minutes=5))
    assert again.journal.events(kinds=("flow.unexplained",)) == []
    assert again.journal.events(kinds=("delivery.suspended",)) == []
    assert slot_ids(again, "pulse.intent") == [SLOT_1.strftime("S%Y%m%dT%H%M%SZ"), second]
    assert len(again.starts()) == 2


def test_totals_that_moved_after_a_journaled_clear_are_still_unexplained_flow(
    tmp_path: Path,
) -> None:
    """SR-26: the record of a clear explains zero totals and the totals read before it, and
    nothing else: a daemon killed after ``totals.clearing`` whose pump then ran on its own
    (10 uL more) raises the unexplained-flow alarm at its first reading."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))

    bench.daemon.delivery.driver.clear_dispensed = _die
    with pytest.raises(Killed):
        bench.run_until(SLOT_2 + timedelta(minutes=5))
    assert bench.kinds()[-1] == "totals.clearing"
    assert bench.sim.pump.drive.infused_ul == 10  # the clear never reached the pump
    bench.sim.pump.drive.infused_ul += 10  # run by hand at the pump while no daemon watched
    bench.journal.close()
    again = make_bench(tmp_path, sim=bench.sim, ledger=bench.ledger, clock=bench.clock)
    again.daemon.start()
    again.run_for(60)
    (flow,) = again.journal.events(kinds=("flow.unexplained",))
    assert Decimal(flow.payload["volume_ul"]) == 10
    assert Decimal(flow.payload["expected_ul"]) == 10


def test_a_disarmed_slot_is_not_given_after_a_restart_inside_its_window(tmp_path: Path) -> None:
    """SR-10: disarmed at 08:00; the daemon restarts at 08:02, well inside the 10-minute
    window: the slot is not armed or given again."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(seconds=1))
    bench.daemon.handle({"cmd": "suspend", "reason": "x"}, OPERATOR)
    bench.daemon.handle({"cmd": "resume", "reason": "y"}, OPERATOR)
    bench.run_until(SLOT_1 + timedelta(minutes=2))
    bench.daemon.shutdown("restart")
    bench.journal.close()
    again = make_bench(tmp_path, sim=bench.sim, ledger=bench.ledger, clock=bench.clock)
    again.daemon.start()
    again.run_until(SLOT_1 + timedelta(minutes=15))
    assert again.starts() == []
    assert slot_ids(again, "pulse.armed") == [SLOT_1.strftime("S%Y%m%dT%H%M%SZ")]


def test_a_reservoir_fill_while_armed_disarms(tmp_path: Path) -> None:
    """SR-17: the reservoir is refilled at slot-1 s: a change to what the gate weighs, so the
    armed pulse is not started."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(seconds=1))
    bench.daemon.handle(
        {"cmd": "reservoir_fill", "volume_ul": "900", "reason": "new syringe"}, OPERATOR
    )
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert bench.starts() == []
    assert "reservoir.changed" in disarmed_why(bench)


def test_a_volume_changed_behind_the_daemons_back_after_the_read_back_is_bounded(
    tmp_path: Path,
) -> None:
    """SR-25 SR-31: what the armed window leaves open, and what bounds it. A second client
    (which SR-31 keeps off the device) sets VOL 20 after the read-back: the pump runs past the
    armed 10 uL and the volume-bounded monitor stops it within the SR-25 bound, recorded
    OVER_DELIVERED with the measured volume, alarmed and suspended."""
    bench = make_bench(tmp_path, wire_time=True)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(seconds=1))
    bench.sim.inject("rogue,send=VOL20")
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    (outcome,) = bench.journal.events(kinds=("pulse.outcome",))
    assert outcome.payload["outcome"] == "OVER_DELIVERED"
    delivered = Decimal(outcome.payload["delivered_volume_ul"])
    assert Decimal(10) < delivered <= Decimal("10.5")
    assert "over-delivery" in bench.daemon.safety_suspended
