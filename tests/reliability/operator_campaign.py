"""The operator campaign: a hostile operator and a flaky host against a daemon and pumpsim.

A Hypothesis state machine interleaves suspend, resume, ack, silence, reservoir fill, reload
(changed, unchanged, and one changing [pump], which SR-27 refuses), SIGTERM, SIGKILL (between
ticks and mid-pulse) + restart, pump faults and clock advance. The daemon talks real NE-1000
bytes to pumpsim's pump model on one virtual clock; pumpsim's ledger records every plunger
movement.

After every step it checks:

- every reply matches what then happened: a request reported done is journaled and in force, a
  refused one changed nothing at all (not one journal record);
- the ledger against the journal (:mod:`tests.reliability.ground_truth`): every motion has its
  own intent and a true outcome, no interval or 24 h cap is broken physically;
- latched alarms: every high alarm the journal shows raised and not acknowledged is still
  active in the daemon, across restarts, and status is never ``ready`` meanwhile;
- the journal verifies (chain, head, schema, derived tables).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pumpctl.config import parse_config_text
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import START_LATENCY_BOUND
from pumpctl.daemon.assemble import assemble
from pumpctl.daemon.service import Daemon
from pumpctl.daemon.waiting import VirtualWaker
from pumpctl.errors import PumpctlError
from pumpctl.journal import EventKind, Journal
from pumpctl.journal.verify import verify
from pumpctl.simulator.ledger import Ledger
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.session import Ne1000Simulator
from tests.reliability import campaign_numbers
from tests.reliability.ground_truth import (
    SlotRecord,
    check_physical_limits,
    check_records,
    motions,
    read_ledger,
)

START = datetime(2026, 3, 2, 7, 55, tzinfo=UTC)
OPERATOR = {"uid": 1000, "gid": 1000, "pid": 4242}
SYRINGE_UL = 1000
#: Faults a pump may show during a pulse; each one fires once, in the next pulse.
PUMP_FAULTS = ("stall@0.5", "power-reset@0.5", "runaway@0.5", "reservoir-empty@0.5")
#: Free text an operator may type, control characters included (refused at the socket, but the
#: in-process path must not be fooled either).
REASONS = st.sampled_from(["site change", "meal", "line check", "INC-42", "x" * 200])


def config_text(interval_min: int, safe_mode_timeout_s: int = 30) -> str:
    return f"""
[prescription]
dose_ug = 10
concentration_ug_per_ml = 1000
interval_min = {interval_min}
pulse_duration_s = 60
anchor = "2026-03-02T08:00:00+00:00"
timezone = "UTC"

[pump]
driver = "ne1000"
url = "socket://127.0.0.1:7777"
syringe_diameter_mm = 4.78
syringe_volume_ul = {SYRINGE_UL}
safe_mode_timeout_s = {safe_mode_timeout_s}

