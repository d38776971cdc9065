"""The safety gate: may this pulse start now? A pure function of the request, history and clock.

The gate is independent of whatever woke the daemon up: it re-derives every limit from the
journaled history each time. It denies with every applicable reason and never shrinks or shifts a
pulse (SR-04). Pending (UNCERTAIN) pulses count as fully delivered (SR-09). A pulse whose RUN was
sent counts as a start for the minimum interval and the 24 h count even when NOT_DELIVERED: the
pump may have started and stalled at once (SR-02).

Time is exact (SR-32): every interval is a ``timedelta`` of whole microseconds, compared with its
limit as such, so an interval equal to its limit is allowed every time.

Intervals (SR-02, SR-11) run from the latest moment a previous pulse can have started (the
pump's confirmation of its RUN) to now. Within one boot they are measured on the elapsed clock,
which never goes backwards. Across a reboot the wall clock may be wrong, so the interval used is
the smaller of the wall-clock difference and a lower bound that needs no wall clock at all — time
the old boot ran on after the pulse, plus this boot's uptime. When in doubt, the gate waits.

The minimum interval and the 24 h windows are shortened by the start-latency bound
(:data:`~pumpctl.core.model.START_LATENCY_BOUND`, times the clock's scale): the previous pulse
may have started up to that much after its own slot, and holding that against the next slot would
make every start inherit the lateness of the one before it. No pulse starts before its slot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from pumpctl.core.clock import Clock, seconds_to_us
from pumpctl.core.exposure import (
    DEFAULT_PK,
    Infusion,
    PkParameters,
    default_threshold,
    level_pg_per_ml,
    single_pulse_peak,
    within_horizon,
)
from pumpctl.core.model import (
    DAY,
    START_LATENCY_BOUND,
    Decision,
    GateState,
    Limits,
    Moment,
    PulseRecord,
    Reason,
    Slot,
)

#: Pulses older than this cannot affect any limit (24 h caps, exposure horizon).
HISTORY_HORIZON = timedelta(hours=26)

_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class GateContext:
    """Everything the gate weighs besides the request and history."""

    limits: Limits
    state: GateState = field(default_factory=GateState)
    boot_last_elapsed_s: Mapping[str, float] | None = (
        None  # last journaled elapsed per earlier boot
    )
    pk: PkParameters = DEFAULT_PK


def latency_allowance(clock: Clock) -> timedelta:
    """The start-latency bound on this clock: N x longer on a clock N x faster than real time."""
    return START_LATENCY_BOUND * clock.scale


def time_since(moment: Moment, clock: Clock, ctx: GateContext) -> timedelta:
    """Conservative (never over-estimated) time since ``moment``, to the microsecond."""
    if moment.boot_id == clock.boot_id:
        return timedelta(microseconds=clock.elapsed_us() - moment.elapsed_us)
    wall = clock.now() - moment.wall
    old_boot_tail_us = 0
    if ctx.boot_last_elapsed_s is not None and moment.boot_id in ctx.boot_last_elapsed_s:
        last_us = seconds_to_us(ctx.boot_last_elapsed_s[moment.boot_id])
        old_boot_tail_us = max(0, last_us - moment.elapsed_us)
    lower_bound = timedelta(microseconds=old_boot_tail_us + clock.elapsed_us())
    return min(wall, lower_bound)


def since_start(record: PulseRecord, clock: Clock, ctx: GateContext) -> timedelta:
    """The least time that can have passed since ``record``'s pulse started moving."""
    return time_since(record.start_bound, clock, ctx)


def describe(span: timedelta) -> str:
    """A duration as people read it, exact: ``89 min 59.5 s``, ``-3 s``, ``90 min``."""
    sign = "-" if span < timedelta(0) else ""
    total_us = abs(span) // timedelta(microseconds=1)
    minutes, rest_us = divmod(total_us, 60_000_000)
    seconds = f"{Decimal(rest_us) / 1_000_000:f}".rstrip("0").rstrip(".") if rest_us else ""
    parts = [f"{minutes} min" if minutes else "", f"{seconds} s" if seconds else ""]
    return sign + (" ".join(p for p in parts if p) or "0 s")


def resolve_threshold(limits: Limits) -> float:
    """The configured exposure threshold, or the default derived from the minimum interval.

    Every prescribed interval is at least the minimum interval, so the prescription's own
    cadence passes the default with its margin, whatever its time-of-day profile.
    """
    if limits.exposure_threshold is not None:
        return limits.exposure_threshold
    return default_threshold(limits.min_interval_min)


