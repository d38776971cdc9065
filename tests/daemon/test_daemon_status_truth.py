"""`status` says what blocks delivery: a state that is never `ready` while the gate would refuse
the next slot for a standing reason, and each reason in `blocked_by` (SR-29, SR-30)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pumpctl.cli.control import render_status
from pumpctl.core.model import Reason
from tests.daemon.harness import OPERATOR, START, Bench, make_bench

SLOT_1 = START + timedelta(minutes=5)  # 08:00
SLOT_2 = SLOT_1 + timedelta(minutes=90)


def reasons(snap: dict[str, Any]) -> list[str]:
    return [item["reason"] for item in snap["blocked_by"]]


def restart(bench: Bench, tmp_path: Path) -> Bench:
    bench.daemon.shutdown("test")
    bench.journal.close()
    again = make_bench(tmp_path, clock=bench.clock, sim=bench.sim, ledger=bench.ledger)
    again.daemon.start()
    return again


def test_a_ready_daemon_says_ready_with_nothing_blocking(tmp_path: Path) -> None:
    """Filled reservoir, passed self-test, no alarm: status is ready and blocked by nothing."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_for(1)
    snap = bench.daemon.snapshot()
    assert (snap["state"], snap["blocked_by"], snap["delivering"]) == ("ready", [], None)


def test_a_latched_high_alarm_after_a_restart_is_blocked_not_ready(tmp_path: Path) -> None:
    """SR-30: the restored, unacknowledged stall alarm shows as blocked by alarm-active, naming
    the alarm; the ack makes the daemon ready again and the next slot is then given."""
    bench = make_bench(tmp_path, faults=("stall@0.5",))
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    again = restart(bench, tmp_path)
    again.run_for(1)
    snap = again.daemon.snapshot()
    assert snap["state"] == "blocked"
    assert reasons(snap) == [Reason.ALARM_ACTIVE.value]
    assert "pump-alarm-stall" in snap["blocked_by"][0]["detail"]
    for alarm in again.daemon.alarms.unacknowledged():
        again.ack(alarm.alarm_id, "line cleared")
    assert again.daemon.snapshot()["state"] == "ready"
    again.run_until(SLOT_2 + timedelta(minutes=5))
    assert len(again.starts()) == 2


def test_no_recorded_fill_blocks_with_the_reservoir_reason(tmp_path: Path) -> None:
    """SR-17: without a recorded fill the gate refuses every pulse; status says so."""
    bench = make_bench(tmp_path, fill_ul=None)
    bench.daemon.start()
    bench.run_for(1)
    snap = bench.daemon.snapshot()
    assert snap["state"] == "blocked" and reasons(snap) == [Reason.RESERVOIR.value]
    assert snap["reservoir_ul"] is None
    bench.daemon.handle({"cmd": "reservoir_fill", "volume_ul": "500"}, OPERATOR)
    assert bench.daemon.snapshot()["state"] == "ready"


def test_a_reservoir_short_of_the_next_pulse_is_blocked(tmp_path: Path) -> None:
    """A fill smaller than the next pulse blocks (reservoir), with both volumes in the detail."""
    bench = make_bench(tmp_path, fill_ul=Decimal(4))
    bench.daemon.start()
    bench.run_for(1)
    snap = bench.daemon.snapshot()
    assert snap["state"] == "blocked" and reasons(snap) == [Reason.RESERVOIR.value]
    assert "4 uL < pulse 10" in snap["blocked_by"][0]["detail"]


def test_an_operator_suspension_is_suspended_with_its_reason(tmp_path: Path) -> None:
    """An operator's suspension shows as suspended, the reason in blocked_by and resumable."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.daemon.handle({"cmd": "suspend", "reason": "site change"}, OPERATOR)
    snap = bench.daemon.snapshot()
    assert snap["state"] == "suspended"
    assert snap["blocked_by"] == [
        {"reason": "suspended", "detail": "suspended by an operator: site change"}
    ]
    bench.daemon.handle({"cmd": "resume"}, OPERATOR)
    assert bench.daemon.snapshot()["state"] == "ready"


def test_an_uncertain_pulse_blocks_until_acknowledged(tmp_path: Path) -> None:
    """SR-09: a pump reset mid-pulse leaves the pulse UNCERTAIN; status is blocked by it
    (uncertain-pending, and its high alarm) until the operator's acknowledgement."""
    bench = make_bench(tmp_path, faults=("power-reset@run:1:0.5",))
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    snap = bench.daemon.snapshot()
    assert snap["state"] == "blocked"
    assert Reason.UNCERTAIN_PENDING.value in reasons(snap)
    assert Reason.ALARM_ACTIVE.value in reasons(snap)
    assert "uncertain-pulse" in snap["blocked_by"][reasons(snap).index("alarm-active")]["detail"]
    bench.ack("uncertain-pulse", "syringe checked: given")
    assert bench.daemon.snapshot()["state"] == "ready"


def test_status_during_a_pulse_says_delivering_which_slot(tmp_path: Path) -> None:
    """While a pulse runs, status (read from the snapshot, never waiting for the loop) says
    delivering with the slot, its volume and when it started; afterwards ready again. The
    snapshot is rebuilt once RUN is answered (not between the slot and RUN, issue 13), so the
    first command after RUN (the bolus's first reading) already sees it."""
    bench = make_bench(tmp_path)
    seen: list[dict[str, Any]] = []
    transport = bench.daemon.driver._given_transport  # type: ignore[attr-defined]
    original = transport.write
    run_sent: list[bytes] = []

    def write(data: bytes) -> None:
        original(data)
        if run_sent and not seen:
            seen.append(bench.daemon.snapshot())
        if b"RUN" in data:
            run_sent.append(data)

    transport.write = write  # type: ignore[method-assign]
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert seen, "the pulse ran"
    during = seen[0]
    assert during["state"] == "delivering"
    assert during["delivering"]["slot_id"] == "S20260302T080000Z"
    assert during["delivering"]["volume_ul"] == 10
    assert during["delivering"]["started_utc"].startswith("2026-03-02T08:00")
    after = bench.daemon.snapshot()
    assert (after["state"], after["delivering"]) == ("ready", None)
    assert after["last_pulse"]["outcome"] == "DELIVERED"


def test_a_clock_set_behind_the_journal_is_blocked_by_the_clock(tmp_path: Path) -> None:
    """SR-11: a wall clock behind the last journaled event blocks (clock-suspect) and says so."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_for(60)
    bench.clock.step_wall(-3600)
    bench.run_for(1)
    snap = bench.daemon.snapshot()
    assert snap["state"] == "blocked"
    assert Reason.CLOCK_SUSPECT.value in reasons(snap)


def test_the_status_text_lists_each_blocker_on_its_own_line() -> None:
    """`pumpctl status` prints the state, then one indented line per blocking reason."""
    text = render_status(
        {
            "ok": True,
            "state": "blocked",
            "blocked_by": [
                {"reason": "alarm-active", "detail": "unacknowledged high alarm missed-pulse"},
                {"reason": "reservoir", "detail": "reservoir 4 uL < pulse 10 uL"},
            ],
            "delivering": None,
        }
    )
    lines = text.splitlines()
    assert lines[0].split() == ["State:", "blocked"]
    assert lines[1].split(":")[0] == "Blocked by"
    assert lines[2] == "  alarm-active: unacknowledged high alarm missed-pulse"
    assert lines[3] == "  reservoir: reservoir 4 uL < pulse 10 uL"
