"""``pumpctl simulate``: the whole daemon against the in-process simulator on a virtual clock.

The same delivery code, gate and journal as ``pumpctl run``; only the clock (virtual), the
transport (in process) and the operator (simulated: acknowledges alarms and refills the syringe
after a delay) differ. Deterministic for a seed. Invariants are checked against the simulator's
ground-truth ledger after every pulse and at the end.
"""

from __future__ import annotations

import math
import random
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from importlib.resources import files
from pathlib import Path

from pumpctl.config import Config, parse_config_text
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import START_LATENCY_BOUND, Prescription
from pumpctl.core.planner import Planner
from pumpctl.core.timefmt import local_text
from pumpctl.daemon.alarms import Transition
from pumpctl.daemon.assemble import assemble
from pumpctl.daemon.configuration import resolve
from pumpctl.daemon.slots import CONFIRMING_OUTCOMES
from pumpctl.daemon.waiting import VirtualWaker
from pumpctl.errors import ConfigError, JournalError, UsageError
from pumpctl.invariants import (
    ACCOUNTING_KINDS,
    check_intents_cover_starts,
    check_starts,
    check_volume_accounted,
    commanded_starts,
)
from pumpctl.journal import EventKind, Journal
from pumpctl.journal.chain import head_path
from pumpctl.journal.verify import verify
from pumpctl.simulator.faults import parse_fault
from pumpctl.simulator.ledger import Ledger
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.personality import make_simulator, model_for_driver

#: Faults drawn at random per pulse by ``--fault-rate`` (pump and link faults mid-transaction).
RANDOM_FAULTS = (
    "stall@0.5",
    "power-reset@0.4",
    "runaway@0.9",
    "keypad-pause@0.3",
    "safe-timeout@0.6",
    "spontaneous-start",
    "garble",
    "bad-crc",
    "truncate",
    "duplicate",
    "slow,delay=2",
    "silence,for=120",
)

#: Simulated time of one start-up; the reference day is fixed so runs are reproducible.
SIMULATION_EPOCH = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)

#: The journal records a simulation's summary counts.
SUMMARY_KINDS = (
    EventKind.PULSE_INTENT,
    EventKind.PULSE_OUTCOME,
    EventKind.PULSE_RECONCILED,
    EventKind.SLOT_MISSED,
)

#: Alarms that refuse a pulse because of what the configuration asks of the pump: a simulation
#: that raised one fails (its configuration would fail the same way on the bench).
RUNTIME_REFUSALS = frozenset({"pulse-unsendable", "overshoot-unbounded"})

OPERATOR = {"uid": 0, "gid": 0, "pid": 0, "name": "simulated operator"}

#: The simulated pump's watchdog period: the NE-1000's longest. On a virtual clock a tick is
#: never late, so the loop can heartbeat rarely, and idle ticks are most of a long simulation's
#: work; ``pumpctl demo`` uses the longest period for the same reason.
SIMULATED_SAFE_MODE_S = 255
#: On a virtual clock one heartbeat per watchdog period, with a margin, is enough (a real host
#: sends three per period because it may be busy).
VIRTUAL_HEARTBEAT_FRACTION = Fraction(200, 255)


def default_config(now: datetime = SIMULATION_EPOCH) -> Config:
    """The embedded demo configuration with the longest watchdog, anchored on ``now``'s day."""
    text = files("pumpctl.examples").joinpath("demo.toml").read_text(encoding="utf-8")
    text, count = re.subn(
        r"(?m)^safe_mode_timeout_s = .*$", f"safe_mode_timeout_s = {SIMULATED_SAFE_MODE_S}", text
    )
    if count != 1:
        raise ConfigError(f"embedded demo.toml: {count} safe_mode_timeout_s lines; expected one")
    return parse_config_text(text, source="<embedded demo.toml>", now=now)


#: Before each slot the idle skip runs every turn for this long (see
#: :meth:`Simulation.skip_idle_turns`): a daemon may prepare its pulse then.
SLOT_PREPARATION = timedelta(minutes=1)

