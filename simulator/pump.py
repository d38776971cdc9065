"""The NE-1000 personality's state machine: program phases, alarms and the safe-mode watchdog.

The plunger, the ledger and the fault triggers are the shared :class:`.machine.PumpMachine`;
this module adds what is NE-1000 specific. Command parsing lives in
:mod:`pumpctl.simulator.commands`; framing and link faults in :mod:`pumpctl.simulator.session`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from pumpctl.core.clock import Clock

from .faults import FaultSpec
from .ledger import Ledger
from .machine import PumpMachine
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


class Ne1000Pump(PumpMachine):
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
        super().__init__(
            clock,
            address=address,
            syringe_ul=syringe_ul,
            firmware=firmware,
            ledger=ledger,
            time_scale=time_scale,
        )
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
        for spec in faults:
            self.inject(spec)

    # -- time ---------------------------------------------------------------------------------

    def extra_timers_s(self) -> list[float]:
        watchdog, pause = self.watchdog_deadline_s, self.pause_until_s
        if pause is None:
            return [] if watchdog is None else [watchdog]
        return [pause] if watchdog is None else [watchdog, pause]

    def at_rest(self) -> bool:
        return (
            self.state == "stopped"
            and self.alarm is None
            and not self.unprompted
            and self.pause_until_s is None
        )

    def polled(self, count: int, last_at: float) -> None:
        super().polled(count, last_at)
        self.restart_watchdog(last_at)

    def on_timer(self, at: float) -> None:
        if self.pause_until_s is not None and self.pause_until_s <= at:
            self.pause_until_s = None
            self._play_program(self.running_phase + 1, at)
        if self.watchdog_deadline_s is not None and self.watchdog_deadline_s <= at:
            self.watchdog_deadline_s = None
            self._halt(at, "safe-mode-timeout", "stopped")
            self.raise_alarm("T")

    def on_target_reached(self, at: float) -> None:
        self._phase_done(at)

    def on_end_of_travel(self, at: float) -> None:
        self._halt(at, "end-of-travel", "stopped")
        self.raise_alarm("S")

    # -- motion -------------------------------------------------------------------------------

    def status_char(self) -> str:
        if self.state == "running":
            return "I" if self.phases[self.running_phase].direction == "INF" else "W"
        return {"paused": "P", "purging": "X", "timed-pause": "T"}.get(self.state, "S")

    def _halt(self, at: float, cause: str, state: str) -> None:
        self.halt_motor(at, cause, bolus_over=state != "paused")
        self.state = state
        if state == "stopped":
            self.pause_until_s = None

    def _start_phase(self, n: int, at: float, cause: str) -> None:
        phase = self.phases[n]
        self.running_phase = n
        self.state = "running"
        target = phase.volume_ul if phase.volume_ul > 0 else None
        self.begin_motion(phase.direction, phase.rate_ul_per_min, target, at, cause)

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
        if self.state == "paused":
            phase = self.phases[self.running_phase]
            self.state = "running"
            self.drive.start(
                phase.direction, phase.rate_ul_per_min / 60.0, at, f"{self.run_cause}-resume"
            )
        elif self.state == "stopped":
            self._play_program(start_phase, at, self.run_cause)
        self.run_started(at)

    def purge(self, at: float) -> None:
        """PUR: move at the maximum rate until stopped."""
        if self.state != "stopped":
            return
        phase = self.phases[self.phase_n]
        self.running_phase = self.phase_n
        self.state = "purging"
        max_rate = rate_limits_ul_per_min(self.diameter_mm)[1]
        self.drive.begin_bolus(None)
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

    def pump_fault(self, spec: FaultSpec, at: float) -> None:
        kind = spec.kind
        if kind == "power-reset":
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
        elif kind == "spontaneous-start" and self.state == "stopped":
            self._start_phase(self.phase_n, at, "spontaneous-start")
        elif kind == "keypad-pause" and self.state == "running":
            self._halt(at, "keypad-pause", "paused")
        elif kind == "reservoir-empty":
            self.drive.reservoir_ul = 0.0
            if self.state == "running":
                self._halt(at, "end-of-travel", "stopped")
                self.raise_alarm("S")
