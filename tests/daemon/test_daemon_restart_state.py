"""What latches survives a restart: alarms, suspensions and the run of missed pulses (SR-30)."""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.core.model import Reason
from tests.daemon.harness import OPERATOR, START, Bench, make_bench

SLOT_1 = START + timedelta(minutes=5)  # 08:00
SLOT_2 = SLOT_1 + timedelta(minutes=90)


def restart(bench: Bench, tmp_path: Path, *, down_s: float = 0, fill: bool = True) -> Bench:
    bench.daemon.shutdown("test")
    bench.journal.close()
    bench.clock.advance(down_s)
    again = make_bench(
        tmp_path,
        clock=bench.clock,
        sim=bench.sim,
        ledger=bench.ledger,
        fill_ul=Decimal(1000) if fill else None,
    )
    again.daemon.start()
    return again


def test_an_unacknowledged_high_alarm_still_blocks_after_a_restart(tmp_path: Path) -> None:
    """SR-30: a stall's high alarm, not acknowledged, is restored and denies the next slot."""
    bench = make_bench(tmp_path, faults=("stall@0.5",))
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    assert bench.daemon.alarms.high_active
    again = restart(bench, tmp_path)
    assert "pump-alarm-stall" in [a.alarm_id for a in again.daemon.alarms.unacknowledged()]
    assert again.daemon.gate_state().alarm_active
    again.run_until(SLOT_2 + timedelta(minutes=15))
    assert len(again.starts()) == 1
    denied = again.journal.events(kinds=("slot.missed",))
    assert Reason.ALARM_ACTIVE.value in denied[-1].payload["reasons"]
    for alarm in again.daemon.alarms.unacknowledged():
        again.ack(alarm.alarm_id, "line cleared")
    again.run_until(SLOT_2 + timedelta(minutes=95))
    assert len(again.starts()) == 2


def test_a_safety_suspension_lasts_across_a_restart_until_acknowledged(tmp_path: Path) -> None:
    """SR-30, SR-25: a pump that ran past its volume suspends delivery; a restart does not lift
    the suspension, an acknowledgement does."""
    bench = make_bench(tmp_path, faults=("runaway@0.5",))
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    assert "over-delivery" in bench.daemon.safety_suspended
    again = restart(bench, tmp_path)
    assert bench.daemon.safety_suspended <= again.daemon.safety_suspended
    again.run_until(SLOT_2 + timedelta(minutes=15))
    assert len(again.starts()) == 1
    for alarm in again.daemon.alarms.unacknowledged():
        again.ack(alarm.alarm_id, "pump replaced")
    assert not again.daemon.safety_suspended
    again.run_until(SLOT_2 + timedelta(minutes=95))
    assert len(again.starts()) == 2


def test_an_operator_suspension_lasts_across_a_restart(tmp_path: Path) -> None:
    """SR-30: the operator's suspension is restored; a safety resume does not end it."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.daemon.handle({"cmd": "suspend", "reason": "site change"}, OPERATOR)
    again = restart(bench, tmp_path)
    assert again.daemon.operator_suspended == "site change"
    again.run_until(SLOT_1 + timedelta(minutes=30))
    assert again.starts() == []


def test_the_missed_pulse_run_continues_across_a_restart(tmp_path: Path) -> None:
    """SR-30, SR-22: one slot missed before a restart and one after make the alarm high."""
    bench = make_bench(tmp_path, fill_ul=None)  # no fill on record: every slot is denied
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=20))
    alarm = bench.daemon.alarms.get("missed-pulse")
    assert alarm.priority == "medium"
    bench.ack("missed-pulse", "seen")
    again = restart(bench, tmp_path, fill=False)
    again.run_until(SLOT_2 + timedelta(minutes=20))
    alarm = again.daemon.alarms.get("missed-pulse")
    assert alarm.priority == "high" and "2 in a row" in alarm.detail


def test_a_slot_left_unconfirmed_by_a_kill_is_alarmed_after_the_restart(tmp_path: Path) -> None:
    """SR-30, SR-22: a slot whose alarm time fell while no daemon ran is alarmed at restart."""
    bench = make_bench(tmp_path, fill_ul=None)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))  # the slot is open, no alarm yet
    assert [a.alarm_id for a in bench.daemon.alarms.active()] == []
    again = restart(bench, tmp_path, down_s=3600, fill=False)
    again.run_for(1)
    assert "missed-pulse" in [a.alarm_id for a in again.daemon.alarms.active()]
    raised = again.journal.events(kinds=("alarm.raised",))
    assert raised[-1].payload["slot_id"] == "S20260302T080000Z"


def test_start_up_waiting_for_a_moving_pump_asks_systemd_for_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up that waits for a pump still moving sends EXTEND_TIMEOUT_USEC at every poll."""
    bench = make_bench(tmp_path)

    class Crash(BaseException):
        pass

    transport = bench.daemon.driver._given_transport  # type: ignore[attr-defined]
    original = transport.write

    def write(data: bytes) -> None:
        original(data)
        if b"RUN" in data:
            raise Crash

    transport.write = write  # type: ignore[method-assign]
    bench.daemon.start()
    with pytest.raises(Crash):
        bench.run_until(SLOT_1 + timedelta(minutes=5))
    bench.journal.close()
    with tempfile.TemporaryDirectory(prefix="pn") as tmp:
        path = str(Path(tmp) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.5)
        messages: list[str] = []

        def listen() -> None:  # systemd reads as messages come
            with contextlib.suppress(TimeoutError):
                while True:
                    messages.append(sock.recv(4096).decode())

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        again = make_bench(tmp_path, clock=bench.clock, sim=bench.sim, ledger=bench.ledger)
        again.daemon.start()
        reader.join(timeout=10)
        sock.close()
    extends = [m for m in messages if m.startswith("EXTEND_TIMEOUT_USEC=")]
    assert len(extends) >= 5  # a 60 s bolus polled every 2 s at most
    assert not again.journal.pending_pulses()