#: A simulated daemon starts this long before the first slot, as a real one would be ready.
LEAD = timedelta(minutes=5)


def simulation_period(prescription: Prescription, days: float) -> tuple[datetime, datetime]:
    """``[start, end)``: ``days`` from just before the first slot (the anchor).

    Raises :class:`UsageError` when that period cannot be simulated: it would end past the
    calendar's last year, or before the first slot (a run with nothing in it).
    """
    start = prescription.anchor - LEAD
    try:
        end = start + timedelta(days=days)
    except OverflowError:
        raise UsageError(
            f"--days {days:g}: the period from {local_text(start, prescription.zone)} would end "
            "after the year 9999; allowed a period that ends before then"
        ) from None
    first = Planner(prescription).slot(0).scheduled
    if end <= first:
        least = (first - start) / timedelta(days=1)
        raise UsageError(
            f"--days {days:g} ends at {local_text(end, prescription.zone)}, before the first "
            f"slot at {local_text(first, prescription.zone)}; allowed more than {least:.4f} days"
        )
    return start, end


@dataclass
class SimulationOptions:
    days: float
    seed: int = 0
    faults: list[str] = field(default_factory=list)
    fault_rate: float = 0.0
    operator_delay_min: float = 30.0
    #: The loop's heartbeat; None: the configured safe-mode period x VIRTUAL_HEARTBEAT_FRACTION
    #: (200 s with the default configuration's 255 s watchdog). The SR-26 flow watch reads
    #: the pump's totals at this heartbeat too (the real daemon: every 5 s).
    heartbeat_s: float | None = None
    #: The pump driver (and so the simulated pump family); None: the configuration's.
    driver: str | None = None
    #: Move the clock over the loop's turns that provably do nothing (see
    #: :meth:`Simulation.skip_idle_turns`); False: every turn runs, as it did before.
    idle_skip: bool = True
    #: Clock seconds between two between-pulse readings (SR-26); None: the heartbeat.
    flow_watch_s: float | None = None


@dataclass
class SimulationSummary:
    """What happened, by the journal's outcomes and the simulator's ledger."""

    days: float
    start: datetime
    end: datetime
    timezone: str
    slots: int
    outcomes: Counter[str]
    alarms: Counter[str]
    #: Unexplained flow the daemon journaled (SR-26): how often, and how much.
    flows: int
    flow_ul: Decimal
    physical_starts: int
    ledger_infused_ul: Decimal
    faults_injected: Counter[str]
    violations: list[str]
    journal_path: Path
    chain_ok: bool
    head_seq: int | None

    @property
    def delivered(self) -> int:
        """Pulses that moved fluid as commanded or more (PARTIAL included)."""
        return sum(self.outcomes.get(k, 0) for k in ("DELIVERED", "PARTIAL", "OVER_DELIVERED"))

    @property
    def all_failed(self) -> bool:
        """Slots came due and not one pulse was delivered: a therapy that does not work."""
        return self.delivered == 0 and sum(self.outcomes.values()) > 0

    @property
    def refused_at_run_time(self) -> int:
        """Pulses refused because the pump cannot be told them, or stopped in time."""
        return sum(v for k, v in self.alarms.items() if k in RUNTIME_REFUSALS)

    @property
    def ok(self) -> bool:
        return (
            self.chain_ok
            and not self.violations
            and not self.all_failed
            and not self.refused_at_run_time
        )

    def lines(self) -> list[str]:
        out = [
            f"simulated {self.days:g} {'day' if self.days == 1 else 'days'}, "
            f"{local_text(self.start, self.timezone)} to "
            f"{local_text(self.end, self.timezone)} ({self.timezone}): {self.slots} slots",
            f"journal {self.journal_path}",
            "pulses: "
            + ", ".join(
                f"{k.lower()} {self.outcomes.get(k, 0)}"
                for k in (
                    "DELIVERED",
                    "PARTIAL",
                    "OVER_DELIVERED",
                    "UNCERTAIN",
                    "NOT_DELIVERED",
                    "MISSED",
                    "DENIED",
                )
            ),
            f"physical pulse starts (ledger): {self.physical_starts}; "
            f"infused {self.ledger_infused_ul} uL",
            "alarms: " + (", ".join(f"{k} {v}" for k, v in sorted(self.alarms.items())) or "none"),
        ]
        if self.flows:
            out.append(
                f"unexplained flow: {self.flows} found, {self.flow_ul} uL moved that no pulse "
                "commanded (journaled, alarmed, counted for the limits)"
            )
        refused = {k: v for k, v in self.alarms.items() if k in RUNTIME_REFUSALS}
        if refused:
            out.append(
                "refused at run time: "
                + ", ".join(f"{k} {v}" for k, v in sorted(refused.items()))
                + " (the configuration asks for what this pump cannot do)"
            )
        if self.faults_injected:
            out.append(
                "faults injected: "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.faults_injected.items()))
            )
        out.append(
            f"journal chain: {'verified' if self.chain_ok else 'BROKEN'} (head {self.head_seq})"
        )
        out.append(
            "invariants: all held"
            if not self.violations
            else f"invariants: {len(self.violations)} VIOLATED: " + "; ".join(self.violations[:5])
        )
        if self.all_failed:
            out.append("therapy: FAILED, no pulse was delivered (see the alarms above)")
        return out


