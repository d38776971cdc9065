"""The daemon: one loop that wakes, checks the pump, accounts for slots and delivers.

One thread owns the pump, the journal and the alarms; the control socket hands it requests
through a queue and reads a snapshot for status. A tick never blocks longer than a pulse, and
every failure inside it becomes an alarm and a journal event, never an exit: a running daemon
keeps running (SR-24).

:class:`Daemon` composes the parts, each in its own module and each handed what it needs:

========================  ===================================================================
``annunciator``           alarms, safety suspensions, journaling of alarm transitions
``pending``               settling pending pulses from pump evidence (policy: core.reconcile)
``pump_watch``            connect and self-test, heartbeat checks between pulses, link recovery
``flow_watch``            the between-pulse reading of the pump's totals (SR-26)
``slots``                 gate, delivery, missed slots and missed-pulse alarms
``operator``              control requests, carried out on the loop's thread
``status``                the status snapshot and systemd's status line
``reload``                journaled configuration reloads
``startup``               the journal steps of start-up
``outputs``               notifications and metrics, attached through the hooks below
========================  ===================================================================

Build one with :func:`pumpctl.daemon.assemble.assemble`. What the daemon tells the world beyond
its journal hangs on four hooks: ``before_start`` (run first in :meth:`Daemon.start`),
``after_tick`` (at the end of every tick), ``before_shutdown`` (first in :meth:`Daemon.shutdown`)
and ``status_extras`` (more status fields). Hooks run on the loop's thread; one that fails is
logged and skipped.

Invariant: a hook never decides or delays a pulse; the gate and the delivery see nothing of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from pumpctl.config.sections import PumpSection
from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.arming import DEFAULT_ARM_LEAD_S
from pumpctl.core.clock import Clock, ScaledClock
from pumpctl.core.model import Decision, GateState, Limits, Prescription, Slot
from pumpctl.core.planner import Planner
from pumpctl.daemon import notify
from pumpctl.daemon.alarms import AlarmSet
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.flow_watch import FlowWatch
from pumpctl.daemon.operator import OperatorRequests, ServingWaiter
from pumpctl.daemon.pending import PendingPulses
from pumpctl.daemon.pump_watch import PumpWatch
from pumpctl.daemon.reload import Loader, Reload
from pumpctl.daemon.reservoir import Reservoir, load_reservoir
from pumpctl.daemon.restore import restore
from pumpctl.daemon.slots import SlotKeeper
from pumpctl.daemon.startup import record_daemon_start
from pumpctl.daemon.state import DeliveryState, Therapy
from pumpctl.daemon.status import StatusBoard
from pumpctl.daemon.waiting import Waker
from pumpctl.delivery import PulseDelivery
from pumpctl.drivers.base import PumpAlarm, PumpDriver
from pumpctl.errors import (
    ConfigError,
    JournalError,
    ProtocolError,
    PumpAlarmError,
    PumpctlError,
    PumpStateError,
    TransportError,
)
from pumpctl.journal import Journal

log = structlog.get_logger("pumpctl.daemon")


@dataclass
class DaemonOptions:
    """Settings of the loop that are not part of the prescription."""

    syringe_diameter_mm: Decimal
    heartbeat_s: float = 3.0
    poll_interval_s: float = 2.0
    config_digest: str = ""
    config_path: str | None = None
    #: The syringe's capacity: a recorded fill above it is refused.
    syringe_volume_ul: Decimal | None = None
    #: Clock seconds per real second (a scaled clock drives only the simulator).
    time_scale: float = 1.0
    #: The pump's device file, judged at each connection (SR-31); "" when there is none.
    device_url: str = ""
    #: Clock seconds between two between-pulse readings; None: SR-26's 5 s (a simulation on a
    #: virtual clock may read less often: the reading before every clear still sees all flow).
    flow_watch_s: float | None = None
    #: The [pump] section the daemon starts with: a reload that changes it is refused (SR-27).
    #: None only for test rigs built without a configuration.
    pump: PumpSection | None = None
    #: Subject and pump labels journaled at start for reports (``subject``, ``pump``).
    identity: dict[str, Any] = field(default_factory=dict)
    #: Real seconds before its slot that a pulse is armed (programmed and read back).
    arm_lead_s: float = DEFAULT_ARM_LEAD_S


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
        alarms_before_start: tuple[PumpAlarm, ...] = (),
    ) -> None:
        self.driver = driver
        self.journal = journal
        self.clock = clock
        self.waker = waker
        self.options = options
        self.stopping = False
        self.therapy = Therapy(prescription, limits)
        self.state = DeliveryState()
        self.reservoir: Reservoir = load_reservoir(journal)
        self.annunciator = Annunciator(journal, clock)
        self.delivery = PulseDelivery(
            driver,
            journal,
            clock,
            # Between a running pulse's polls the loop serves operator requests (SR-29).
            ServingWaiter(waker, clock, lambda: self.operator.serve(running=self.state.delivering)),
            poll_interval_s=options.poll_interval_s,
            heartbeat_s=max(options.poll_interval_s, options.heartbeat_s),
            syringe_diameter_mm=options.syringe_diameter_mm,
            time_scale=options.time_scale,
        )
        self.flow_watch = (
            FlowWatch.for_scale(clock, options.time_scale)
            if options.flow_watch_s is None
            else FlowWatch(clock, options.flow_watch_s)
        )
        self.pending = PendingPulses(
            driver=driver,
            journal=journal,
            clock=clock,
            waker=waker,
            annunciator=self.annunciator,
            state=self.state,
            poll_interval_s=options.poll_interval_s,
            flow=self.delivery.flow,
            alarms_before_start=alarms_before_start,
        )
        self.slots = SlotKeeper(
            therapy=self.therapy,
            journal=journal,
            clock=clock,
            delivery=self.delivery,
            annunciator=self.annunciator,
            reservoir=self.reservoir,
            state=self.state,
            flow_watch=self.flow_watch,
            arm_lead_s=options.arm_lead_s,
        )
        self.pump_watch = PumpWatch(
            driver=driver,
            journal=journal,
            annunciator=self.annunciator,
            pending=self.pending,
            state=self.state,
            syringe_diameter_mm=options.syringe_diameter_mm,
            device_url=options.device_url,
            flow_watch=self.flow_watch,
            delivery=self.delivery,
            therapy=self.therapy,
            reservoir=self.reservoir,
            reservoir_alarms=self.slots.reservoir_alarms,
        )
        self.status = StatusBoard(
            therapy=self.therapy,
            journal=journal,
            clock=clock,
            state=self.state,
            annunciator=self.annunciator,
            reservoir=self.reservoir,
            blockers=self.slots.standing_blockers,
        )
        self.slots.pulse_started = self.status.update
        self.operator = OperatorRequests(
            journal=journal,
            annunciator=self.annunciator,
            state=self.state,
            reservoir=self.reservoir,
            pending=self.pending,
            status=self.status,
            waker=waker,
            syringe_volume_ul=options.syringe_volume_ul,
        )
        self.reload = Reload(
            therapy=self.therapy,
            journal=journal,
            annunciator=self.annunciator,
            state=self.state,
            running_pump=options.pump,
        )
        #: Hooks that failed once already (their traceback was logged).
        self._failed_hooks: set[int] = set()
        self.before_start: list[Callable[[], None]] = []
        self.after_tick: list[Callable[[], None]] = []
        self.before_shutdown: list[Callable[[], None]] = []

    # -- start-up ------------------------------------------------------------------------------

    def start(self) -> None:
        """Reconcile, self-test and become ready; raises on any failure (no delivery then)."""
        # First, so that an alarm raised while reconciling reaches someone too.
        self._run_hooks("before_start", self.before_start)
        now = self.clock.now()
        # SR-30: alarms, suspensions and the run of missed pulses latch across a restart.
        restored = restore(self.journal)
        self.state.operator_suspended = restored.operator_suspended
        self.annunciator.restore(restored)
        self.slots.backfill_missed(now)
        record_daemon_start(
            self.journal,
            self.therapy,
            config_digest=self.options.config_digest,
            config_path=self.options.config_path,
            # A report judges intervals with the start-latency bound x this scale; a scaled
            # clock also says how far (real seconds) it can be off the simulator's.
            identity={
                **self.options.identity,
                "time_scale": self.clock.scale,
                **(
                    {"clock_sync_error_s": self.clock.sync_error_s}
                    if isinstance(self.clock, ScaledClock)
                    else {}
                ),
            },
        )
        self.pending.record_alarms_before_start()
        self.slots.load_history(now)
        self.pump_watch.load_flows()
        self.pump_watch.bring_up()
        self.slots.ready(now)
        self.status.update()
        log.info("daemon.ready", next_slot=self.status.next_slot_text())

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
        """One pass of the loop; returns how long to sleep before the next one (clock seconds).

        Invariant (SR-24): the one error boundary of the loop. A PumpctlError raised by any
        step (a journal write while applying a reload, a suspension, an alarm...) becomes an
        alarm and the daemon keeps running; the steps it skipped run again at the next tick.
        """
        try:
            return self._tick()
        except PumpctlError as err:
            self._step_failed(err)
            return max(self.options.poll_interval_s, 0.0)

    def _step_failed(self, err: PumpctlError) -> None:
        log.error("daemon.step_failed", error=str(err), error_type=type(err).__name__)
        if isinstance(err, JournalError):
            self.annunciator.raise_alarm(AlarmKind.JOURNAL_UNAVAILABLE, str(err))
        elif isinstance(err, (TransportError, ProtocolError, PumpStateError, PumpAlarmError)):
            self.state.pump_ready = False
            self.annunciator.raise_alarm(AlarmKind.LINK_FAULT, str(err))
        elif isinstance(err, ConfigError):
            self.annunciator.raise_alarm(AlarmKind.CONFIG_RELOAD_REJECTED, str(err))
        # The loop is alive and has said what failed: systemd's watchdog must not restart it.
        notify.watchdog()
        with contextlib.suppress(PumpctlError):
            self.status.update()

    def _tick(self) -> float:
        self.operator.serve()
        self.reload.apply_requested()
        now = self.clock.now()
        slot = self.slots.due_slot(now)
        quiet_s = (
            self.slots.quiet_until_armed_slot(now, self.options.heartbeat_s)
            if slot is None
            else None
        )
        if quiet_s is not None:
            # Anything that bore on the armed pulse still disarms it (no round trip: only what
            # the pump sent on its own is read).
            self.slots.check_armed(None)
            if self.slots.armed_slot is not None:
                # Invariant: no routine pump check (heartbeat, SR-26 reading) and no routine
                # journal write starts in the armed slot's quiet window: started now it would
                # hold the line and the loop past the slot, and RUN would wait for it. They
                # run in the slot's own tick, right after RUN. The loop sleeps to the slot,
                # never past it and never firing before it (the slot is not due yet).
                notify.watchdog()
                return quiet_s
        if slot is not None and slot == self.slots.armed_slot:
            # An armed slot's time: its final check, intent and RUN come before the routine
            # work of the tick (the pump was read while armed; the checks below follow).
            wait_s = self.slots.consider(slot)
            self.pump_watch.check()
            self.slots.record_passed(now)
            self.slots.missed_pulse_alarms(now)
        else:
            self.pump_watch.check()
            self.slots.record_passed(now)
            self.slots.missed_pulse_alarms(now)
            self.slots.check_armed(slot)
            wait_s = None if slot is None else self.slots.consider(slot)
            if self.slots.armed_slot is None:
                self.slots.arm_ahead(self.clock.now())
        notify.watchdog()
        # From the tick's own start: a slot that fell due while this tick ran (a heartbeat
        # that straddled its time) is next, and the pause below is then zero, not a heartbeat.
        nxt = self.planner.next_after(now)
        self.status.update(nxt)
        self._run_hooks("after_tick", self.after_tick)
        self.waker.schedule(nxt.scheduled, self.limits.grace_min * 60.0)
        until_next = (nxt.scheduled - self.clock.now()).total_seconds()
        if wait_s is not None:
            until_next = min(until_next, wait_s + 0.001)
        until_arming = self.slots.until_arming(self.clock.now())
        if until_arming is not None:
            until_next = min(until_next, until_arming)
        if self.state.pump_ready:
            # SR-26: the between-pulse reading is a wake-up of its own, not a side effect of
            # one. A pump not answering is retried at the heartbeat instead.
            until_next = min(until_next, self.flow_watch.seconds_until_due())
        return max(0.0, min(self.options.heartbeat_s, until_next))

    def shutdown(self, reason: str) -> None:
        self._run_hooks("before_shutdown", self.before_shutdown)
        # The last status includes what the hooks settled (notifications sent at the stop).
        self._run_hooks("final_status", [self.status.update])
        try:
            self.journal.record_daemon_stop(reason)
        finally:
            self.driver.close()
            self.waker.close()

    def _run_hooks(self, name: str, hooks: list[Callable[[], None]]) -> None:
        for hook in hooks:
            try:
                hook()
            except Exception as err:  # a notifier or metrics bug must not stop delivery
                # The traceback once per hook; then one line per failure. The loop wakes every
                # few seconds (SR-26's flow watch): a traceback each time floods the log.
                if id(hook) in self._failed_hooks:
                    log.error("daemon.hook_failed", hook=name, error=repr(err), repeated=True)
                else:
                    self._failed_hooks.add(id(hook))
                    log.exception("daemon.hook_failed", hook=name)

    # -- what the runner, simulations and tests use ---------------------------------------------

    @property
    def prescription(self) -> Prescription:
        return self.therapy.prescription

    @property
    def limits(self) -> Limits:
        return self.therapy.limits

    @property
    def planner(self) -> Planner:
        return self.therapy.planner

    @property
    def alarms(self) -> AlarmSet:
        return self.annunciator.alarms

    @property
    def safety_suspended(self) -> set[str]:
        return self.annunciator.safety_suspended

    @property
    def operator_suspended(self) -> str | None:
        return self.state.operator_suspended

    @property
    def pump_ready(self) -> bool:
        return self.state.pump_ready

    @property
    def held_for_restart(self) -> str | None:
        return self.state.held_for_restart

    @property
    def counts(self) -> dict[str, int]:
        return self.state.counts

    @property
    def status_extras(self) -> list[Callable[[], dict[str, Any]]]:
        return self.status.extras

    @property
    def reload_requested(self) -> Loader | None:
        return self.reload.requested

    @reload_requested.setter
    def reload_requested(self, loader: Loader | None) -> None:
        self.reload.requested = loader

    def reconcile(self) -> None:
        """Settle every pending pulse from pump evidence (SR-08, SR-09); never re-sends."""
        self.pending.reconcile()

    def gate_state(self) -> GateState:
        return self.slots.gate_state()

    def decide(self, slot: Slot) -> Decision:
        return self.slots.decide(slot)

    def snapshot(self) -> dict[str, Any]:
        return self.status.snapshot()

    def submit(self, body: Mapping[str, Any], peer: Any) -> dict[str, Any] | Future[dict[str, Any]]:
        """Called from the control thread (see :meth:`OperatorRequests.submit`)."""
        return self.operator.submit(body, peer)

    def handle(self, body: Mapping[str, Any], peer: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one operator action on the calling thread (the loop's, or a test's)."""
        return self.operator.handle(body, peer)

    def reject_reload(self, why: str) -> None:
        self.reload.reject(why)

    def apply_prescription(
        self, prescription: Prescription, limits: Limits, *, who: str, why: str
    ) -> bool:
        return self.reload.apply(prescription, limits, who=who, why=why)


__all__ = ["Daemon", "DaemonOptions"]
