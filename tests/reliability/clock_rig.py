"""The daemon and the in-process pump on two virtual clocks: the host's, which tests step,
suspend and reboot, and the pump's, which is true time and is never touched.

The ledger's times are the pump's, so every check of the physical starts is in true time, however
wrong the host's clock is. Between steps, an operator answers alarms after 30 host minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from pumpctl.config import Config
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import START_LATENCY_BOUND, Outcome
from pumpctl.daemon.assemble import assemble
from pumpctl.daemon.service import Daemon
from pumpctl.daemon.waiting import VirtualWaker
from pumpctl.invariants import check_starts, commanded_starts
from pumpctl.journal import EventKind, Journal
from pumpctl.journal.verify import verify
from pumpctl.simulator.ledger import Ledger
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.personality import make_simulator, model_for_driver

OPERATOR = {"uid": 0, "gid": 0, "pid": 0, "name": "clock campaign operator"}
OPERATOR_DELAY = timedelta(minutes=30)


class TwinWaker(VirtualWaker):
    """The daemon's sleep lets true time pass on both clocks."""

    def __init__(self, host: VirtualClock, pump: VirtualClock) -> None:
        super().__init__(host)
        self._pump = pump

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self._pump.advance(max(0.0, seconds))


@dataclass(frozen=True)
class ClockVerdict:
    violations: list[str]
    missed: list[str]
    delivered: int


class ClockRig:
    """One therapy whose host clock a test can step, suspend and reboot."""

    def __init__(
        self, config: Config, workdir: Path, start: datetime, driver: str = "ne1000"
    ) -> None:
        if driver != config.pump.driver:
            config = replace(config, pump=config.pump.model_copy(update={"driver": driver}))
        self.config = config
        self.host = VirtualClock(start, elapsed_s=1000.0, boot_id="host-boot-1")
        self.pump_clock = VirtualClock(start, elapsed_s=0.0, boot_id="pump")
        self.ledger = Ledger()
        self.sim = make_simulator(
            model_for_driver(driver),
            self.pump_clock,
            address=config.pump.address,
            syringe_ul=float(config.pump.syringe_volume_ul),
            seed=1,
            faults=[],
            ledger=self.ledger,
        )
        self.path = workdir / "journal.sqlite3"
        self.journal = Journal(self.path, self.host)
        self.daemon = self._boot()

    def _boot(self) -> Daemon:
        # The pump's watchdog period comes from the configuration (the rig's tests use the
        # simulation's, 255 s); one heartbeat per 80 s is plenty on a virtual clock.
        daemon = assemble(
            self.config,
            clock=self.host,
            waker=TwinWaker(self.host, self.pump_clock),
            journal=self.journal,
            transport=LoopbackTransport(self.sim),
            heartbeat_s=80.0,
        )
        daemon.start()
        return daemon

    @property
    def true_now(self) -> datetime:
        return self.pump_clock.now()

    def run_until(self, true_when: datetime) -> None:
        """Let the daemon run until true time reaches ``true_when``."""
        while self.true_now < true_when:
            pause = self.daemon.tick()
            self._operator()
            pause = min(pause, (true_when - self.true_now).total_seconds())
            self.daemon.waker.sleep(max(pause, 0.001))

    def run_for(self, hours: float) -> None:
        self.run_until(self.true_now + timedelta(hours=hours))

    def _operator(self) -> None:
        now = self.host.now()
        for alarm in self.daemon.alarms.unacknowledged():
            # A backward step makes raised_at look future: the operator still answers.
            if abs(now - alarm.raised_at) >= OPERATOR_DELAY:
                self.daemon.handle(
                    {"cmd": "ack", "alarm_id": alarm.alarm_id, "reason": "checked the clock"},
                    OPERATOR,
                )

    # -- what tests do to the host -------------------------------------------------------------

    def step_wall(self, seconds: float) -> None:
        self.host.step_wall(seconds)

    def suspend(self, seconds: float) -> None:
        """The host sleeps; the pump (its own hardware) keeps true time."""
        self.host.suspend(seconds)
        self.pump_clock.advance(seconds)

    def reboot(self, *, downtime_s: float, wall_error_s: float) -> None:
        """The host dies (no clean stop), stays down, and comes back with a wrong RTC."""
        self.journal.close()
        self.host.reboot(downtime_s=downtime_s, wall_error_s=wall_error_s)
        self.pump_clock.advance(downtime_s)
        self.journal = Journal(self.path, self.host)
        self.daemon = self._boot()

    # -- verdict -------------------------------------------------------------------------------

    def verdict(self) -> ClockVerdict:
        """True-time limits, one intent per slot, no start outside its window, chain intact."""
        self.journal.close()
        problems = check_starts(
            commanded_starts(self.ledger.entries), self.config.limits, tolerance=START_LATENCY_BOUND
        )
        grace = timedelta(minutes=self.config.limits.grace_min)
        seen: set[str] = set()
        missed: list[str] = []
        delivered = 0
        with Journal(self.path, self.host) as journal:
            kinds = (EventKind.PULSE_INTENT, EventKind.SLOT_MISSED, EventKind.PULSE_OUTCOME)
            for event in journal.events(kinds=kinds):
                slot_id = str(event.payload["slot_id"])
                if event.kind == EventKind.SLOT_MISSED:
                    missed.append(slot_id)
                elif event.kind == EventKind.PULSE_OUTCOME:
                    delivered += event.payload["outcome"] == Outcome.DELIVERED
                elif slot_id in seen:
                    problems.append(f"{slot_id}: a second intent")
                else:
                    seen.add(slot_id)
                    scheduled = datetime.fromisoformat(str(event.payload["scheduled_utc"]))
                    # SR-10 in the daemon's own time: never before its slot, never late.
                    if not scheduled <= event.wall <= scheduled + grace:
                        problems.append(
                            f"{slot_id}: intent at {event.wall.isoformat()} outside its window"
                        )
        result = verify(self.path)
        if not result.ok:
            problems.append(f"journal: {result.problem}")
        return ClockVerdict(problems, missed, delivered)