class Simulation:
    """One simulated therapy: daemon, simulator and a patient operator on one virtual clock."""

    def __init__(self, config: Config, journal_path: Path, options: SimulationOptions) -> None:
        if journal_path.exists():
            raise ConfigError(
                f"--journal {journal_path}: the file exists; a simulation writes a new journal"
            )
        if options.driver is not None and options.driver != config.pump.driver:
            config = replace(config, pump=config.pump.model_copy(update={"driver": options.driver}))
        self.config = config
        self.options = options
        self.rng = random.Random(options.seed)  # noqa: S311 - reproducible faults, not secrets
        # The slots of the one resolution the daemon uses (a new journal: nothing journaled).
        self.prescription = resolve(config, None).prescription
        self.start, self.end = simulation_period(self.prescription, options.days)
        self.clock = VirtualClock(self.start, elapsed_s=1000.0, boot_id="simulation")
        self.ledger = Ledger()
        self.sim = make_simulator(
            model_for_driver(config.pump.driver),
            self.clock,
            address=config.pump.address,
            syringe_ul=float(config.pump.syringe_volume_ul),
            seed=options.seed,
            faults=[parse_fault(f) for f in options.faults],
            ledger=self.ledger,
        )
        self.faults_injected: Counter[str] = Counter(f.split("@")[0] for f in options.faults)
        journal_path.parent.mkdir(parents=True, exist_ok=True)
        self.journal_path = journal_path
        # Every append fsyncs twice (SR-19); a year of simulated appends on a disk would take
        # minutes of fsync alone. A simulation is re-run from its seed, not recovered after a
        # crash, so it journals on memory-backed storage and moves the result into place.
        shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp folder inside it
        self._scratch = Path(
            tempfile.mkdtemp(prefix="pumpctl-sim-", dir=shm if shm.is_dir() else None)
        )
        self._work_path = self._scratch / journal_path.name
        self.journal = Journal(self._work_path, self.clock)
        self.heartbeat_s = (
            options.heartbeat_s
            if options.heartbeat_s is not None
            else float(config.pump.safe_mode_timeout_s * VIRTUAL_HEARTBEAT_FRACTION)
        )
        self.daemon = assemble(
            config,
            clock=self.clock,
            waker=VirtualWaker(self.clock),
            journal=self.journal,
            transport=LoopbackTransport(self.sim),
            heartbeat_s=self.heartbeat_s,
            simulated=True,
            # By default the pump is read between pulses at the heartbeat, not every 5 s: the
            # turn-by-turn rigs (soak, fault matrix) would otherwise run 40x the turns. Flow is
            # still seen and journaled (at the latest before the next clear) and the ledger
            # check proves nothing moved unseen; SR-26's 10 s detection is the real daemon's,
            # and `flow_watch_s=5` runs it here too (the idle skip keeps that cheap).
            flow_watch_s=(
                options.flow_watch_s if options.flow_watch_s is not None else self.heartbeat_s
            ),
        )
        self.alarm_counts: Counter[str] = Counter()
        self.daemon.alarms.add_listener(
            lambda ev: (
                self.alarm_counts.update([str(ev.alarm.kind)])
                if ev.transition in (Transition.RAISED, Transition.ESCALATED)
                else None
            )
        )
        self._faulted_slot: str | None = None
        self._finished = False
        #: Wall time at the end of the last turn the loop ran (None before the first).
        self._last_turn_at: datetime | None = None
        #: The simulated pump's rest as it was at the end of that turn (see ``rest_until_s``).
        self._rest_until_s: float | None = None
        #: Turns run and turns skipped as idle (for the benchmark and the tests).
        self.turns = 0
        self.skipped_turns = 0

    def run(self, progress: Callable[[float], None] | None = None) -> SimulationSummary:
        self.daemon.start()
        total_s = (self.end - self.clock.now()).total_seconds()
        while self.clock.now() < self.end:
            if self.options.idle_skip:
                self.skip_idle_turns()
            self._maybe_fault()
            pause = self.daemon.tick()
            self._operator()
            self._last_turn_at = self.clock.now()
            if self.options.idle_skip:
                # Judged now, at the end of the turn: what happens from here on is a fault
                # firing or a timer running out, both known to it in advance.
                self._rest_until_s = self.sim.rest_until_s()
            self.turns += 1
            pause = min(pause, max(0.0, (self.end - self.clock.now()).total_seconds()))
            self.daemon.waker.sleep(max(pause, 0.001))
            if progress is not None:
                left = (self.end - self.clock.now()).total_seconds()
                progress(1.0 - max(0.0, left) / total_s)
        self.finish("simulation complete")
        return self.summary()

    def skip_idle_turns(self) -> int:
        """Move the clock over the coming turns of the loop that provably do nothing.

        Called where a turn is about to run. Between pulses the loop wakes on a fixed grid (the
        SR-26 reading's interval, ``flow_watch.interval_us``, from the last reading) until the
        turn at the next slot. Such a turn does nothing but one status reading when all of
        this holds: the daemon runs no outputs (notifications and metrics run on real time),
        the pump is ready, no pulse is pending, no operator suspension or reload is waiting,
        the last turn ended with the totals confirmed (the flow ledger's ``confirmed_at``) and
        every reading on record took no clock time (the SR-25 plan uses the slowest); no slot's
        window is open; and the simulated pump
        was at rest when that turn ended (``rest_until_s``: still, silent, no link fault,
        nothing waiting for a command count), with a horizon still ahead. Such a reading gets
        the answer the last one got, until the next event:

        - the next slot, less :data:`SLOT_PREPARATION`: every turn of the last minute before a
          slot runs, where a daemon may prepare its pulse (a pre-armed one is programmed a few
          seconds before its slot), then the slot's own turn;
        - the pump acting on its own (an armed ``t=`` fault, a timed pause);
        - a recent slot's grace and missed-alarm deadlines, if it was not attempted or not
          delivered (SR-10, SR-22);
        - the simulated operator's answer to each unacknowledged alarm;
        - the fault dice before the next slot (``--fault-rate``);
        - the end of the simulation.

        The first grid turn at or after each event runs (deadlines rounded down, so a turn
        runs early rather than late), and so does the turn before it, so every turn that does
        something runs at the time it would without skipping, with the state it would have:
        the turns skipped leave only their reading behind, which the next turn's own reading
        replaces (the last reading before the event, which a flow found at the event is
        measured from, is a real one), and on the pump a command count and the watchdog's
        restart, played by ``polled``. Tests run seeded fault simulations both ways and compare
        the journals. Returns how many turns were skipped.
        """
        turns = self._idle_turns_ahead()
        if turns <= 0:
            return 0
        step_us = self.daemon.flow_watch.interval_us
        now_us = self.clock.elapsed_us()
        self.sim.polled(turns, (now_us + (turns - 1) * step_us) / 1_000_000)
        self.clock.advance(timedelta(microseconds=turns * step_us))
        self.skipped_turns += turns
        return turns

    def _idle_turns_ahead(self) -> int:
        """How many turns, from this one on, do nothing (0: run this one)."""
        daemon = self.daemon
        watch = daemon.flow_watch
        flow = daemon.delivery.flow
        now = self.clock.now()
        if (
            self._last_turn_at is None
            or daemon.after_tick
            or not daemon.state.pump_ready
            or daemon.state.operator_suspended is not None
            or daemon.reload.requested is not None
            or not watch.due()
            or watch.interval_s > daemon.options.heartbeat_s
            or flow.expected_ul is None
            or flow.adopt_next
            or flow.cleared_maybe
            or flow.reset_seen
            or flow.confirmed_at != self._last_turn_at
            or daemon.delivery.latency.worst_s not in (None, 0.0)
            or daemon.journal.pending_pulses()
            or daemon.slots.due_slot(now) is not None
        ):
            return 0
        # The pump's rest as of the last turn: anything it did since (a timed fault firing
        # between two turns) is past its horizon, and the turn now is the first to see it.
        rest_s = self._rest_until_s
        if rest_s is None:
            return 0
        now_us = self.clock.elapsed_us()
        step_us = watch.interval_us

        def turns_before(event_us: float) -> int:
            """Grid turns strictly before ``event_us``: the one at or after it runs."""
            return max(0, math.ceil((event_us - now_us) / step_us))

        def at(when: datetime) -> float:
            return now_us + (when - now) / timedelta(microseconds=1)

        nxt = daemon.planner.next_after(now)
        events = [at(min(nxt.scheduled - SLOT_PREPARATION, self.end))]
        # The pump's own next act (rounded down: a turn early, never one late).
        if not math.isinf(rest_s):
            events.append(math.floor(rest_s * 1_000_000) - 1)
        if self.options.fault_rate > 0 and nxt.slot_id != self._faulted_slot:
            events.append(at(nxt.scheduled - timedelta(seconds=self.heartbeat_s)))
        delay = timedelta(minutes=self.options.operator_delay_min)
        events += [at(alarm.raised_at + delay) for alarm in daemon.alarms.unacknowledged()]
        limits = daemon.limits
        grace = timedelta(minutes=limits.grace_min)
        missed = timedelta(minutes=limits.missed_alarm_min)
        # Every slot with a deadline after the last turn (one passed since runs this turn).
        since = self._last_turn_at - max(grace, missed) - timedelta(minutes=1)
        recent = daemon.planner.slots_between(since, now)
        for slot in recent:
            if slot.slot_id not in daemon.state.attempted:
                events.append(at(slot.scheduled + grace))
            if not self._delivered(slot.slot_id, slot.scheduled):
                events.append(at(slot.scheduled + missed))
        # A deadline may be met at it or just after it: both turns run. So does the turn
        # before: its reading is the one a flow found at the event is measured from ("since").
        return min(min(turns_before(e), turns_before(e + 1)) for e in events) - 1

    def _delivered(self, slot_id: str, scheduled: datetime) -> bool:
        """Whether the journal confirms ``slot_id`` delivered (what ends its missed alarm)."""
        return any(
            r.slot_id == slot_id and r.outcome in CONFIRMING_OUTCOMES
            for r in self.daemon.journal.pulse_history(scheduled - timedelta(minutes=1))
        )

    @property
    def journal_file(self) -> Path:
        """Where the journal is now: scratch storage while running, ``journal_path`` after."""
        return self.journal_path if self._finished else self._work_path

    def finish(self, reason: str) -> None:
        """Stop the daemon and put the journal at ``journal_path``; call once, after the turns."""
        self.daemon.shutdown(reason)
        self.journal.close()
        self._move_journal_into_place()
        self._finished = True

    def _move_journal_into_place(self) -> None:
        for source, target in (
            (self._work_path, self.journal_path),
            (head_path(self._work_path), head_path(self.journal_path)),
        ):
            shutil.move(source, target)
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _maybe_fault(self) -> None:
        """Just before a slot, arm a random fault with the configured probability."""
        if self.options.fault_rate <= 0:
            return
        nxt = self.daemon.planner.next_after(self.clock.now())
        if nxt.slot_id == self._faulted_slot:
            return
        if (nxt.scheduled - self.clock.now()).total_seconds() > self.heartbeat_s:
            return
        self._faulted_slot = nxt.slot_id
        if self.rng.random() < self.options.fault_rate:
            spec = self.rng.choice(RANDOM_FAULTS)
            self.sim.inject(spec)
            self.faults_injected.update([spec.split("@")[0].split(",")[0]])

    def _operator(self) -> None:
        """An operator who answers alarms after a delay and refills a low syringe."""
        now = self.clock.now()
        delay = timedelta(minutes=self.options.operator_delay_min)
        for alarm in self.daemon.alarms.unacknowledged():
            if now - alarm.raised_at >= delay:
                self.daemon.handle(
                    {"cmd": "ack", "alarm_id": alarm.alarm_id, "reason": "checked pump and line"},
                    OPERATOR,
                )
        remaining = self.daemon.reservoir.remaining_ul
        low = self.config.prescription.volume_ul * self.config.limits.reservoir_low_pulses
        if remaining is not None and remaining < low:
            self.sim.pump.drive.reservoir_ul = float(self.config.pump.syringe_volume_ul)
            self.daemon.handle(
                {"cmd": "reservoir_fill", "volume_ul": str(self.config.pump.syringe_volume_ul)},
                OPERATOR,
            )

    def summary(self) -> SimulationSummary:
        outcomes: Counter[str] = Counter()
        intents = []
        with Journal(self.journal_path, self.clock) as journal:
            accounting = [(e.kind, e.payload) for e in journal.events(kinds=ACCOUNTING_KINDS)]
            for event in journal.events(kinds=SUMMARY_KINDS):
                if event.kind == EventKind.PULSE_INTENT:
                    intents.append(event.wall)
                elif event.kind in (EventKind.PULSE_OUTCOME, EventKind.PULSE_RECONCILED):
                    outcomes.update([str(event.payload["outcome"])])
                else:
                    outcomes.update(["DENIED" if event.payload.get("reasons") else "MISSED"])
        starts = commanded_starts(self.ledger.entries)
        violations = check_starts(starts, self.config.limits, tolerance=START_LATENCY_BOUND)
        violations += check_intents_cover_starts(starts, intents)
        infused = Decimal(str(round(self.ledger.infused_ul(), 6)))
        step = self.daemon.delivery.vocabulary().totals_step_ul
        violations += check_volume_accounted(infused, accounting, step_ul=step)
        flows = [p for k, p in accounting if k == EventKind.FLOW_UNEXPLAINED]
        try:
            result = verify(self.journal_path)
            chain_ok, head = result.ok, result.head
        except JournalError as err:
            chain_ok, head = False, None
            violations.append(str(err))
        prescription = self.prescription
        return SimulationSummary(
            days=self.options.days,
            start=self.start,
            end=self.end,
            timezone=prescription.timezone,
            slots=len(Planner(prescription).slots_between(self.start, self.end)),
            outcomes=outcomes,
            alarms=self.alarm_counts,
            flows=len(flows),
            flow_ul=sum(
                (Decimal(str(p["volume_ul"])) for p in flows if p.get("volume_ul") is not None),
                Decimal(0),
            ),
            physical_starts=len(starts),
            ledger_infused_ul=Decimal(str(round(self.ledger.infused_ul(), 3))),
            faults_injected=self.faults_injected,
            violations=violations,
            journal_path=self.journal_path,
            chain_ok=chain_ok,
            head_seq=None if head is None else head.seq,
        )
