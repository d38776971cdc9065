"""The daemon loop and the pulse transaction against the in-process simulator (real wire bytes).

Every test runs hours of therapy on one virtual clock shared by the daemon and the simulator,
and checks what the plunger did in the simulator's ground-truth ledger, not what the daemon
believes.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.config import parse_config_text
from pumpctl.core.model import Outcome, Reason
from pumpctl.journal.export import export_slots
from pumpctl.simulator.loopback import LoopbackTransport
from tests.daemon.harness import OPERATOR, RUN_COMMAND, START, config_text, make_bench

SLOT_1 = START + timedelta(minutes=5)  # 08:00
SLOT_2 = SLOT_1 + timedelta(minutes=90)


def outcomes(bench) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        str(e.payload["outcome"])
        for e in bench.journal.events(kinds=("pulse.outcome", "pulse.reconciled"))
    ]


def test_regular_pulses_match_the_ledger(tmp_path: Path, driver: str) -> None:
    """Pulses start on their slots, and journaled volumes equal what the plunger moved."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(hours=6, minutes=5))
    starts = bench.starts()
    assert [s["at"][11:19] for s in starts] == [
        "08:00:00",
        "09:30:00",
        "11:00:00",
        "12:30:00",
        "14:00:00",
    ]
    assert {s["cause"] for s in starts} == {"run"}
    ends = [e for e in bench.ledger.entries if e["event"] == "motion.end"]
    assert [e["volume_ul"] for e in ends] == [10.0] * 5
    assert outcomes(bench) == ["DELIVERED"] * 5
    assert not bench.journal.pending_pulses()


def test_intent_is_on_disk_before_run(tmp_path: Path, driver: str) -> None:
    """SR-08: when RUN reaches the wire, the journal already holds the pulse's intent."""
    bench = make_bench(tmp_path, driver=driver)
    seen: list[int] = []
    transport = bench.daemon.driver._given_transport  # type: ignore[attr-defined]
    assert isinstance(transport, LoopbackTransport)
    original = transport.write

    def write(data: bytes) -> None:
        if RUN_COMMAND[driver] in data:
            seen.append(len(bench.journal.pending_pulses()))
        original(data)

    transport.write = write  # type: ignore[method-assign]
    bench.daemon.start()
    bench.run_until(SLOT_2 + timedelta(minutes=5))
    assert seen == [1, 1]


def test_stall_is_partial_and_never_redelivered(tmp_path: Path, driver: str) -> None:
    """SR-07: a stall at half the bolus gives PARTIAL with the measured volume, alarm, no retry."""
    bench = make_bench(tmp_path, driver=driver, faults=("stall@0.5",))
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    assert len(bench.starts()) == 1
    outcome = bench.journal.events(kinds=("pulse.outcome",))[0].payload
    assert outcome["outcome"] == Outcome.PARTIAL.value
    assert Decimal(outcome["delivered_volume_ul"]) == Decimal("5.000")
    raised = {e.payload["alarm_id"] for e in bench.journal.events(kinds=("alarm.raised",))}
    assert {"pump-alarm-stall", "partial-delivery"} <= raised


def test_runaway_is_stopped_alarmed_and_suspends_until_acknowledged(
    tmp_path: Path, driver: str
) -> None:
    """SR-25, SR-06: a pump still infusing past its volume is stopped within the bound, the
    pulse is OVER_DELIVERED with its measured volume, and delivery is suspended until ack."""
    bench = make_bench(tmp_path, driver=driver, faults=("runaway@0.5",))
    bench.daemon.start()
    bench.run_until(SLOT_2 + timedelta(minutes=20))
    ends = [e for e in bench.ledger.entries if e["event"] == "motion.end"]
    assert len(ends) == 1 and ends[0]["cause"] == "stop-command"
    assert 10 < ends[0]["volume_ul"] <= 10.5  # SR-25: within max(5 %, 0.5 uL) of 10 uL
    outcome = bench.journal.events(kinds=("pulse.outcome",))[0].payload
    assert outcome["outcome"] == "OVER_DELIVERED"
    # The measured volume, to the step the pump prints its totals in (0.01 uL on an NE-1000;
    # a Pump 11's counter is exact to the femtolitre).
    step = bench.daemon.delivery.vocabulary().totals_step_ul(Decimal(10))
    recorded = Decimal(outcome["delivered_volume_ul"])
    assert abs(recorded - Decimal(str(ends[0]["volume_ul"]))) <= max(step, Decimal("1e-6"))
    assert "over-delivery" in bench.daemon.safety_suspended
    row = next(r for r in export_slots(bench.journal.events()) if r["outcome"] == "OVER_DELIVERED")
    assert "over-delivery" in [a["alarm_id"] for a in row["alarms"]]  # the export shows it
    denied = bench.journal.events(kinds=("slot.missed",))
    assert denied and Reason.ALARM_ACTIVE.value in denied[-1].payload["reasons"]
    assert len(bench.starts()) == 1  # the 09:30 slot was not delivered
    bench.ack("over-delivery", "line checked, pump replaced")
    bench.run_until(SLOT_2 + timedelta(minutes=95))
    assert len(bench.starts()) == 2
    kinds = bench.kinds()
    assert "delivery.suspended" in kinds and "delivery.resumed" in kinds


