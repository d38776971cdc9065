"""The safety gate: may this pulse start now? A pure function of the request, history and clock.

The gate is independent of whatever woke the daemon up: it re-derives every limit from the
journaled history each time. It denies with every applicable reason and never shrinks or shifts a
pulse (SR-04). Pending (UNCERTAIN) pulses count as fully delivered (SR-09).

Intervals (SR-02, SR-11): within one boot they are measured on the elapsed clock, which never goes
backwards. Across a reboot the wall clock may be wrong, so the interval used is the smaller of the
wall-clock difference and a lower bound that needs no wall clock at all — time the old boot ran on
after the pulse, plus this boot's uptime. When in doubt, the gate waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from pumpctl.core.clock import Clock
from pumpctl.core.exposure import (
    DEFAULT_PK,
    Infusion,
    PkParameters,
    default_threshold,
    level_pg_per_ml,
    single_pulse_peak,
)
from pumpctl.core.model import DAY, Decision, GateState, Limits, PulseRecord, Reason, Slot

#: A wake-up may come a little early (timer resolution); earlier than this is a stale slot.
EARLY_TOLERANCE = timedelta(seconds=1)

#: Pulses older than this cannot affect any limit (24 h caps, exposure horizon).
HISTORY_HORIZON = timedelta(hours=26)


@dataclass(frozen=True)
class GateContext:
    """Everything the gate weighs besides the request and history."""

    limits: Limits
    state: GateState = field(default_factory=GateState)
    boot_last_elapsed_s: Mapping[str, float] | None = (
        None  # last journaled elapsed per earlier boot
    )
    pk: PkParameters = DEFAULT_PK


def minutes_since(record: PulseRecord, clock: Clock, ctx: GateContext) -> float:
    """Conservative (never over-estimated) minutes since ``record``'s pulse started."""
    if record.boot_id == clock.boot_id:
        return (clock.elapsed_s() - record.intent_elapsed_s) / 60.0
    wall_min = (clock.now() - record.intent_wall).total_seconds() / 60.0
    old_boot_tail_s = 0.0
    if ctx.boot_last_elapsed_s is not None and record.boot_id in ctx.boot_last_elapsed_s:
        old_boot_tail_s = max(
            0.0, ctx.boot_last_elapsed_s[record.boot_id] - record.intent_elapsed_s
        )
    lower_bound_min = (old_boot_tail_s + clock.elapsed_s()) / 60.0
    return min(wall_min, lower_bound_min)


def resolve_threshold(limits: Limits) -> float:
    """The configured exposure threshold, or the default derived from the minimum interval.

    Every prescribed interval is at least the minimum interval, so the prescription's own
    cadence passes the default with its margin, whatever its time-of-day profile.
    """
    if limits.exposure_threshold is not None:
        return limits.exposure_threshold
    return default_threshold(limits.min_interval_min)


def exposure_fractions(
    slot: Slot, history: Sequence[tuple[float, PulseRecord]], pk: PkParameters
) -> tuple[float, float]:
    """(level now, level when the next slot is due with this pulse given) over the reference peak.

    The reference peak is one pulse of the largest dose involved at the slot's own duration, so a
    lower new dose does not make a recent larger pulse look like continuous exposure.
    """
    infusions = [
        Infusion(-since_min, float(rec.counted_dose_ug), float(rec.duration_s) / 60.0)
        for since_min, rec in history
    ]
    duration_min = float(slot.duration_s) / 60.0
    ref_dose = max([float(slot.dose_ug), *(i.dose_ug for i in infusions)])
    peak = single_pulse_peak(ref_dose, duration_min, pk)
    now_level = level_pg_per_ml(infusions, 0.0, pk) / peak
    with_pulse = [*infusions, Infusion(0.0, float(slot.dose_ug), duration_min)]
    next_level = level_pg_per_ml(with_pulse, float(slot.interval_min), pk) / peak
    return now_level, next_level


Finding = tuple[Reason, str]


def _window_findings(slot: Slot, clock: Clock, ctx: GateContext) -> list[Finding]:
    """SR-10: a pulse starts only inside its own window; a missed slot is never delivered late."""
    now = clock.now()
    window_end = slot.scheduled + timedelta(minutes=ctx.limits.grace_min)
    if now < slot.scheduled - EARLY_TOLERANCE:
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
    slot: Slot, moved: Sequence[tuple[float, PulseRecord]], limits: Limits
) -> list[Finding]:
    """SR-02, SR-03: minimum interval and rolling 24 h caps, pending pulses counted in full."""
    found: list[Finding] = []
    closest = min((m for m, _ in moved), default=None)
    if closest is not None and closest < limits.min_interval_min:
        found.append(
            (
                Reason.MIN_INTERVAL,
                f"{closest:.1f} min since the last pulse < {limits.min_interval_min} min",
            )
        )
    recent = [rec for m, rec in moved if m < DAY.total_seconds() / 60.0]
    if len(recent) + 1 > limits.max_pulses_24h:
        found.append(
            (Reason.MAX_PULSES_24H, f"{len(recent) + 1} pulses in 24 h > {limits.max_pulses_24h}")
        )
    dose_24h = sum((rec.counted_dose_ug for rec in recent), Decimal(0)) + slot.dose_ug
    if dose_24h > limits.max_dose_24h_ug:
        found.append((Reason.MAX_DOSE_24H, f"{dose_24h} ug in 24 h > {limits.max_dose_24h_ug} ug"))
    return found


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
    # Invariant (SR-09): pending pulses count as fully delivered; NOT_DELIVERED ones do not count.
    moved = [(minutes_since(rec, clock, ctx), rec) for rec in history if rec.moved_fluid]
    findings.extend(_history_findings(slot, moved, ctx.limits))

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
    closest = min((m for m, _ in moved), default=None)
    clears_in_s = None
    if Reason.MIN_INTERVAL in reasons and closest is not None:
        clears_in_s = (ctx.limits.min_interval_min - closest) * 60.0
    return Decision(
        reasons=reasons,
        details=details,
        predicted_level_fraction=level_now,
        interval_clears_in_s=clears_in_s,
    )


def history_since(now: datetime) -> datetime:
    """The oldest wall time whose pulses can still affect a decision at ``now``."""
    return now - HISTORY_HORIZON