def exposure_fractions(
    slot: Slot, history: Sequence[tuple[timedelta, PulseRecord]], pk: PkParameters
) -> tuple[float, float]:
    """(level now, level when the next slot is due with this pulse given) over the reference peak.

    The reference peak is one pulse of the largest dose involved at the slot's own duration, so a
    lower new dose does not make a recent larger pulse look like continuous exposure. Which
    pulses still count at each instant is decided here, exactly (the model's horizon); the model
    itself works in float minutes.
    """
    ahead = timedelta(minutes=slot.interval_min)
    duration = timedelta(seconds=float(slot.duration_s))

    def infusions(at: timedelta) -> list[Infusion]:
        return [
            Infusion(-(since / _MINUTE), float(rec.counted_dose_ug), float(rec.duration_s) / 60.0)
            for since, rec in history
            if within_horizon(since + at, timedelta(seconds=float(rec.duration_s)))
        ]

    now = infusions(timedelta(0))
    later = infusions(ahead)
    if within_horizon(ahead, duration):
        later.append(Infusion(0.0, float(slot.dose_ug), duration / _MINUTE))
    ref_dose = max([float(slot.dose_ug), *(float(rec.counted_dose_ug) for _, rec in history)])
    peak = single_pulse_peak(ref_dose, duration / _MINUTE, pk)
    now_level = level_pg_per_ml(now, 0.0, pk, horizon=False) / peak
    next_level = level_pg_per_ml(later, ahead / _MINUTE, pk, horizon=False) / peak
    return now_level, next_level


Finding = tuple[Reason, str]


def _window_findings(slot: Slot, clock: Clock, ctx: GateContext) -> list[Finding]:
    """SR-10: a pulse starts only inside its own window, never before its slot and never late."""
    now = clock.now()
    window_end = slot.scheduled + timedelta(minutes=ctx.limits.grace_min)
    if now < slot.scheduled:
        return [
            (
                Reason.STALE_SLOT,
                f"slot {slot.slot_id} is not due until {slot.scheduled.isoformat()}",
            )
        ]
    if now > window_end:
        return [
            (Reason.STALE_SLOT, f"slot {slot.slot_id} grace window ended {window_end.isoformat()}")
        ]
    return []


def _state_findings(clock: Clock, state: GateState) -> list[Finding]:
    """SR-11, SR-12 and the health of the record and the pump."""
    now = clock.now()
    found: list[Finding] = []
    if state.last_journal_wall is not None and now < state.last_journal_wall:
        found.append(
            (
                Reason.CLOCK_SUSPECT,
                f"wall clock {now.isoformat()} is behind the last journaled event "
                f"{state.last_journal_wall.isoformat()}",
            )
        )
    if not state.journal_writable:
        found.append((Reason.JOURNAL_UNAVAILABLE, "the journal cannot be written"))
    if state.alarm_active:
        found.append((Reason.ALARM_ACTIVE, "a high-priority alarm is active"))
    if state.suspended:
        found.append((Reason.SUSPENDED, "delivery is suspended"))
    if not state.pump_ready:
        found.append((Reason.PUMP_NOT_READY, "the pump has not passed its self-test"))
    return found


def _pulse_findings(slot: Slot, limits: Limits) -> list[Finding]:
    """SR-01, SR-05 (duration), SR-17: the pulse itself is bounded and within per-pulse limits."""
    found: list[Finding] = []
    if slot.volume_ul <= 0:
        found.append((Reason.PULSE_VOLUME, f"volume {slot.volume_ul} uL is not a bounded pulse"))
    if slot.volume_ul > limits.max_pulse_volume_ul:
        found.append(
            (Reason.PULSE_VOLUME, f"volume {slot.volume_ul} uL > {limits.max_pulse_volume_ul} uL")
        )
    if slot.dose_ug > limits.max_dose_per_pulse_ug:
        found.append(
            (
                Reason.PULSE_VOLUME,
                f"dose {slot.dose_ug} ug > {limits.max_dose_per_pulse_ug} ug/pulse",
            )
        )
    if slot.duration_s > limits.max_pulse_duration_s:
        found.append(
            (
                Reason.PULSE_DURATION,
                f"duration {slot.duration_s} s > {limits.max_pulse_duration_s} s",
            )
        )
    return found


def _reservoir_findings(slot: Slot, state: GateState) -> list[Finding]:
    """SR-17: the recorded reservoir holds the whole pulse."""
    if state.reservoir_unknown:
        return [(Reason.RESERVOIR, "no reservoir fill recorded (pumpctl reservoir fill)")]
    if state.reservoir_ul is not None and state.reservoir_ul < slot.volume_ul:
        return [
            (Reason.RESERVOIR, f"reservoir {state.reservoir_ul} uL < pulse {slot.volume_ul} uL")
        ]
    return []


def _pending_findings(history: Sequence[PulseRecord]) -> list[Finding]:
    """SR-09: no pulse while an earlier one is UNCERTAIN."""
    pending = [rec for rec in history if rec.pending]
    if not pending:
        return []
    return [(Reason.UNCERTAIN_PENDING, f"pulse {pending[0].slot_id} is UNCERTAIN until reconciled")]


def standing_findings(
    slot: Slot, pending: Sequence[PulseRecord], clock: Clock, state: GateState
) -> list[Finding]:
    """What denies ``slot`` whenever it comes, whatever the pulse history: the clock, the
    journal, a latched alarm, a suspension, the pump, the reservoir, an uncertain pulse.

    Invariant: these are the very findings :func:`authorize` denies on (same functions), so
    ``pumpctl status`` cannot say "ready" while the gate would refuse for one of them.
    """
    return [
        *_state_findings(clock, state),
        *_reservoir_findings(slot, state),
        *_pending_findings(pending),
    ]