def test_spontaneous_start_between_pulses_is_stopped(tmp_path: Path, driver: str) -> None:
    """SR-06, SR-26: the pump infusing with no pulse commanded is stopped at the next
    scheduled reading (every 5 s), its volume journaled, and a high alarm raised."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    bench.sim.inject("spontaneous-start")
    bench.run_for(60)
    spontaneous = [e for e in bench.ledger.entries if e.get("cause") == "spontaneous-start"]
    assert len(spontaneous) == 1
    ends = [e for e in bench.ledger.entries if e["event"] == "motion.end"]
    assert ends[-1]["cause"] == "stop-command"
    assert ends[-1]["elapsed_end_s"] - spontaneous[0]["elapsed_s"] <= 5.0  # one reading
    assert bench.daemon.alarms.high_active
    flow = bench.journal.events(kinds=("flow.unexplained",))
    assert len(flow) == 1 and flow[0].payload["moving"] is True
    assert Decimal(flow[0].payload["volume_ul"]) == Decimal(str(round(ends[-1]["volume_ul"], 3)))


def test_crash_mid_pulse_is_reconciled_from_pump_evidence(tmp_path: Path, driver: str) -> None:
    """SR-08, SR-09: after a crash mid-pulse the intent is UNCERTAIN, then settled from DIS.

    The restarted daemon never sends the pulse again: the ledger holds one start.
    """
    bench = make_bench(tmp_path, driver=driver)

    class Crash(BaseException):
        pass

    transport = bench.daemon.driver._given_transport  # type: ignore[attr-defined]
    original = transport.write
    state = {"run_sent": False}

    def write(data: bytes) -> None:
        original(data)
        if RUN_COMMAND[driver] in data:
            state["run_sent"] = True
            raise Crash

    transport.write = write  # type: ignore[method-assign]
    bench.daemon.start()
    with pytest.raises(Crash):
        bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert state["run_sent"]
    assert [r.slot_id for r in bench.journal.pending_pulses()] == ["S20260302T080000Z"]
    bench.clock.advance(20)  # the pump carries on with its bounded bolus meanwhile
    bench.journal.close()

    restarted = make_bench(
        tmp_path, driver=driver, clock=bench.clock, sim=bench.sim, ledger=bench.ledger
    )
    assert restarted.journal.pending_pulses()  # still UNCERTAIN on reopen (SR-09)
    restarted.daemon.start()
    assert not restarted.journal.pending_pulses()
    settled = restarted.journal.events(kinds=("pulse.reconciled",))
    assert settled[0].payload["outcome"] == "DELIVERED"
    restarted.run_until(SLOT_1 + timedelta(minutes=60))
    assert len(restarted.starts()) == 1


def test_a_pump_power_loss_while_down_leaves_the_pulse_to_the_operator(
    tmp_path: Path, driver: str
) -> None:
    """SR-09 SR-14: crash after RUN, then the pump loses power: never settled NOT_DELIVERED.

    The NE-1000's watchdog stops the orphaned bolus; it keeps its totals and says so with its
    power-up alarm, so the pulse is settled PARTIAL from them. A Pump 11 Elite has no watchdog:
    its target ends the bolus at the full volume; it loses its totals and says nothing, and the
    target it lost is the only trace, so the pulse waits for the operator.
    """
    bench = make_bench(tmp_path, driver=driver)

    class Crash(BaseException):
        pass

    transport = bench.daemon.driver._given_transport  # type: ignore[attr-defined]
    original = transport.write

    def write(data: bytes) -> None:
        original(data)
        if RUN_COMMAND[driver] in data:
            raise Crash

    transport.write = write  # type: ignore[method-assign]
    bench.daemon.start()
    with pytest.raises(Crash):
        bench.run_until(SLOT_1 + timedelta(minutes=5))
    bench.clock.advance(120)  # the bolus ran to its end while the daemon was down...
    bench.sim.inject("power-reset")  # ...and then the pump lost power, and its totals
    bench.journal.close()

    restarted = make_bench(
        tmp_path, driver=driver, clock=bench.clock, sim=bench.sim, ledger=bench.ledger
    )
    restarted.daemon.start()
    assert len(restarted.starts()) == 1  # the plunger did move once
    moved = restarted.ledger.infused_ul()
    settled = restarted.journal.events(kinds=("pulse.reconciled",))
    assert all(e.payload["outcome"] != "NOT_DELIVERED" for e in settled)
    if driver == "ne1000":
        assert moved == pytest.approx(5.0)  # stopped by the safe-mode watchdog after 30 s
        assert [e.payload["outcome"] for e in settled] == ["PARTIAL"]
    else:
        assert moved == pytest.approx(10.0)  # stopped by the pump's own target
        assert restarted.journal.pending_pulses()  # zero totals after a power loss prove nothing
        alarms = {str(a.kind) for a in restarted.daemon.alarms.unacknowledged()}
        assert "uncertain-pulse" in alarms


def test_missed_slots_while_down_are_recorded_not_caught_up(tmp_path: Path, driver: str) -> None:
    """SR-10: slots that passed while no daemon ran are MISSED; none is delivered late."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    bench.daemon.shutdown("test")
    bench.journal.close()
    bench.clock.advance(4 * 3600)  # 09:30, 11:00 pass while down; 12:30 is the next
    restarted = make_bench(
        tmp_path, driver=driver, clock=bench.clock, sim=bench.sim, ledger=bench.ledger
    )
    restarted.daemon.start()
    restarted.run_for(1)
    # SR-30: the two slots missed while down raise the missed-pulse alarm, high after two.
    alarm = restarted.daemon.alarms.get("missed-pulse")
    assert alarm.priority == "high" and "2 in a row" in alarm.detail
    restarted.ack("missed-pulse", "daemon was down, checked the subject")
    restarted.run_until(SLOT_1 + timedelta(hours=5))
    missed = [e.payload["slot_id"] for e in restarted.journal.events(kinds=("slot.missed",))]
    assert missed == ["S20260302T093000Z", "S20260302T110000Z"]
    walls = [s["at"] for s in restarted.starts()]
    assert [w[11:16] for w in walls] == ["08:00", "12:30"]