[journal]
state_dir = "/nonexistent"
"""


class Crash(BaseException):
    """SIGKILL: the daemon stops dead at a write to the pump (not an Exception: nothing catches
    it on the way out)."""


class OperatorCampaign(RuleBasedStateMachine):
    """One bench life per Hypothesis example; restarts keep the clock, pump, ledger and journal."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="pumpctl-operator-"))
        self.journal_path = self.dir / "journal.sqlite3"
        self.ledger_path = self.dir / "ledger.jsonl"
        self.clock = VirtualClock(START, elapsed_s=5000.0)
        self.ledger = Ledger(self.ledger_path)
        self.sim = Ne1000Simulator(self.clock, syringe_ul=float(SYRINGE_UL), ledger=self.ledger)
        self.interval_min = 90
        self.config = parse_config_text(config_text(self.interval_min))
        self.counts: Counter[str] = Counter()
        self.journal: Journal
        self.daemon: Daemon
        self.boot(first=True)

    # -- lives ---------------------------------------------------------------------------------

    def boot(self, *, first: bool = False) -> None:
        """Start a daemon on the same journal, pump and clock, as systemd would after a death."""
        self.journal = Journal(self.journal_path, self.clock)
        if first:
            self.journal.record_reservoir_change(Decimal(SYRINGE_UL), "test", "syringe loaded")
        self.daemon = assemble(
            self.config,
            clock=self.clock,
            waker=VirtualWaker(self.clock),
            journal=self.journal,
            transport=LoopbackTransport(self.sim),
            heartbeat_s=10.0,
            record_first_fill=False,
        )
        self.daemon.start()

    def kill(self) -> None:
        """The process is gone: nothing more is written; the file handles close with it."""
        self.journal.close()
        self.counts["kills"] += 1

    def teardown(self) -> None:
        for key, value in self.counts.items():
            campaign_numbers.add(f"operator_{key}", value)
        campaign_numbers.add("operator_examples")
        campaign_numbers.add("operator_pulses", len(motions(read_ledger(self.ledger_path))))
        self.journal.close()
        self.ledger.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------------

    def seq(self) -> int:
        head = self.journal.head
        return 0 if head is None else head.seq

    def appended_since(self, seq: int) -> list[str]:
        return [e.kind for e in self.journal.events() if e.seq > seq]

    def ask(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Send one request; the reply, or None when it was refused, having changed nothing."""
        before = self.seq()
        self.counts["requests"] += 1
        try:
            return self.daemon.handle(body, OPERATOR)
        except PumpctlError:
            self.counts["refusals"] += 1
            # Invariant (SR-29): refused means never executed, not even half-way.
            assert self.appended_since(before) == [], (body, self.appended_since(before))
            return None

    def run_for(self, seconds: float) -> None:
        self.daemon.run(until=self.clock.now() + timedelta(seconds=seconds))

    # -- the operator ----------------------------------------------------------------------------

    @rule(reason=REASONS)
    def suspend(self, reason: str) -> None:
        reply = self.ask({"cmd": "suspend", "reason": reason})
        assert reply is not None and reply["state"] == "suspended"
        suspended = self.journal.events(kinds=(EventKind.DELIVERY_SUSPENDED,))[-1]
        assert suspended.payload["reason"] == reason
        assert self.daemon.operator_suspended == reason

    @rule()
    def resume(self) -> None:
        was = self.daemon.operator_suspended
        reply = self.ask({"cmd": "resume", "reason": "done"})
        if was is None:
            assert reply is None, "resume without a suspension must be refused"
            return
        assert reply is not None and self.daemon.operator_suspended is None
        assert (
            self.journal.events(kinds=(EventKind.DELIVERY_RESUMED,))[-1].payload["reason"] == "done"
        )
        assert reply["state"] != "suspended" or self.daemon.safety_suspended

    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        open_ids = [a.alarm_id for a in self.daemon.alarms.unacknowledged()]
        alarm_id = data.draw(st.sampled_from([*open_ids, "missed-pulse", "no-such-alarm"]))
        reply = self.ask({"cmd": "ack", "alarm_id": alarm_id, "reason": "checked"})
        if alarm_id not in open_ids:
            assert reply is None, f"ack of {alarm_id!r}, not open, must be refused"
            return
        assert reply is not None
        assert alarm_id not in [a.alarm_id for a in self.daemon.alarms.unacknowledged()]
        acked = self.journal.events(kinds=(EventKind.ALARM_ACKNOWLEDGED,))[-1]
        assert acked.payload["alarm_id"] == alarm_id

    @rule(data=st.data(), minutes=st.integers(min_value=1, max_value=60))
    def silence(self, data: st.DataObject, minutes: int) -> None:
        open_ids = [a.alarm_id for a in self.daemon.alarms.unacknowledged()]
        alarm_id = data.draw(st.sampled_from([*open_ids, "no-such-alarm"]))
        high_before = self.daemon.alarms.high_active
        reply = self.ask({"cmd": "silence", "alarm_id": alarm_id, "minutes": minutes})
        if alarm_id not in open_ids:
            assert reply is None
            return
        assert reply is not None
        # Silence is not acknowledgement: what blocked delivery still blocks it.
        assert self.daemon.alarms.high_active == high_before

    @rule(volume=st.integers(min_value=1, max_value=3 * SYRINGE_UL))
    def fill(self, volume: int) -> None:
        running = self.daemon.state.delivering is not None
        reply = self.ask({"cmd": "reservoir_fill", "volume_ul": str(volume)})
        if volume > SYRINGE_UL or running:
            assert reply is None, f"fill of {volume} uL must be refused"
            return
        assert reply is not None and reply["reservoir_ul"] == volume
        changed = self.journal.events(kinds=(EventKind.RESERVOIR_CHANGED,))[-1]
        assert Decimal(str(changed.payload["volume_ul"])) == volume

    # -- the host --------------------------------------------------------------------------------

    @rule(minutes=st.integers(min_value=1, max_value=240))
    def advance(self, minutes: int) -> None:
        self.run_for(minutes * 60)
        self.counts["simulated_minutes"] += minutes

    @rule(change=st.sampled_from(["none", "prescription", "pump"]))
    def reload(self, change: str) -> None:
        """SIGHUP: the loader runs at the next tick. An unchanged file changes nothing; a changed
        prescription is journaled and in force; SR-27: a file that changes [pump] is refused
        whole (not the prescription it also changes) and every pulse is held until a restart or
        until the file's [pump] is put back."""
        if change == "pump":
            other = 120 if self.interval_min == 90 else 90
            new = parse_config_text(config_text(other, safe_mode_timeout_s=20))
        else:
            if change == "prescription":
                self.interval_min = 120 if self.interval_min == 90 else 90
            new = parse_config_text(config_text(self.interval_min))
        before = self.seq()
        next_before = self.daemon.planner.next_after(self.clock.now())
        self.daemon.reload_requested = lambda: new
        self.run_for(1)
        kinds = self.appended_since(before)
        if change == "pump":
            assert EventKind.PRESCRIPTION_CHANGE.value not in kinds
            assert EventKind.LIMITS_CHANGE.value not in kinds
            assert self.daemon.prescription.interval_min == self.interval_min
            assert self.daemon.held_for_restart is not None
            assert self.daemon.snapshot()["state"] != "ready"
            self.counts["reloads_refused"] += 1
            return
        self.config = new
        if change == "prescription":
            assert EventKind.PRESCRIPTION_CHANGE.value in kinds
            assert self.daemon.prescription.interval_min == self.interval_min
        else:
            assert EventKind.PRESCRIPTION_CHANGE.value not in kinds
            assert EventKind.LIMITS_CHANGE.value not in kinds
            nxt = self.daemon.planner.next_after(self.clock.now())
            assert nxt.scheduled == next_before.scheduled or nxt.scheduled > next_before.scheduled
        # The file's [pump] is the running one again: an SR-27 hold is released.
        assert self.daemon.held_for_restart is None
        self.counts["reloads"] += 1

    @rule()
    def sigterm(self) -> None:
        self.daemon.shutdown("SIGTERM")
        self.journal.close()
        self.boot()
        starts = self.journal.events(kinds=(EventKind.DAEMON_START, EventKind.DAEMON_STOP))
        assert [e.kind for e in starts[-2:]] == ["daemon.stop", "daemon.start"]
        self.counts["restarts"] += 1

    @rule(down_min=st.integers(min_value=0, max_value=300))
    def sigkill_between_ticks(self, down_min: int) -> None:
        self.kill()
        self.clock.advance(down_min * 60)
        self.boot()

    @rule(writes=st.integers(min_value=0, max_value=12), down_min=st.integers(0, 30))
    def sigkill_mid_pulse(self, writes: int, down_min: int) -> None:
        """Killed at the ``writes``-th write to the pump from the next slot's time on: before,
        during or after the intent, the RUN or the outcome."""
        nxt = self.daemon.planner.next_after(self.clock.now())
        transport: Any = self.daemon.driver._given_transport  # type: ignore[attr-defined]
        original = transport.write
        left = [writes]

        def write(data: bytes) -> None:
            if self.clock.now() >= nxt.scheduled:
                if left[0] == 0:
                    raise Crash
                left[0] -= 1
            original(data)

        transport.write = write
        try:
            self.daemon.run(until=nxt.scheduled + timedelta(minutes=5))
        except Crash:
            self.counts["kills_mid_pulse"] += 1
        self.kill()
        self.clock.advance(down_min * 60)
        self.boot()

    @precondition(lambda self: not self.sim.pump._armed)  # one fault at a time
    @rule(fault=st.sampled_from(PUMP_FAULTS))
    def pump_fault(self, fault: str) -> None:
        """The fault fires in the next pulse, which is then let run (and alarm)."""
        self.sim.inject(fault)
        self.counts["pump_faults"] += 1
        nxt = self.daemon.planner.next_after(self.clock.now())
        self.daemon.run(until=nxt.scheduled + timedelta(minutes=5))

    # -- after every step ----------------------------------------------------------------------

    @invariant()
    def journal_verifies(self) -> None:
        result = verify(self.journal_path)
        assert result.ok, result.problem

    @invariant()
    def ledger_matches_journal(self) -> None:
        moved = motions(read_ledger(self.ledger_path))
        problems, _ = check_records(moved, self.slot_records(), slack_s=120.0)
        # The gate grants a start the start-latency bound (x the clock's scale) of the minimum
        # interval (docs/design.md); the ledger is judged with exactly that, never more.
        allowance_s = START_LATENCY_BOUND.total_seconds() * float(self.daemon.clock.scale)
        problems += check_physical_limits(moved, self.daemon.limits, tolerance_s=allowance_s)
        assert not problems, problems

    @invariant()
    def latched_alarms_stay_latched(self) -> None:
        latched = self.latched_high_alarms()
        active = {a.alarm_id for a in self.daemon.alarms.unacknowledged()}
        assert latched <= active, f"journal latches {latched - active}, the daemon lost them"
        snap = self.daemon.snapshot()
        if latched:
            assert snap["state"] != "ready", (latched, snap["state"])
        if snap["state"] == "ready":
            state = self.daemon.gate_state()
            assert not (state.alarm_active or state.suspended or not state.pump_ready)

    def latched_high_alarms(self) -> set[str]:
        """High alarms the journal shows raised and not acknowledged since (independently of the
        daemon's own restore)."""
        latched: dict[str, bool] = {}
        kinds = (EventKind.ALARM_RAISED, EventKind.ALARM_ACKNOWLEDGED)
        for event in self.journal.events(kinds=kinds):
            alarm_id = str(event.payload["alarm_id"])
            if event.kind == EventKind.ALARM_RAISED.value:
                latched[alarm_id] = event.payload.get("priority") == "high"
            else:
                latched[alarm_id] = False
        return {alarm_id for alarm_id, on in latched.items() if on}

    def slot_records(self) -> dict[str, SlotRecord]:
        slots: dict[str, SlotRecord] = {}
        kinds = ("pulse.intent", "pulse.outcome", "pulse.reconciled")
        for event in self.journal.events(kinds=kinds):
            slot_id = str(event.payload["slot_id"])
            if event.kind == "pulse.intent":
                volume = Decimal(str(event.payload["volume_ul"]))
                slots[slot_id] = SlotRecord(slot_id, event.wall, volume)
                continue
            record = slots.get(slot_id)
            if record is None:
                continue
            delivered = event.payload.get("delivered_volume_ul")
            record.outcomes.append(
                (
                    event.kind,
                    str(event.payload["outcome"]),
                    None if delivered is None else Decimal(str(delivered)),
                    str(event.payload.get("source") or "daemon"),
                )
            )
        return slots
