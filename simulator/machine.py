"""The physical pump every personality shares: plunger in time, ground-truth ledger, fault engine.

A personality (the NE-1000 in :mod:`.pump`, the Pump 11 Elite in :mod:`.elite11`) adds its
program, its alarms and its wire protocol on top. What the plunger does, when a fault fires and
what the ledger records are the same for both, so a fault matrix or a crash campaign means the
same thing on either pump family.

Time is read from an injectable :class:`~pumpctl.core.clock.Clock` and applied lazily: every
command (and every ``advance``) first plays the physics forward to the clock's elapsed reading,
event by event, so a virtual clock runs hours of pumping in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from pumpctl.core.clock import Clock

from .faults import LINK_FAULTS, FaultSpec
from .ledger import Ledger
from .motion import EPSILON_UL, Drive

log = structlog.get_logger()


@dataclass
class BolusFault:
    """A fault waiting for the running bolus to reach ``threshold_ul`` of progress."""

    threshold_ul: float
    spec: FaultSpec


class PumpMachine:
    """Clock, plunger, ledger and fault triggers; subclasses react to what happens.

    Hooks for a personality: :meth:`extra_timers_s` and :meth:`on_timer` (its own timers),
    :meth:`on_target_reached` and :meth:`on_end_of_travel` (physical events), and
    :meth:`pump_fault` (what a pump fault means for its state and alarms).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        address: int,
        syringe_ul: float,
        firmware: str,
        ledger: Ledger | None,
        time_scale: float,
    ) -> None:
        self.clock = clock
        #: Simulator seconds per real second: the link (and any watchdog) runs in real time.
        self.time_scale = time_scale
        self.origin_s = clock.elapsed_s()
        self.address = address
        self.firmware = firmware
        self.ledger = ledger if ledger is not None else Ledger()
        self.drive = Drive(syringe_ul, self.ledger, self.wall_at)
        self.run_count = 0
        self.command_count = 0
        #: Link faults that fired; the session takes them from here.
        self.fired_link_faults: list[tuple[FaultSpec, float]] = []
        #: Vendor-extension queries (the simulator handshake) answered by the session.
        self.vendor_queries: dict[str, Callable[[], str]] = {}
        #: Carries out a command as another client would (set by the session; ``rogue``).
        self.rogue_client: Callable[[str, float], None] | None = None
        #: The ledger's cause for motion a RUN starts: ``rogue-run`` while a rogue client acts.
        self.run_cause = "run"
        self._armed: list[FaultSpec] = []
        self._bolus_faults: list[BolusFault] = []

    # -- time ---------------------------------------------------------------------------------

    def wall_at(self, elapsed_s: float) -> datetime:
        """The wall time at which the clock's elapsed reading was ``elapsed_s``."""
        return self.clock.now() - timedelta(seconds=self.clock.elapsed_s() - elapsed_s)

    def extra_timers_s(self) -> list[float]:
        """Elapsed readings of the personality's own timers (watchdog, timed pause)."""
        return []

    def on_timer(self, at: float) -> None:
        """A personality timer may be due at ``at``."""

    def on_target_reached(self, at: float) -> None:
        """The running bolus reached its volume."""

    def on_end_of_travel(self, at: float) -> None:
        """The plunger hit the end of the syringe."""

    def _timer_s(self) -> float | None:
        times = self.extra_timers_s()
        if self._armed:
            origin = self.origin_s
            armed = [origin + s.trigger.at_s for s in self._armed if s.trigger.at_s is not None]
            times = [*times, *armed]
        return min(times, default=None)

    def next_event_s(self) -> float | None:
        """Elapsed reading at which the pump next does something on its own (None: never)."""
        timer_s = self._timer_s()
        if self.drive.motion is None:
            return timer_s  # a still drive has no event of its own
        motion_s = self.drive.next_event_s([f.threshold_ul for f in self._bolus_faults])
        if motion_s is None or timer_s is None:
            return timer_s if motion_s is None else motion_s
        return min(motion_s, timer_s)

    # -- rest: what a simulation may skip -------------------------------------------------------

    def at_rest(self) -> bool:
        """The personality's own part of :meth:`rest_until_s`: still, silent, nothing pending."""
        return False

    def rest_timers_s(self) -> list[float]:
        """The personality's timers a poll does not restart (all but the watchdog)."""
        return []

    def rest_until_s(self) -> float | None:
        """How long a status poll is certain to get the answer it would get now.

        None when the pump is not at rest now: moving, an alarm or message pending, a link
        fault fired, a fault waiting for a command count (a poll is a command). Otherwise the
        elapsed reading at which it next acts on its own (an armed ``t=`` fault, a timed pause),
        ``math.inf`` when only a command can change it. The watchdog is left out: polls restart
        it, and :meth:`polled` plays the ones a simulation skipped.
        """
        if self.drive.moving or self.fired_link_faults or not self.at_rest():
            return None
        if any(s.trigger.cmd is not None for s in self._armed):
            return None
        times = [self.origin_s + s.trigger.at_s for s in self._armed if s.trigger.at_s is not None]
        times.extend(self.rest_timers_s())
        return min(times, default=math.inf)

    def polled(self, count: int, last_at: float) -> None:
        """``count`` status polls reached the pump at rest, the last at ``last_at``.

        What a skipped poll leaves behind on a pump at rest (see :meth:`rest_until_s`): one more
        command counted, and (in a personality with one) the watchdog restarted.
        """
        self.command_count += count

    def advance(self) -> float:
        """Play physics and timers forward to the clock's elapsed reading; returns it."""
        now = self.clock.elapsed_s()
        while True:
            at = self.next_event_s()
            if at is None or at > now:
                break
            self.drive.move_to(at, [f.threshold_ul for f in self._bolus_faults])
            self._handle_due(at)
        self.drive.move_to(now)
        return now

    def _handle_due(self, at: float) -> None:
        progress = self.drive.progress_ul
        for fault in [f for f in self._bolus_faults if f.threshold_ul <= progress + EPSILON_UL]:
            self._bolus_faults.remove(fault)
            self.apply_fault(fault.spec, at)
        for spec in list(self._armed):
            if spec.trigger.at_s is not None and self.origin_s + spec.trigger.at_s <= at:
                self._armed.remove(spec)
                self.apply_fault(spec, at)
        self.on_timer(at)
        if self.drive.moving and self.drive.target_reached():
            self.on_target_reached(at)
        elif self.drive.end_of_travel():
            self.on_end_of_travel(at)

    # -- motion -------------------------------------------------------------------------------

    def halt_motor(self, at: float, cause: str, *, bolus_over: bool = True) -> None:
        """The motor stops at ``at``; unless only paused, the bolus and its faults are over."""
        self.drive.move_to(at)
        self.drive.halt(at, cause)
        # A runaway motor stays runaway only through a pause: a stop ends that bolus.
        self.drive.runaway = self.drive.runaway and not bolus_over
        if bolus_over:
            self._bolus_faults.clear()

    def begin_motion(
        self, direction: str, rate_ul_per_min: float, target_ul: float | None, at: float, cause: str
    ) -> None:
        """A new bolus starts moving; faults waiting for "the next bolus" are armed on it."""
        self.drive.begin_bolus(target_ul)
        self.drive.start(direction, rate_ul_per_min / 60.0, at, cause)
        for spec in [
            s for s in self._armed if s.trigger.fraction is not None and s.trigger.run is None
        ]:
            self._armed.remove(spec)
            self._arm_bolus_fault(spec)

    def _arm_bolus_fault(self, spec: FaultSpec) -> None:
        target = self.drive.target_ul or 0.0
        fraction = spec.trigger.fraction or 0.0
        self._bolus_faults.append(BolusFault(fraction * target, spec))

    def run_started(self, at: float) -> None:
        """Count a run command and fire faults waiting for this run (call after starting it)."""
        self.run_count += 1
        for spec in [s for s in self._armed if s.trigger.run == self.run_count]:
            self._armed.remove(spec)
            if spec.kind in LINK_FAULTS or not self.drive.moving:
                self.apply_fault(spec, at)  # a link fault hits this run's own reply
            elif spec.trigger.fraction is not None:
                self._arm_bolus_fault(spec)
            else:
                # Due at once but played after the run is answered: the motor started, then it
                # struck.
                self._bolus_faults.append(BolusFault(self.drive.progress_ul, spec))

    # -- faults -------------------------------------------------------------------------------

    def inject(self, spec: FaultSpec) -> None:
        """Arm ``spec``; an immediate one fires now."""
        now = self.advance()
        if spec.trigger.immediate:
            self.apply_fault(spec, now)
            return
        # Counts and times run from the moment of arming (start, for command-line faults).
        trigger = spec.trigger
        spec = replace(
            spec,
            trigger=replace(
                trigger,
                run=None if trigger.run is None else trigger.run + self.run_count,
                cmd=None if trigger.cmd is None else trigger.cmd + self.command_count,
                at_s=None if trigger.at_s is None else trigger.at_s + now - self.origin_s,
            ),
        )
        self._armed.append(spec)
        log.info("pumpsim.fault.armed", fault=spec.text or spec.kind)

    def command_arrived(self, at: float) -> None:
        """Count a command addressed to this pump and fire faults waiting for it."""
        self.command_count += 1
        for spec in [s for s in self._armed if s.trigger.cmd == self.command_count]:
            self._armed.remove(spec)
            self.apply_fault(spec, at)

    def apply_fault(self, spec: FaultSpec, at: float) -> None:
        """The fault happens now: recorded in the ledger, then played."""
        log.info("pumpsim.fault.fired", fault=spec.text or spec.kind, elapsed_s=at)
        self.ledger.record(
            "fault", kind=spec.kind, spec=spec.text, at=self.wall_at(at).isoformat(), elapsed_s=at
        )
        if spec.kind in LINK_FAULTS:
            self.fired_link_faults.append((spec, at))
        elif spec.kind == "runaway":
            self.drive.runaway = True
        elif spec.kind == "wrong-identity":
            self.firmware = spec.ver
        elif spec.kind == "rogue":
            # Someone else on the port: the command takes effect as if its controller sent it.
            if self.rogue_client is not None:
                self.rogue_client(spec.send, at)
        else:
            self.pump_fault(spec, at)

    def pump_fault(self, spec: FaultSpec, at: float) -> None:
        """A fault of the pump itself (stall, power reset ...): the personality plays it."""
        raise NotImplementedError