def test_suspension_skips_slots_and_resume_continues_the_cadence(
    tmp_path: Path, driver: str
) -> None:
    """SR-12, SR-10: no pulse while suspended; after resume the next slot, no catch-up."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    bench.daemon.handle({"cmd": "suspend", "reason": "site change"}, OPERATOR)
    bench.run_until(SLOT_1 + timedelta(hours=3, minutes=30))
    assert len(bench.starts()) == 1
    bench.daemon.handle({"cmd": "resume", "reason": "new site"}, OPERATOR)
    bench.run_until(SLOT_1 + timedelta(hours=4, minutes=40))
    assert [s["at"][11:16] for s in bench.starts()] == ["08:00", "12:30"]
    missed = bench.journal.events(kinds=("slot.missed",))
    assert {tuple(e.payload["reasons"]) for e in missed} == {(Reason.SUSPENDED.value,)}


def test_reservoir_that_cannot_cover_a_pulse_denies_it(tmp_path: Path, driver: str) -> None:
    """SR-17: low-reservoir alarm ahead of time; a pulse the syringe cannot cover is denied."""
    bench = make_bench(tmp_path, driver=driver, fill_ul=Decimal(25))
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(hours=4))
    assert len(bench.starts()) == 2
    raised = [e.payload["alarm_id"] for e in bench.journal.events(kinds=("alarm.raised",))]
    assert raised.index("reservoir-low") < raised.index("reservoir-empty")
    missed = bench.journal.events(kinds=("slot.missed",))
    assert Reason.RESERVOIR.value in missed[0].payload["reasons"]
    bench.daemon.handle({"cmd": "reservoir_fill", "volume_ul": "1000"}, OPERATOR)
    bench.ack("reservoir-empty")
    bench.ack("missed-pulse")
    bench.run_until(SLOT_1 + timedelta(hours=6, minutes=5))
    assert [s["at"][11:16] for s in bench.starts()] == ["08:00", "09:30", "12:30", "14:00"]


def test_missed_pulse_alarm_escalates_after_two(tmp_path: Path, driver: str) -> None:
    """SR-22: a slot unconfirmed 15 min after its time alarms (medium), high after two in a row."""
    bench = make_bench(tmp_path, driver=driver, fill_ul=None)  # no fill recorded: every slot denied
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=14))
    assert not bench.journal.events(kinds=("alarm.raised",))
    bench.run_until(SLOT_1 + timedelta(minutes=16))
    first = bench.journal.events(kinds=("alarm.raised",))
    assert [(e.payload["alarm_id"], e.payload["priority"]) for e in first] == [
        ("missed-pulse", "medium")
    ]
    bench.run_until(SLOT_2 + timedelta(minutes=16))
    last = bench.journal.events(kinds=("alarm.raised",))[-1].payload
    assert (last["alarm_id"], last["priority"]) == ("missed-pulse", "high")
    assert bench.starts() == []


def test_operator_actions_are_journaled_with_the_peer(tmp_path: Path, driver: str) -> None:
    """SR-23: every action over the control path is journaled with the peer's uid and pid."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.daemon.handle({"cmd": "suspend", "reason": "lunch"}, OPERATOR)
    actions = bench.journal.events(kinds=("operator.action",))
    assert actions[-1].payload["peer"] == OPERATOR
    assert actions[-1].payload["action"] == "suspend"