def _history_findings(
    slot: Slot, moved: Sequence[tuple[timedelta, PulseRecord]], limits: Limits, allowance: timedelta
) -> tuple[list[Finding], timedelta | None]:
    """SR-02, SR-03: minimum interval and rolling 24 h caps, pending pulses counted in full.

    Returns the findings and how long until every one of them has cleared by time passing
    (None without findings): the interval is met, enough old pulses left the 24 h window.
    """
    found: list[Finding] = []
    waits: list[timedelta] = []
    least = timedelta(minutes=limits.min_interval_min) - allowance
    closest = min((since for since, _ in moved), default=None)
    if closest is not None and closest < least:
        waits.append(least - closest)
        found.append(
            (
                Reason.MIN_INTERVAL,
                f"{describe(closest)} since the last pulse started < {limits.min_interval_min} min"
                f" (less the {describe(allowance)} start-latency allowance)",
            )
        )
    window = DAY - allowance
    # Oldest first: the order in which pulses leave the window.
    recent = sorted(
        ((since, rec) for since, rec in moved if since < window), key=lambda m: m[0], reverse=True
    )
    excess = len(recent) + 1 - limits.max_pulses_24h
    if excess > 0:
        waits.append(window - recent[excess - 1][0])
        found.append(
            (Reason.MAX_PULSES_24H, f"{len(recent) + 1} pulses in 24 h > {limits.max_pulses_24h}")
        )
    dose_24h = sum((rec.counted_dose_ug for _, rec in recent), Decimal(0)) + slot.dose_ug
    if dose_24h > limits.max_dose_24h_ug:
        left = dose_24h
        for since, rec in recent:
            left -= rec.counted_dose_ug
            if left <= limits.max_dose_24h_ug:
                waits.append(window - since)
                break
        found.append((Reason.MAX_DOSE_24H, f"{dose_24h} ug in 24 h > {limits.max_dose_24h_ug} ug"))
    clears_in = max(waits) if waits and len(waits) == len(found) else None
    return found, clears_in


def authorize(
    slot: Slot,
    history: Sequence[PulseRecord],
    clock: Clock,
    ctx: GateContext,
) -> Decision:
    """Allow ``slot`` to start now, or deny it with every applicable reason (SR-02…SR-12)."""
    findings = [
        *_window_findings(slot, clock, ctx),
        *_state_findings(clock, ctx.state),
        *_pulse_findings(slot, ctx.limits),
        *_reservoir_findings(slot, ctx.state),
        *_pending_findings(history),
    ]
    # Invariant (SR-09): pending pulses count as fully delivered. Invariant (SR-02): a pulse
    # whose RUN was sent counts as a start even when NOT_DELIVERED; one never sent does not.
    moved = [(since_start(rec, clock, ctx), rec) for rec in history if rec.counts_as_start]
    history_found, clears_in = _history_findings(slot, moved, ctx.limits, latency_allowance(clock))
    findings.extend(history_found)

    # Invariant (SR-05): no pulse while the predicted level is high, nor one that keeps it high.
    threshold = resolve_threshold(ctx.limits)
    level_now, level_next = exposure_fractions(slot, moved, ctx.pk)
    if level_now > threshold:
        findings.append(
            (Reason.EXPOSURE, f"level now {level_now:.2f} of peak > threshold {threshold:.2f}")
        )
    if level_next > threshold:
        findings.append(
            (
                Reason.EXPOSURE,
                f"level at the next slot {level_next:.2f} of peak > threshold {threshold:.2f}",
            )
        )

    reasons = tuple(dict.fromkeys(reason for reason, _ in findings))
    details = tuple(f"{reason.value}: {text}" for reason, text in findings)
    return Decision(
        reasons=reasons,
        details=details,
        predicted_level_fraction=level_now,
        interval_clears_in=clears_in,
    )


#: Findings that time alone clears: an interval that ends, old pulses that leave a 24 h window.
CLEARED_BY_WAITING = frozenset({Reason.MIN_INTERVAL, Reason.MAX_PULSES_24H, Reason.MAX_DOSE_24H})


def wait_in_window(
    slot: Slot, decision: Decision, now: datetime, limits: Limits
) -> timedelta | None:
    """How long until time alone clears every finding of ``decision``, when that is still inside
    ``slot``'s window; None when it is allowed, or when waiting cannot make it so in time.

    This happens when the previous pulse started later after its slot than the start-latency
    allowance (or off the cadence): its interval ends a moment after this slot's time. The daemon
    then waits that long quietly and asks the gate again, and ``plan`` shows the slot starting
    that much later: one rule for both, so the plan prints what the daemon will do.
    """
    wait = decision.interval_clears_in
    if decision.allowed or wait is None or not set(decision.reasons) <= CLEARED_BY_WAITING:
        return None
    if now + wait > slot.scheduled + timedelta(minutes=limits.grace_min):
        return None
    return wait


def history_since(now: datetime) -> datetime:
    """The oldest wall time whose pulses can still affect a decision at ``now``."""
    return now - HISTORY_HORIZON
