"""The NE-1000 state machine: program, alarms, safe-mode watchdog and motion in time.

Time is read from an injectable :class:`~pumpctl.core.clock.Clock` and applied lazily: every
command (and every ``advance``) first plays the physics forward to the clock's elapsed reading,
event by event, so a virtual clock runs hours of pumping in milliseconds. Command parsing lives in
:mod:`pumpctl.simulator.commands`; framing and link faults in :mod:`pumpctl.simulator.session`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from pumpctl.core.clock import Clock

from .faults import LINK_FAULTS, FaultSpec
from .ledger import Ledger
from .motion import EPSILON_UL, Drive
from .units import (
    RATE_UNITS_TO_UL_PER_MIN,
    default_volume_units,
    rate_limits_ul_per_min,
)

FIRMWARE = "NE1000V3.928"
DEFAULT_DIAMETER_MM = 26.59  # a BD 60 mL syringe, the pump's factory setting
MAX_PHASES = 41

log = structlog.get_logger()


@dataclass
class Phase:
    """One program phase: a function (``RAT`` pumps) with its rate, volume and direction."""

    function: str = "RAT"
    argument: str = ""
    rate: float = 0.0
    rate_units: str = "UM"
    volume_ul: float = 0.0
    direction: str = "INF"

    @property
    def rate_ul_per_min(self) -> float:
        return self.rate * RATE_UNITS_TO_UL_PER_MIN[self.rate_units]


@dataclass
class _BolusFault:
    threshold_ul: float
    spec: FaultSpec


@dataclass
class Settings:
    """Settings the simulator stores and reports but does not model physically."""

    values: dict[str, str] = field(
        default_factory=lambda: {
            "AL": "0",
            "BP": "1",
            "BUZ": "0",
            "DIN": "0",
            "LOC": "0",
            "ROM": "0",
            "TRG": "FT",
            "IN": "0",
            "OUT": "0",
        }
    )


class Ne1000Pump:
    """A virtual NE-1000 at ``address`` with a syringe of ``syringe_ul`` loaded."""

    def __init__(
        self,
        clock: Clock,
        *,
        address: int = 0,
        syringe_ul: float = 1000.0,
        firmware: str = FIRMWARE,
        ledger: Ledger | None = None,
        faults: tuple[FaultSpec, ...] | list[FaultSpec] = (),
        time_scale: float = 1.0,
    ) -> None:
        self.clock = clock
        #: Simulator seconds per real second: the link (and so the watchdog) runs in real time.
        self.time_scale = time_scale
        self.origin_s = clock.elapsed_s()
        self.address = address
        self.firmware = firmware
        self.diameter_mm = DEFAULT_DIAMETER_MM
        self.volume_units = default_volume_units(self.diameter_mm)
        self.phases: dict[int, Phase] = {1: Phase(rate_units="MH")}
        self.phase_n = 1
        self.running_phase = 1
        #: 'stopped', 'running', 'paused', 'timed-pause' (PAS phase) or 'purging'.
        self.state = "stopped"
        #: The power-up reset alarm is pending at start, as on the real pump.
        self.alarm: str | None = "R"
        self.unprompted: list[str] = []
        self.safe_timeout_s = 0
        self.watchdog_deadline_s: float | None = None
        #: End of a PAS phase's timed pause.
        self.pause_until_s: float | None = None
        self.pf = 0
        self.settings = Settings()
        self.ledger = ledger if ledger is not None else Ledger()
        self.drive = Drive(syringe_ul, self.ledger, self.wall_at)
        self.run_count = 0
        self.command_count = 0
        #: Link faults that fired; the session takes them from here.
        self.fired_link_faults: list[tuple[FaultSpec, float]] = []
        #: Vendor-extension queries (``XSIM``) answered by the session.
        self.vendor_queries: dict[str, Callable[[], str]] = {}
        #: Carries out a command as another client would (set by the session; ``rogue``).
        self.rogue_client: Callable[[str, float], None] | None = None
        #: The ledger's cause for motion a RUN starts: ``rogue-run`` while a rogue client acts.
        self.run_cause = "run"
        self._armed: list[FaultSpec] = []
        self._bolus_faults: list[_BolusFault] = []
        for spec in faults:
            self.inject(spec)

    # -- time ---------------------------------------------------------------------------------

    def wall_at(self, elapsed_s: float) -> datetime:
        """The wall time at which the clock's elapsed reading was ``elapsed_s``."""
        return self.clock.now() - timedelta(seconds=self.clock.elapsed_s() - elapsed_s)

    def _timer_s(self) -> float | None:
        times = [self.origin_s + s.trigger.at_s for s in self._armed if s.trigger.at_s is not None]
        if self.watchdog_deadline_s is not None:
            times.append(self.watchdog_deadline_s)
        if self.pause_until_s is not None:
            times.append(self.pause_until_s)
        return min(times, default=None)

    def next_event_s(self) -> float | None:
        """Elapsed reading at which the pump next does something on its own (None: never)."""
        thresholds = [f.threshold_ul for f in self._bolus_faults]
        due = [t for t in (self.drive.next_event_s(thresholds), self._timer_s()) if t is not None]
        return min(due, default=None)

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
        if self.pause_until_s is not None and self.pause_until_s <= at:
            self.pause_until_s = None
            self._play_program(self.running_phase + 1, at)
        if self.watchdog_deadline_s is not None and self.watchdog_deadline_s <= at:
            self.watchdog_deadline_s = None
            self._halt(at, "safe-mode-timeout", "stopped")
            self.raise_alarm("T")
        if self.drive.moving and self.drive.target_reached():
            self._phase_done(at)
        elif self.drive.end_of_travel():
            self._halt(at, "end-of-travel", "stopped")
            self.raise_alarm("S")

    # -- motion -------------------------------------------------------------------------------

    def status_char(self) -> str:
        if self.state == "running":
            return "I" if self.phases[self.running_phase].direction == "INF" else "W"
        return {"paused": "P", "purging": "X", "timed-pause": "T"}.get(self.state, "S")

    def _halt(self, at: float, cause: str, state: str) -> None:
        self.drive.move_to(at)
        self.drive.halt(at, cause)
        self.drive.runaway = self.drive.runaway and state == "paused"
        self.state = state
        if state == "stopped":
            self._bolus_faults.clear()
            self.pause_until_s = None

    def _start_phase(self, n: int, at: float, cause: str) -> None:
        phase = self.phases[n]
        self.running_phase = n
        self.drive.begin_bolus(phase.volume_ul if phase.volume_ul > 0 else None)
        self.state = "running"
        self.drive.start(phase.direction, phase.rate_ul_per_min / 60.0, at, cause)
        for spec in [
            s for s in self._armed if s.trigger.fraction is not None and s.trigger.run is None
        ]:
            self._armed.remove(spec)
            self._arm_bolus_fault(spec)

    def _arm_bolus_fault(self, spec: FaultSpec) -> None:
        target = self.drive.target_ul or 0.0
        fraction = spec.trigger.fraction or 0.0
        self._bolus_faults.append(_BolusFault(fraction * target, spec))

    def _phase_done(self, at: float) -> None:
        self._halt(at, "target-reached", "stopped")
        self._play_program(self.running_phase + 1, at, "program-phase")

    def _play_program(self, n: int, at: float, cause: str = "program-phase") -> None:
        """Carry on with phase ``n``: pump (RAT), wait (PAS n seconds, status T) or end."""
        phase = self.phases.get(n)
        # STP or an unset phase ends the program. Other functions (INC, DEC, LOP, JMP ...) are
        # stored and answered but not played: the program ends there too (docs/simulator.md).
        if phase is not None and phase.function == "RAT" and phase.rate > 0:
            self._start_phase(n, at, cause)
        elif phase is not None and phase.function == "PAS":
            self.running_phase = n
            self.state = "timed-pause"
            self.pause_until_s = at + float(phase.argument or 0)
        else:
            self.state = "stopped"

    def run(self, start_phase: int, at: float) -> None:
        """RUN: resume a paused phase or start the program at ``start_phase``."""
        self.run_count += 1
        if self.state == "paused":
            phase = self.phases[self.running_phase]
            self.state = "running"
            self.drive.start(
                phase.direction, phase.rate_ul_per_min / 60.0, at, f"{self.run_cause}-resume"
            )
        elif self.state == "stopped":
            self._play_program(start_phase, at, self.run_cause)
        for spec in [s for s in self._armed if s.trigger.run == self.run_count]:
            self._armed.remove(spec)
            if spec.kind in LINK_FAULTS or self.state != "running":
                self.apply_fault(spec, at)  # a link fault hits this RUN's own reply
            elif spec.trigger.fraction is not None:
                self._arm_bolus_fault(spec)
            else:
                # Due at once but played after RUN is answered: the motor started, then it struck.
                self._bolus_faults.append(_BolusFault(self.drive.progress_ul, spec))

    def purge(self, at: float) -> None:
        """PUR: move at the maximum rate until stopped."""
        if self.state != "stopped":
            return
        phase = self.phases[self.phase_n]
        self.running_phase = self.phase_n
        self.drive.begin_bolus(None)
        self.state = "purging"
        max_rate = rate_limits_ul_per_min(self.diameter_mm)[1]
        self.drive.start(phase.direction, max_rate / 60.0, at, "purge")

    def stop(self, at: float) -> None:
        """STP: running -> paused, paused -> stopped (a purge stops at once)."""
        if self.state == "running":
            self._halt(at, "stop-command", "paused")
        elif self.state in ("paused", "purging", "timed-pause"):
            self._halt(at, "stop-command", "stopped")

    # -- alarms, watchdog, faults -------------------------------------------------------------

    def raise_alarm(self, code: str) -> None:
        """An alarm becomes pending; in safe mode it is also sent unprompted."""
        self.alarm = code
        log.info("pumpsim.alarm", alarm=code, safe_mode=self.safe_timeout_s > 0)
        if self.safe_timeout_s > 0:
            self.unprompted.append(code)

    def restart_watchdog(self, at: float) -> None:
        """A valid packet arrived: the safe-mode watchdog starts counting again."""
        if self.safe_timeout_s > 0:
            # The watchdog guards the serial link, which runs in real time even when the
            # plunger's clock is scaled: n real seconds are n x scale simulator seconds.
            self.watchdog_deadline_s = at + self.safe_timeout_s * self.time_scale
        else:
            self.watchdog_deadline_s = None

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
        """The fault happens now."""
        log.info("pumpsim.fault.fired", fault=spec.text or spec.kind, elapsed_s=at)
        self.ledger.record(
            "fault", kind=spec.kind, spec=spec.text, at=self.wall_at(at).isoformat(), elapsed_s=at
        )
        kind = spec.kind
        if kind in LINK_FAULTS:
            self.fired_link_faults.append((spec, at))
        elif kind == "power-reset":
            was_running = self.state == "running"
            self._halt(at, "power-reset", "stopped")
            self.drive.progress_ul = 0.0
            self.raise_alarm("R")
            if was_running and self.pf == 1:
                # PF1: the pump restarts the interrupted program from its start (why pumpctl
                # sets PF0: a restarted bolus is a second bolus).
                self._start_phase(self.running_phase, at, "power-restart")
        elif kind == "stall":
            self._halt(at, "stall", "stopped")
            self.raise_alarm("S")
        elif kind == "safe-timeout":
            self._halt(at, "safe-mode-timeout", "stopped")
            self.raise_alarm("T")
        elif kind == "runaway":
            self.drive.runaway = True
        elif kind == "spontaneous-start" and self.state == "stopped":
            self._start_phase(self.phase_n, at, "spontaneous-start")
        elif kind == "keypad-pause" and self.state == "running":
            self._halt(at, "keypad-pause", "paused")
        elif kind == "reservoir-empty":
            self.drive.reservoir_ul = 0.0
            if self.state == "running":
                self._halt(at, "end-of-travel", "stopped")
                self.raise_alarm("S")
        elif kind == "wrong-identity":
            self.firmware = spec.ver
        elif kind == "rogue" and self.rogue_client is not None:
            # Someone else on the port: the command takes effect as if its controller sent it.
            self.rogue_client(spec.send, at)
