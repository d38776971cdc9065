"""The delivery loop: wake, check the pump, record missed slots, ask the gate, deliver.

One thread owns the pump, the journal and the alarms; the control socket hands it requests
through a queue and reads a snapshot for status. A tick never blocks longer than a pulse, and
every failure inside it becomes an alarm and a journal event, never an exit: a running daemon
keeps running (SR-24).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from pumpctl import __version__
from pumpctl.core.clock import Clock
from pumpctl.core.gate import GateContext, authorize, history_since
from pumpctl.core.model import (
    Decision,
    GateState,
    Limits,
    Outcome,
    Prescription,
    PulseRecord,
    Reason,
    Slot,
)
from pumpctl.core.planner import Planner
from pumpctl.daemon import notify
from pumpctl.daemon.alarms import AlarmEvent, AlarmKind, AlarmSet, Priority, Transition
from pumpctl.daemon.flow_watch import FlowWatch
from pumpctl.daemon.reservoir import Reservoir
from pumpctl.daemon.waiting import Waker
from pumpctl.delivery import DeliveryResult, PulseDelivery, pump_alarm_kind
from pumpctl.drivers.base import PumpDriver, PumpState, PumpStatus
from pumpctl.errors import ControlError, PumpAlarmError, PumpctlError
from pumpctl.journal import Journal

log = structlog.get_logger("pumpctl.daemon")

#: Slots missed while the daemon was down are recorded for at most this far back.
MISSED_BACKFILL = timedelta(days=7)


@dataclass
class DaemonOptions:
    """Settings of the loop that are not part of the prescription."""

    syringe_diameter_mm: Decimal
    heartbeat_s: float = 3.0
    poll_interval_s: float = 2.0
    config_digest: str = ""
    config_path: str | None = None
    #: Clock seconds per real second (a scaled clock drives only the simulator).
    time_scale: float = 1.0
    #: Subject and pump labels journaled at start for reports (``subject``, ``pump``).
    identity: dict[str, Any] = field(default_factory=dict)


@dataclass
class Request:
    """A control request waiting for the loop; ``reply`` is filled in by the loop."""

    body: Mapping[str, Any]
    peer: Mapping[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Daemon:
    """The long-running controller for one pump and one journal."""

    def __init__(
        self,
        *,
        prescription: Prescription,
        limits: Limits,
        driver: PumpDriver,
        journal: Journal,
        clock: Clock,
        waker: Waker,
        options: DaemonOptions,
    ) -> None:
        self.prescription = prescription
        self.limits = limits
        self.planner = Planner(prescription)
        self.driver = driver
        self.journal = journal
        self.clock = clock
        self.waker = waker
        self.options = options
        self.alarms = AlarmSet(clock, [self._journal_alarm])
        self.reservoir = load_reservoir(journal)
        self.delivery = PulseDelivery(
            driver,
            journal,
            clock,
            waker,
            poll_interval_s=options.poll_interval_s,
            heartbeat_s=max(options.poll_interval_s, options.heartbeat_s),
            syringe_diameter_mm=options.syringe_diameter_mm,
            time_scale=options.time_scale,
        )
        self.flow_watch = FlowWatch.for_scale(clock, options.time_scale)
        #: A refused reload of [pump] holds every pulse until restart (SR-27); why, or None.
        self.held_for_restart: str | None = None
        self.pump_ready = False
        self.operator_suspended: str | None = None
        self.safety_suspended: set[str] = set()  # alarm ids that suspend delivery (SR-06)
        self.stopping = False
        self.reload_requested: Callable[[], tuple[Prescription, Limits] | None] | None = None
        self._requests: queue.Queue[Request] = queue.Queue()
        self._attempted: set[str] = set()
        # UNCERTAIN pulses whose pump was power-reset: its totals settle nothing (SR-09).
        self._totals_untrusted: set[str] = set()
        #: A power-reset alarm was seen before start-up (e.g. by the simulator handshake).
        self.reset_seen = False
        self._last_decision: dict[str, tuple[Reason, ...]] = {}
        self._missed_cursor = clock.now()
        self._alarm_cursor = clock.now()
        self._snapshot: dict[str, Any] = {"state": "starting"}
        self._boot_last_elapsed: dict[str, float] = {}
        self._max_journal_wall: datetime | None = None
        self._snapshot_lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.last_pulse: str | None = None

    # -- start-up ------------------------------------------------------------------------------

    def start(self) -> None:
        """Reconcile, self-test and become ready; raises on any failure (no delivery then)."""
        now = self.clock.now()
        self._backfill_missed(now)
        self.journal.record_daemon_start(
            __version__,
            self.options.config_digest,
            config_path=self.options.config_path,
            identity={
                **self.options.identity,
                "prescription": prescription_dict(self.prescription),
                "limits": limits_dict(self.limits),
            },
        )
        self._restore_suspension()
        if self.reset_seen and self.journal.pending_pulses():
            # Seen by the simulator handshake before this daemon's own connection: on record
            # now, so that no later run can settle a pending pulse from totals a reset cleared.
            self._raise(AlarmKind.PUMP_ALARM_RESET, "the pump reported a power reset at start-up")
        # Earlier boots are over: their last elapsed readings never change again.
        self._boot_last_elapsed = self.journal.last_elapsed_by_boot()
        self._max_journal_wall = self.journal.max_event_wall()
        # Slots that already have an intent are never considered again, whatever the clock says.
        self._attempted.update(r.slot_id for r in self.journal.pulse_history(history_since(now)))
        self.flow_watch.load(self.journal, self.delivery)
        self.reservoir.used(sum((r.volume_ul for r in self._flows_since_fill()), Decimal(0)))
        self.driver.connect()
        self.reconcile()
        self.driver.self_test(syringe_diameter_mm=self.options.syringe_diameter_mm)
        self.pump_ready = True
        self._missed_cursor = now
        self._alarm_cursor = now
        # Slots an earlier run already gave (or tried): after a restart inside a slot's window,
        # or a clock set back across it, the slot comes round again. It must be neither given
        # again nor recorded MISSED beside its real outcome.
        self._attempted.update(r.slot_id for r in self.journal.pulse_history(now - MISSED_BACKFILL))
        self._update_snapshot()
        log.info("daemon.ready", next_slot=self._next_slot_text())

    def _restore_suspension(self) -> None:
        """An operator's suspension survives a restart: the journal says whether it is in force."""
        for event in self.journal.events(kinds=("delivery.suspended", "delivery.resumed")):
            if event.kind == "delivery.suspended":
                self.operator_suspended = str(event.payload.get("reason", "suspended"))
            else:
                self.operator_suspended = None

    def _backfill_missed(self, now: datetime) -> None:
        """Slots whose window passed while no daemon ran are recorded MISSED (SR-10)."""
        last = self.journal.last_event_wall()
        if last is None or last >= now:
            return
        start = max(last - timedelta(minutes=self.limits.grace_min), now - MISSED_BACKFILL)
        with_intent = {r.slot_id for r in self.journal.pulse_history(start)}
        grace = timedelta(minutes=self.limits.grace_min)
        for slot in self.planner.slots_between(start, now - grace):
            if slot.scheduled + grace > last and slot.slot_id not in with_intent:
                self._record_missed(slot, (), "the daemon was not running")

    def reconcile(self) -> None:
        """Settle every pending pulse from pump evidence (SR-08, SR-09); never re-sends."""
        for record in self.journal.pending_pulses():
            if record.slot_id in self._totals_untrusted:
                continue  # already alarmed; waits for the operator's acknowledgement
            deadline = self.clock.elapsed_s() + float(record.duration_s) + 30.0
            status = self.driver.status()
            while status.moving and self.clock.elapsed_s() < deadline:
                self.waker.sleep(self.options.poll_interval_s)
                status = self.driver.status()
            if status.moving:
                self.driver.stop()
                self._suspend_for(
                    AlarmKind.UNINTENDED_FLOW, f"pump still running for {record.slot_id}"
                )
            if "R" in status.alarms or status.alarm == "R":
                # Journaled at once: the pump says this only once, and a crash before the pulse
                # is settled must not take the evidence with it.
                self._raise(AlarmKind.PUMP_ALARM_RESET, "the pump reported a power reset")
            reset = (
                self.reset_seen
                or "R" in status.alarms
                or status.alarm == "R"
                or record.slot_id in self._journaled_untrusted()
                or self._reset_journaled_since_intent(record.slot_id)
            )
            totals = self.driver.dispensed()
            if reset and totals.infused_ul == 0 and record.slot_id in self._runs_sent():
                # RUN went out and the pump has been power-cycled since: zero totals may be
                # totals the reset cleared. Only an operator who checked the syringe can settle
                # this (SR-09). Without RUN, or with totals above zero, the pump's word stands.
                self._totals_untrusted.add(record.slot_id)
                self._raise(
                    AlarmKind.UNCERTAIN_PULSE,
                    f"pulse {record.slot_id}: the pump lost power after RUN and its totals read "
                    "0; acknowledge after checking the syringe",
                )
                continue
            outcome = self.journal.resolve_from_pump(
                record.slot_id,
                totals.infused_ul,
                pump_status=str(status.state),
                evidence={"infused_ul": str(totals.infused_ul), "alarm": status.alarm},
                tolerance_ul=totals.resolution_ul,
            )
            self.delivery.flow.settled(totals.infused_ul, self.clock.now())
            log.info("pulse.reconciled", slot_id=record.slot_id, outcome=str(outcome))
            self.alarms.clear_cause(AlarmKind.UNCERTAIN_PULSE)
            if outcome is Outcome.OVER_DELIVERED:
                self._suspend_for(
                    AlarmKind.OVER_DELIVERY,
                    f"pulse {record.slot_id} reconciled from the pump's totals: "
                    f"{totals.infused_ul} uL for {record.volume_ul} uL commanded",
                )

    def _journaled_untrusted(self) -> set[str]:
        """Slots whose journaled outcome says the pump's totals prove nothing (a power reset)."""
        return {
            str(e.payload.get("slot_id"))
            for e in self.journal.events(kinds=("pulse.outcome",))
            if e.payload.get("totals_trusted") is False
        }

    def _reset_journaled_since_intent(self, slot_id: str) -> bool:
        """Whether a pump power reset was journaled after this pulse's intent (by any run)."""
        intent_seq: int | None = None
        for event in self.journal.events(kinds=("pulse.intent", "alarm.raised")):
            if event.kind == "pulse.intent" and event.payload.get("slot_id") == slot_id:
                intent_seq = event.seq
            elif (
                intent_seq is not None
                and event.payload.get("alarm_id") == AlarmKind.PUMP_ALARM_RESET.value
            ):
                return True
        return False

    def _runs_sent(self) -> set[str]:
        """Slots whose RUN the journal records as sent (read only while reconciling)."""
        return {str(e.payload.get("slot_id")) for e in self.journal.events(kinds=("pulse.run",))}

    # -- the loop ------------------------------------------------------------------------------

    def run(self, *, until: datetime | None = None) -> None:
        """Tick until stopped (or, for simulations, until the clock reaches ``until``)."""
        while not self.stopping:
            if until is not None and self.clock.now() >= until:
                break
            pause = self.tick()
            if until is not None:
                pause = min(pause, max(0.0, (until - self.clock.now()).total_seconds()))
            self.waker.sleep(pause)

    def tick(self) -> float:
        """One pass of the loop; returns how long to sleep before the next one (clock seconds)."""
        self._serve_requests()
        self._maybe_reload()
        now = self.clock.now()
        try:
            self._check_pump()
        except PumpctlError as err:
            self._link_fault(err)
        self._record_passed_slots(now)
        self._missed_pulse_alarms(now)
        slot = self.planner.due(now, self.limits.grace_min)
        wait_s: float | None = None
        if slot is not None and slot.slot_id not in self._attempted:
            wait_s = self._consider(slot)
        notify.watchdog()
        nxt = self.planner.next_after(self.clock.now())
        self._update_snapshot(nxt)
        self.waker.schedule(nxt.scheduled, self.limits.grace_min * 60.0)
        until_next = (nxt.scheduled - self.clock.now()).total_seconds()
        if wait_s is not None:
            until_next = min(until_next, wait_s + 0.001)
        if self.pump_ready:
            # SR-26: the between-pulse reading is a wake-up of its own, not a side effect of
            # one. A pump not answering is retried at the heartbeat instead.
            until_next = min(until_next, self.flow_watch.seconds_until_due())
        return max(0.0, min(self.options.heartbeat_s, until_next))

    def _check_pump(self) -> None:
        """Between pulses the pump must be still; anything else is unintended flow (SR-06)."""
        if not self.pump_ready:
            self._try_recover()
            return
        # With a pulse pending its totals are evidence for reconciliation, not a baseline.
        status = self.driver.heartbeat() if self.journal.pending_pulses() else self._watch_flow()
        if status.alarm is not None:
            self._raise(
                AlarmKind(pump_alarm_kind(status.alarm)), f"pump reported alarm {status.alarm}"
            )
        if status.moving:
            self.driver.stop()
            self._suspend_for(
                AlarmKind.UNINTENDED_FLOW, f"pump {status.state} with no pulse commanded"
            )
        self.alarms.clear_cause(AlarmKind.LINK_FAULT)
        if self.journal.pending_pulses():
            self.reconcile()

    def _watch_flow(self) -> PumpStatus:
        """SR-26: the scheduled reading of state and totals (a heartbeat when not yet due)."""
        status = None
        if not self.flow_watch.due():
            status = self.driver.heartbeat()
            if not status.moving:
                return status
        status, found = self.flow_watch.check(self.delivery, self.prescription)
        if found is not None:
            if found.volume_ul is not None:
                self.reservoir.used(found.volume_ul)
            self._suspend_for(AlarmKind.UNEXPLAINED_FLOW, found.describe())
            self._reservoir_alarms()
        return replace(status, state=PumpState.STOPPED) if status.moving else status

    def _flows_since_fill(self) -> list[PulseRecord]:
        fills = self.journal.events(kinds=("reservoir.changed",))
        since = fills[-1].wall if fills else None
        return [r for r in self.flow_watch.records if since is None or r.intent_wall >= since]

    def _try_recover(self) -> None:
        self.driver.close()
        self.driver.connect()
        self.reconcile()
        self.driver.self_test(syringe_diameter_mm=self.options.syringe_diameter_mm)
        self.pump_ready = True
        self.alarms.clear_cause(AlarmKind.LINK_FAULT)
        log.info("pump.recovered")

    def _link_fault(self, err: PumpctlError) -> None:
        if isinstance(err, PumpAlarmError):
            self._raise(AlarmKind(pump_alarm_kind(err.code)), str(err))
            return
        if self.pump_ready:
            log.error("pump.link_fault", error=str(err))
        self.pump_ready = False
        self._raise(AlarmKind.LINK_FAULT, str(err))

    # -- slots ---------------------------------------------------------------------------------

    def gate_state(self) -> GateState:
        return GateState(
            alarm_active=self.alarms.high_active
            or bool(self.safety_suspended)
            or self.held_for_restart is not None,
            suspended=self.operator_suspended is not None,
            pump_ready=self.pump_ready,
            reservoir_ul=self.reservoir.remaining_ul,
            reservoir_unknown=self.reservoir.remaining_ul is None,
            last_journal_wall=self._latest_journal_wall(),
            journal_writable=self.journal.writable,
        )

    def _latest_journal_wall(self) -> datetime | None:
        """The latest wall time in the journal; SR-11 compares the clock against it."""
        walls = [w for w in (self._max_journal_wall, self.journal.last_event_wall()) if w]
        self._max_journal_wall = max(walls) if walls else None
        return self._max_journal_wall

    def decide(self, slot: Slot) -> Decision:
        now = self.clock.now()
        history = self.journal.pulse_history(history_since(now))
        pending = [r for r in self.journal.pending_pulses() if r not in history]
        # SR-26: unexplained flow counts like a pulse given when it was found.
        history += self.flow_watch.gate_records(history_since(now))
        ctx = GateContext(
            limits=self.limits,
            state=self.gate_state(),
            boot_last_elapsed_s=self._boot_last_elapsed,
        )
        return authorize(slot, [*history, *pending], self.clock, ctx)

    def _consider(self, slot: Slot) -> float | None:
        """Judge and, if allowed, deliver ``slot``; returns a shorter sleep when worth waiting."""
        decision = self.decide(slot)
        if self._only_waiting_for_interval(slot, decision):
            # The previous pulse started a moment after its own slot: the interval is met a
            # moment after this slot's time, well inside its window. Wait for it quietly.
            return decision.interval_clears_in_s
        if self._last_decision.get(slot.slot_id) != decision.reasons:
            self._last_decision[slot.slot_id] = decision.reasons
            try:
                self.journal.record_gate_decision(slot.slot_id, decision)
            except PumpctlError as err:
                self._raise(AlarmKind.JOURNAL_UNAVAILABLE, str(err))
                return None
            if not decision.allowed:
                log.warning("gate.denied", slot_id=slot.slot_id, reasons=list(decision.reasons))
                if Reason.CLOCK_SUSPECT in decision.reasons:
                    self._raise(AlarmKind.CLOCK_SUSPECT, "; ".join(decision.details))
        if not decision.allowed:
            return None
        self._attempted.add(slot.slot_id)
        try:
            result = self.delivery.deliver(slot)
        except PumpctlError as err:
            # A journal failure mid-transaction: what the pump did is unknown to the record.
            self._raise(AlarmKind.JOURNAL_UNAVAILABLE, str(err))
            return None
        self._after_delivery(slot, result)
        return None

    def _only_waiting_for_interval(self, slot: Slot, decision: Decision) -> bool:
        wait_s = decision.interval_clears_in_s
        if decision.reasons != (Reason.MIN_INTERVAL,) or wait_s is None:
            return False
        window_end = slot.scheduled + timedelta(minutes=self.limits.grace_min)
        return self.clock.now() + timedelta(seconds=wait_s) <= window_end

    def _after_delivery(self, slot: Slot, result: DeliveryResult) -> None:
        if not result.intent_written:
            self._after_refusal(slot, result)
            return
        self.counts[result.outcome.value] = self.counts.get(result.outcome.value, 0) + 1
        self.last_pulse = (
            f"{slot.slot_id} {result.outcome.value} {result.delivered_volume_ul} uL"
            + (f" at {result.started.isoformat()}" if result.started else "")
        )
        if result.outcome in (Outcome.DELIVERED, Outcome.PARTIAL, Outcome.OVER_DELIVERED):
            self.alarms.pulse_delivered()
        volume = (
            result.delivered_volume_ul if result.delivered_volume_ul is not None else slot.volume_ul
        )
        if result.intent_written:
            self.reservoir.used(volume)
        for kind in result.alarms:
            self._raise(
                AlarmKind(kind), f"slot {slot.slot_id}: {result.detail}", slot_id=slot.slot_id
            )
        if result.suspend_for is not None:
            self._suspend_for(AlarmKind(result.suspend_for), result.detail, slot_id=slot.slot_id)
        if result.pump_unready:
            self.pump_ready = False  # a new self-test sets the pump from the configuration
        if result.outcome is Outcome.UNCERTAIN:
            self.pump_ready = False
            if not result.totals_trusted:
                self._totals_untrusted.add(slot.slot_id)
        self._reservoir_alarms()

    def _after_refusal(self, slot: Slot, result: DeliveryResult) -> None:
        """Refused before its intent: nothing moved for it; the slot is missed, with why."""
        for kind in result.alarms:
            self._raise(
                AlarmKind(kind), f"slot {slot.slot_id}: {result.detail}", slot_id=slot.slot_id
            )
        if result.flow is not None:
            dose = None
            if result.flow.volume_ul is not None and slot.volume_ul:
                dose = result.flow.volume_ul * slot.dose_ug / slot.volume_ul
                self.reservoir.used(result.flow.volume_ul)
            self.flow_watch.count(result.flow, dose)
        if result.suspend_for is not None:
            self._suspend_for(AlarmKind(result.suspend_for), result.detail, slot_id=slot.slot_id)
        self._record_missed(slot, (), f"not started: {result.detail}")

    def _record_passed_slots(self, now: datetime) -> None:
        """Slots whose grace window closed without an intent are MISSED (SR-10)."""
        grace = timedelta(minutes=self.limits.grace_min)
        for slot in self.planner.slots_between(self._missed_cursor, now - grace):
            if slot.slot_id not in self._attempted:
                reasons = self._last_decision.get(slot.slot_id, ())
                detail = "denied by the gate" if reasons else "no delivery attempt in its window"
                self._record_missed(slot, reasons, detail)
            self._missed_cursor = slot.scheduled + timedelta(seconds=1)

    def _record_missed(self, slot: Slot, reasons: tuple[Reason, ...], detail: str) -> None:
        self.counts["MISSED"] = self.counts.get("MISSED", 0) + 1
        if reasons:
            self.counts["DENIED"] = self.counts.get("DENIED", 0) + 1
        try:
            self.journal.record_missed(slot.slot_id, slot.scheduled, reasons=reasons, detail=detail)
        except PumpctlError as err:
            log.error("journal.write_failed", error=str(err))
        log.warning("slot.missed", slot_id=slot.slot_id, reasons=list(reasons), detail=detail)
        self._last_decision.pop(slot.slot_id, None)

    def _missed_pulse_alarms(self, now: datetime) -> None:
        """SR-22: a slot unconfirmed 15 min after its time raises missed-pulse (high after two)."""
        if self.operator_suspended is not None:
            self._alarm_cursor = now
            return
        delay = timedelta(minutes=self.limits.missed_alarm_min)
        for slot in self.planner.slots_between(self._alarm_cursor, now - delay):
            confirmed = any(
                r.slot_id == slot.slot_id
                and r.outcome in (Outcome.DELIVERED, Outcome.PARTIAL, Outcome.OVER_DELIVERED)
                for r in self.journal.pulse_history(slot.scheduled - timedelta(minutes=1))
            )
            if not confirmed:
                self.alarms.missed_pulse(slot.slot_id)
            self._alarm_cursor = slot.scheduled + timedelta(seconds=1)

    def _reservoir_alarms(self) -> None:
        remaining = self.reservoir.remaining_ul
        if remaining is None:
            return
        volume = self.prescription.volume_ul
        if remaining < volume:
            self._raise(
                AlarmKind.RESERVOIR_EMPTY, f"{remaining} uL left, a pulse needs {volume} uL"
            )
        elif remaining < volume * self.limits.reservoir_low_pulses:
            self._raise(AlarmKind.RESERVOIR_LOW, f"{remaining} uL left")

    # -- alarms --------------------------------------------------------------------------------

    def _suspend_for(self, kind: AlarmKind, detail: str, *, slot_id: str | None = None) -> None:
        """SR-06: unintended flow or over-delivery suspends delivery until acknowledged."""
        if str(kind) not in self.safety_suspended:
            self._raise(kind, detail, slot_id=slot_id)
        self.safety_suspended.add(str(kind))
        self.journal.record_suspend("pumpctl", f"{kind}: {detail}")

    def _raise(
        self,
        kind: AlarmKind,
        detail: str,
        priority: Priority | None = None,
        *,
        slot_id: str | None = None,
    ) -> None:
        log.warning("alarm.raised", kind=str(kind), detail=detail)
        self.alarms.raise_alarm(kind, detail, priority=priority, slot_id=slot_id)

    def _journal_alarm(self, event: AlarmEvent) -> None:
        alarm = event.alarm
        try:
            if event.transition in (Transition.RAISED, Transition.ESCALATED):
                self.journal.record_alarm(
                    alarm.alarm_id,
                    str(alarm.kind),
                    str(alarm.priority),
                    alarm.detail,
                    slot_id=alarm.slot_id,
                )
            elif event.transition is Transition.ACKNOWLEDGED:
                self.journal.record_alarm_acknowledged(
                    alarm.alarm_id, event.who or "?", note=event.reason or ""
                )
            elif event.transition is Transition.SILENCED and alarm.silenced_until is not None:
                self.journal.record_alarm_silenced(
                    alarm.alarm_id, event.who or "?", alarm.silenced_until
                )
            elif event.transition is Transition.CLEARED:
                self.journal.record_alarm_cleared(alarm.alarm_id, why=event.reason or "")
        except PumpctlError as err:
            log.error("journal.write_failed", error=str(err), alarm=alarm.alarm_id)

    # -- snapshot for status ------------------------------------------------------------------

    def _next_slot_text(self) -> str:
        return self.planner.next_after(self.clock.now()).scheduled.isoformat()

    def _update_snapshot(self, nxt: Slot | None = None) -> None:
        now = self.clock.now()
        nxt = nxt or self.planner.next_after(now)
        head = self.journal.head
        state = "ready" if self.pump_ready else "pump-not-ready"
        if self.operator_suspended is not None or self.safety_suspended:
            state = "suspended"
        remaining = self.reservoir.remaining_ul
        snap: dict[str, Any] = {
            "state": state,
            "suspended_reason": self.operator_suspended
            or (", ".join(sorted(self.safety_suspended)) or None),
            "last_pulse": self.last_pulse,
            "next_slot": f"{nxt.slot_id} at {nxt.scheduled.isoformat()}",
            "reservoir": "unknown (no fill recorded)" if remaining is None else f"{remaining} uL",
            "journal_head": None if head is None else f"{head.seq}:{head.hash}",
            "now": now.isoformat(),
            "counts": dict(self.counts),
            "alarms": [a.to_dict(now) for a in self.alarms.active()],
        }
        with self._snapshot_lock:
            self._snapshot = snap
        alarm = self.alarms.annunciating()
        text = f"next pulse {nxt.scheduled:%Y-%m-%d %H:%M}Z"
        if alarm:
            text += f"; ALARM {alarm[0].alarm_id}"
        notify.status(text)

    def snapshot(self) -> dict[str, Any]:
        with self._snapshot_lock:
            return dict(self._snapshot)

    # -- control requests (run on the loop thread) ----------------------------------------------

    def submit(self, body: Mapping[str, Any], peer: Any, timeout_s: float = 10.0) -> dict[str, Any]:
        """Called from the control thread: read-only requests answer at once, others wait.

        Raises :class:`ControlError` when the action was refused; the server turns it into an
        error reply naming the problem.
        """
        if body.get("cmd") == "status":
            return self.snapshot()
        if body.get("cmd") == "alarms":
            return {"alarms": self.snapshot().get("alarms", [])}
        request = Request(body, peer_dict(peer))
        self._requests.put(request)
        self.waker.wake()
        if not request.done.wait(timeout_s):
            raise ControlError("the daemon is busy (a pulse is running); try again in a minute")
        if request.error is not None:
            raise ControlError(request.error)
        return request.reply

    def _serve_requests(self) -> None:
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                request.reply = self.handle(request.body, request.peer)
            except (PumpctlError, ValueError, KeyError) as err:
                request.error = str(err)
            request.done.set()

    def handle(self, body: Mapping[str, Any], peer: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one operator action; every one is journaled with the peer (SR-23)."""
        cmd = str(body.get("cmd"))
        who = f"uid={peer.get('uid')} pid={peer.get('pid')}"
        args = {k: v for k, v in body.items() if k != "cmd"}
        self.journal.record_operator_action(peer, cmd, args)
        if cmd == "suspend":
            self.operator_suspended = str(body["reason"])
            self.journal.record_suspend(who, self.operator_suspended)
        elif cmd == "resume":
            if self.operator_suspended is None:
                raise ControlError("delivery is not suspended by an operator")
            self.operator_suspended = None
            self.journal.record_resume(who, str(body.get("reason") or "resumed by operator"))
        elif cmd == "ack":
            self._acknowledge(str(body["alarm_id"]), str(body["reason"]), who)
        elif cmd == "silence":
            self.alarms.silence(
                str(body["alarm_id"]), who=who, minutes=int(body.get("minutes", 15))
            )
        elif cmd == "reservoir_fill":
            volume = Decimal(str(body["volume_ul"]))
            self.reservoir.fill(volume)
            self.journal.record_reservoir_change(volume, who, "reservoir filled")
            self.alarms.clear_cause(AlarmKind.RESERVOIR_LOW)
            self.alarms.clear_cause(AlarmKind.RESERVOIR_EMPTY)
        else:
            raise ControlError(f"unknown command {cmd!r}")
        self._update_snapshot()
        return self.snapshot()

    def _acknowledge(self, alarm_id: str, reason: str, who: str) -> None:
        self.alarms.acknowledge(alarm_id, reason=reason, who=who)
        if alarm_id in self.safety_suspended:
            self.safety_suspended.discard(alarm_id)
            self.alarms.clear_cause(AlarmKind(alarm_id))
            self.journal.record_resume(who, f"{alarm_id} acknowledged: {reason}")
        if alarm_id == AlarmKind.UNCERTAIN_PULSE.value:
            # The operator settles the uncertain pulse as delivered, the conservative reading.
            for record in self.journal.pending_pulses():
                self.journal.acknowledge_uncertain(record.slot_id, who, reason)
                self._totals_untrusted.discard(record.slot_id)
            self.delivery.flow.adopt()  # what the totals now hold was the operator's to judge
            self.alarms.clear_cause(AlarmKind.UNCERTAIN_PULSE)

    # -- reload --------------------------------------------------------------------------------

    def _maybe_reload(self) -> None:
        loader = self.reload_requested
        if loader is None:
            return
        self.reload_requested = None
        loaded = loader()
        if loaded is None:
            return
        prescription, limits = loaded
        self.apply_prescription(
            prescription, limits, who="operator (SIGHUP)", why="configuration reloaded"
        )

    def reject_reload(self, why: str) -> None:
        """An invalid configuration was not applied; the old one stays in force."""
        self._raise(AlarmKind.CONFIG_RELOAD_REJECTED, why)

    def refuse_pump_reload(self, changed: list[str]) -> None:
        """SR-27: a reload that changes [pump] is refused whole and holds pulses until restart.

        Nothing of it is applied (no half-applied configuration); the running settings may no
        longer match the syringe, so no pulse is given until the daemon restarts with a new
        self-test, or the file's [pump] is put back and reloaded.
        """
        keys = ", ".join(f"pump.{key}" for key in changed)
        why = f"reload changed {keys}; restart the daemon to apply them (reload refused)"
        self.held_for_restart = why
        log.error("config.reload_refused", changed=changed)
        self._raise(AlarmKind.PUMP_CONFIG_CHANGED, why)

    def pump_reload_unchanged(self) -> None:
        """A reload found [pump] as running again: pulses are no longer held for a restart."""
        if self.held_for_restart is not None:
            self.held_for_restart = None
            self.alarms.clear_cause(AlarmKind.PUMP_CONFIG_CHANGED)

    def apply_prescription(
        self, prescription: Prescription, limits: Limits, *, who: str, why: str
    ) -> None:
        """SR-21: a new prescription takes effect only through this journaled action."""
        if prescription != self.prescription:
            self.journal.record_prescription_change(
                who, prescription_dict(self.prescription), prescription_dict(prescription), why
            )
        if limits != self.limits:
            self.journal.record_limits_change(
                who, limits_dict(self.limits), limits_dict(limits), why
            )
        self.prescription, self.limits = prescription, limits
        self.planner = Planner(prescription)
        log.info("config.reloaded", who=who)

    def shutdown(self, reason: str) -> None:
        try:
            self.journal.record_daemon_stop(reason)
        finally:
            self.driver.close()
            self.waker.close()


def peer_dict(peer: Any) -> dict[str, Any]:
    """The peer's identity as journaled: uid, gid, pid (from SO_PEERCRED)."""
    if isinstance(peer, Mapping):
        return dict(peer)
    return {"uid": peer.uid, "gid": peer.gid, "pid": peer.pid}


def load_reservoir(journal: Journal) -> Reservoir:
    """The last recorded fill and every pulse since it, from the journal."""
    fill: Decimal | None = None
    since: datetime | None = None
    for event in journal.events(kinds=("reservoir.changed",)):
        fill, since = Decimal(str(event.payload["volume_ul"])), event.wall
    if fill is None or since is None:
        return Reservoir()
    return Reservoir.from_records(fill, journal.pulse_history(since))


def prescription_dict(p: Prescription) -> dict[str, Any]:
    return {
        "dose_ug": str(p.dose_ug),
        "concentration_ug_per_ml": str(p.concentration_ug_per_ml),
        "interval_min": p.interval_min,
        "pulse_duration_s": p.pulse_duration_s,
        "anchor": p.anchor.isoformat(),
        "timezone": p.timezone,
        "profile": [
            {"start": w.start.isoformat(), "end": w.end.isoformat(), "interval_min": w.interval_min}
            for w in p.profile
        ],
    }


def limits_dict(limits: Limits) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in limits.__dict__.items()}


__all__ = ["Daemon", "DaemonOptions"]