def test_reboot_with_rtc_behind_is_clock_suspect(tmp_path: Path, driver: str) -> None:
    """SR-11: after a reboot whose RTC reads 3 h early, the gate denies with clock-suspect.

    Slots the journal has already seen pass come round again on the wrong clock; none of them
    is delivered, and delivery resumes only once the wall clock is past the journal.
    """
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    bench.daemon.handle({"cmd": "suspend", "reason": "site change"}, OPERATOR)
    bench.run_until(SLOT_1 + timedelta(hours=5))  # 09:30 .. 12:30 missed while suspended
    bench.daemon.handle({"cmd": "resume", "reason": "done"}, OPERATOR)
    last_wall = bench.journal.max_event_wall()
    assert last_wall is not None
    bench.daemon.shutdown("reboot")
    bench.journal.close()
    bench.clock.reboot(downtime_s=60, wall_error_s=-3 * 3600)
    restarted = make_bench(
        tmp_path, driver=driver, clock=bench.clock, sim=bench.sim, ledger=bench.ledger
    )
    restarted.daemon.start()
    restarted.run_for(3 * 3600)
    for alarm in restarted.daemon.alarms.unacknowledged():  # the operator answers the alarms
        restarted.ack(alarm.alarm_id, "RTC fixed")
    restarted.run_for(2 * 3600)
    decisions = restarted.journal.events(kinds=("gate.decision",))
    assert any(Reason.CLOCK_SUSPECT.value in d.payload["reasons"] for d in decisions)
    later = restarted.starts()[1:]
    assert later, "delivery resumes once the wall clock is past the journal"
    assert all(s["at"] > last_wall.isoformat() for s in later)
    raised = {e.payload["alarm_id"] for e in restarted.journal.events(kinds=("alarm.raised",))}
    assert "clock-suspect" in raised


def test_reload_journals_the_prescription_change(tmp_path: Path, driver: str) -> None:
    """SR-21: a reloaded prescription takes effect through a journaled change with who and why."""
    bench = make_bench(tmp_path, driver=driver)
    bench.daemon.start()
    # The bench's own file with only the dose changed (its [pump] is the running one: SR-27).
    new = parse_config_text(config_text(driver).replace("dose_ug = 10", "dose_ug = 8"))
    bench.daemon.reload_requested = lambda: new
    bench.run_for(10)
    change = bench.journal.events(kinds=("prescription.change",))[-1].payload
    assert change["old"]["dose_ug"] == "10" and change["new"]["dose_ug"] == "8"
    assert change["who"] and change["why"]
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    ends = [e for e in bench.ledger.entries if e["event"] == "motion.end"]
    assert ends[-1]["volume_ul"] == 8.0
