"""Property tests: whatever happens to the clocks, authorized pulses never break the limits.

A random walk of real time passing, wall-clock steps, suspends, reboots with wrong RTCs,
wake-ups and reconciliations drives the gate. The test keeps the *true* time of every event
beside what the clock claims, and checks the authorized starts against true time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from pumpctl.core.clock import VirtualClock
from pumpctl.core.exposure import Infusion, default_threshold, level_pg_per_ml, single_pulse_peak
from pumpctl.core.gate import GateContext, authorize
from pumpctl.core.model import START_LATENCY_BOUND, GateState, Limits, Outcome, PulseRecord, Slot
from tests.builders import T0

LIMITS = Limits(min_interval_min=90, max_pulses_24h=14, max_dose_24h_ug=Decimal(60))
#: The start-latency allowance the gate grants (docs/design.md), in seconds.
ALLOWANCE_S = START_LATENCY_BOUND.total_seconds()

advance = st.tuples(st.just("advance"), st.floats(min_value=1, max_value=7200))
#: Outcome recorded right after an authorized start; None leaves it pending (UNCERTAIN).
outcomes = st.sampled_from([Outcome.DELIVERED, Outcome.DELIVERED, Outcome.PARTIAL, None])
actions = st.one_of(
    advance,
    advance,
    advance,
    st.tuples(st.just("wall"), st.sampled_from([-86400, -3600, -60, 60, 3600, 86400])),
    st.tuples(st.just("suspend"), st.floats(min_value=60, max_value=3 * 3600)),
    st.tuples(st.just("reboot"), st.sampled_from([-86400, -3600, 0, 3600, 86400])),
    st.tuples(st.just("request"), st.tuples(st.sampled_from(["4", "5", "8"]), outcomes)),
    st.tuples(st.just("request"), st.tuples(st.sampled_from(["4", "5", "8"]), outcomes)),
    st.tuples(st.just("resolve"), st.sampled_from(list(Outcome))),
)


@dataclass
class World:
    clock: VirtualClock = field(default_factory=lambda: VirtualClock(T0, elapsed_s=50_000.0))
    true_s: float = 0.0
    records: list[PulseRecord] = field(default_factory=list)
    starts: list[tuple[float, Decimal]] = field(default_factory=list)  # (true s, dose)
    last_wall = T0
    boot_last_elapsed: dict[str, float] = field(default_factory=dict)

    def note_event(self) -> None:
        self.last_wall = max(self.last_wall, self.clock.now())
        self.boot_last_elapsed[self.clock.boot_id] = self.clock.elapsed_s()

    def step(self, kind: str, value: object) -> None:
        if kind == "advance":
            self.clock.advance(float(value))  # type: ignore[arg-type]
            self.true_s += float(value)  # type: ignore[arg-type]
        elif kind == "wall":
            self.clock.step_wall(float(value))  # type: ignore[arg-type]
        elif kind == "suspend":
            self.clock.suspend(float(value))  # type: ignore[arg-type]
            self.true_s += float(value)  # type: ignore[arg-type]
        elif kind == "reboot":
            self.clock.reboot(downtime_s=120, wall_error_s=float(value))  # type: ignore[arg-type]
            self.true_s += 120
        elif kind == "request":
            dose, outcome = value  # type: ignore[misc]
            self.request(Decimal(dose))
            if outcome is not None:
                self.resolve(outcome)
        elif kind == "resolve":
            self.resolve(Outcome(str(value)))

    def request(self, dose: Decimal) -> None:
        slot = Slot(
            slot_id=f"S{len(self.records)}-{self.true_s}",
            scheduled=self.clock.now(),
            interval_min=90,
            dose_ug=dose,
            volume_ul=dose,
            rate_ul_per_min=dose,
            duration_s=Decimal(60),
        )
        ctx = GateContext(
            limits=LIMITS,
            state=GateState(last_journal_wall=self.last_wall),
            boot_last_elapsed_s=dict(self.boot_last_elapsed),
        )
        decision = authorize(slot, self.records, self.clock, ctx)
        self.note_event()  # the daemon journals every decision
        if decision.allowed:
            self.records.append(
                PulseRecord(
                    slot_id=slot.slot_id,
                    intent_wall=self.clock.now(),
                    intent_elapsed_s=self.clock.elapsed_s(),
                    boot_id=self.clock.boot_id,
                    dose_ug=dose,
                    volume_ul=dose,
                    duration_s=Decimal(60),
                )
            )
            self.starts.append((self.true_s, dose))

    def resolve(self, outcome: Outcome) -> None:
        # Pump evidence always agrees it moved: NOT_DELIVERED would make the true ledger lie.
        if outcome is Outcome.NOT_DELIVERED:
            outcome = Outcome.DELIVERED
        for i, rec in enumerate(self.records):
            if rec.outcome is None:
                self.records[i] = PulseRecord(**{**rec.__dict__, "outcome": outcome})
                self.note_event()
                return


def run_and_check(steps: list[tuple[str, object]]) -> None:
    """Play ``steps`` and assert every authorized start against true time."""
    world = World()
    for kind, value in steps:
        world.step(kind, value)

    starts = world.starts
    event(f"authorized starts: {min(len(starts), 5)}{'+' if len(starts) >= 5 else ''}")
    for (t_a, _), (t_b, _) in itertools.pairwise(starts):
        assert t_b - t_a >= LIMITS.min_interval_min * 60 - ALLOWANCE_S - 1e-6, "min interval"
    for i, (t_i, _) in enumerate(starts):
        window = [d for t, d in starts[: i + 1] if t_i - t < 86400 - ALLOWANCE_S]
        assert len(window) <= LIMITS.max_pulses_24h
        assert sum(window, Decimal(0)) <= LIMITS.max_dose_24h_ug
    threshold = default_threshold(90)
    for i, (t_i, dose) in enumerate(starts):
        history = [Infusion((t - t_i) / 60, float(d), 1.0) for t, d in starts[:i]]
        ref = max([float(dose), *(h.dose_ug for h in history)])
        level = level_pg_per_ml(history, 0.0) / single_pulse_peak(ref, 1.0)
        assert level <= threshold + 1e-9, "exposure threshold broken"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=80))
def test_no_sequence_of_events_breaks_interval_caps_or_exposure(
    steps: list[tuple[str, object]],
) -> None:
    """SR-02, SR-03, SR-05, SR-11: whatever the clocks do, authorized starts keep every limit."""
    run_and_check(steps)


LEAST_GAP_US = (90 * 60 - int(ALLOWANCE_S)) * 1_000_000


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.integers(min_value=0, max_value=20 * 86400 * 1_000_000),
        st.integers(min_value=LEAST_GAP_US - 2, max_value=LEAST_GAP_US + 2),
    ),
    st.integers(min_value=-86400, max_value=86400),
)
@example(LEAST_GAP_US - 1, 0)
@example(LEAST_GAP_US, 0)
def test_wall_clock_never_authorizes_inside_the_interval(gap_us: int, wall_step_s: int) -> None:
    """SR-11: one pulse, then any gap and any wall step: a second start needs 90 true minutes.

    Less the start-latency allowance, the only shortening the gate grants; exact to the
    microsecond (SR-32).
    """
    world = World()
    world.request(Decimal(5))
    world.step("resolve", Outcome.DELIVERED)
    world.clock.step_wall(wall_step_s)
    world.clock.advance(timedelta(microseconds=gap_us))
    world.true_s += gap_us / 1_000_000
    world.request(Decimal(5))
    allowed = len(world.starts) == 2
    # Allowed exactly when 90 true minutes (less the allowance) passed and the wall clock is not
    # behind the journal.
    assert allowed == (gap_us >= LEAST_GAP_US and wall_step_s * 1_000_000 + gap_us >= 0)


therapy_day = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(min_value=40 * 60, max_value=200 * 60)),
        st.tuples(st.just("request"), st.tuples(st.sampled_from(["4", "5", "8"]), outcomes)),
        st.tuples(st.just("request"), st.tuples(st.sampled_from(["4", "5", "8"]), outcomes)),
        st.tuples(st.just("wall"), st.sampled_from([-60, 60, 3600, 86400])),
        st.tuples(st.just("reboot"), st.sampled_from([0, 3600, 86400])),
        st.tuples(st.just("resolve"), st.just(Outcome.DELIVERED)),
    ),
    min_size=30,
    max_size=120,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(therapy_day)
def test_long_therapy_with_clock_faults_keeps_limits(steps: list[tuple[str, object]]) -> None:
    """SR-02, SR-03, SR-11: days of wake-ups with forward steps and reboots keep every limit."""
    run_and_check(steps)
