"""The report's optional section: predicted pituitary response to the journaled deliveries.

``pumpctl report --pituitary`` calls :func:`pituitary_response` with the report it built; the
result is plain numbers (:class:`~pumpctl.report.model.PituitaryResponse`), so the report's
writers draw and tabulate it without numpy. Only this module needs the ``[model]`` extra.

What goes in: every pulse that moved fluid (delivered, partial, over-delivered), at the dose the
pump measured, from its recorded start to its recorded end (a pulse without a recorded end is
taken as the reference 1-min bolus), and unexplained flow of known volume (SR-26: the subject
received it) as a 1-min bolus of its dose at the time it was found, where the gate counts it.
Uncertain pulses and unexplained flow of unknown volume are left out, and the section says how
many: the report never claims a dose the pump did not confirm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from pumpctl.core.exposure import Infusion
from pumpctl.physiology.plasma import FloatArray
from pumpctl.physiology.predict import DEFAULT_SETTINGS, ModelSettings, predict
from pumpctl.physiology.summary import BLUNTED_BELOW, between, run_line
from pumpctl.report import stats
from pumpctl.report.model import ModelPeriod, PituitaryResponse, Report
from pumpctl.report.outcomes import SlotOutcome
from pumpctl.report.words import count_words

TITLE = "Predicted pituitary response (model, not a measurement)"
CAVEAT = (
    "Predicted by a published in-vitro model of the gonadotroph (Heinze, Keener & Midgley 1998, "
    "ovine pituitary cells) driven by the exposure model's plasma level of what the journal "
    "records as delivered. It is not a measurement of this patient and must not guide dosing. "
    "LH pulses are relative to the standard regimen (the same dose as a 1-min bolus every "
    "90 min); the model cannot show the fall of mean LH over days seen in vivo, only the loss "
    "of LH pulses. The pituitary is taken to be at rest when the period starts (the model "
    "settles within about a day). See docs/pituitary.md."
)
#: Periods up to this many days get the LH release curve and a bar per pulse.
CURVE_UP_TO_DAYS = 3
#: The curve is drawn from the minimum and maximum of this many bins (peaks are never lost).
CURVE_BINS = 720
#: Outcomes whose pulse moved fluid at a dose the pump measured.
MOVED = (SlotOutcome.DELIVERED, SlotOutcome.PARTIAL, SlotOutcome.OVER_DELIVERED)


@dataclass(frozen=True)
class DeliveredPulse:
    """One delivered pulse as the journal knows it."""

    started: datetime
    ended: datetime | None
    dose_ug: float
    slot_id: str = ""


def _infusion(p: DeliveredPulse, origin: datetime) -> Infusion:
    minutes = 1.0 if p.ended is None else (p.ended - p.started).total_seconds() / 60.0
    return Infusion((p.started - origin).total_seconds() / 60.0, p.dose_ug, max(minutes, 0.0))


def _cuts(first: date, last: date, grain: stats.Grain, zone: ZoneInfo) -> list[datetime]:
    """Local midnights opening each bucket from ``first``'s bucket to the one after ``last``."""
    out = []
    day = stats.bucket_start(first, grain)
    while day <= last:
        out.append(datetime(day.year, day.month, day.day, tzinfo=zone))
        day = stats.next_bucket(day, grain)
    out.append(datetime(day.year, day.month, day.day, tzinfo=zone))
    return out


def pituitary_response(
    pulses: Sequence[DeliveredPulse],
    start: datetime,
    end: datetime,
    timezone: str,
    reference_dose_ug: float,
    *,
    grain: stats.Grain = "day",
    left_out: Sequence[str] = (),
    settings: ModelSettings = DEFAULT_SETTINGS,
) -> PituitaryResponse:
    """Predict from ``start`` to ``end`` (aware datetimes); summarise per local ``grain``."""
    zone = ZoneInfo(timezone)
    pulses = sorted((p for p in pulses if p.dose_ug > 0), key=lambda p: p.started)
    infusions = [_infusion(p, start) for p in pulses]
    end_min = (end - start).total_seconds() / 60.0
    pred = predict(
        infusions,
        0.0,
        end_min,
        label="delivered pulses (from the journal)",
        reference_dose_ug=reference_dose_ug,
        settings=settings,
    )
    cuts = _cuts(start.astimezone(zone).date(), end.astimezone(zone).date(), grain, zone)
    inner = [start, *(c for c in cuts if start < c < end), end]
    spans = between(pred, start, inner, zone)
    periods = tuple(
        ModelPeriod(
            start=stats.bucket_start(s.day, grain),
            days=(cut_after.astimezone(zone).date() - s.day).days or 1,
            pulses=s.pulses,
            median_relative=s.median_relative,
            lowest_relative=s.lowest_relative,
            blunted=s.blunted,
            mean_bound=s.mean_bound,
            mean_release_relative=s.mean_release_relative,
        )
        for s, cut_after in zip(spans, inner[1:], strict=True)
    )
    # pulse_responses keeps the pulses inside the trace, in start order, as ``pulses`` is.
    by_start = {
        (i.start_min, i.dose_ug, i.duration_min): p.slot_id
        for i, p in zip(infusions, pulses, strict=True)
    }
    by_slot = {
        by_start[(r.start_min, r.dose_ug, r.duration_min)]: r.relative
        for r in pred.pulses
        if r.relative is not None and by_start.get((r.start_min, r.dose_ug, r.duration_min))
    }
    times: tuple[datetime, ...] = ()
    release: tuple[float, ...] = ()
    if end - start <= timedelta(days=CURVE_UP_TO_DAYS):
        times, release = _envelope(pred.trace.times_min, pred.relative_release, start)
    return PituitaryResponse(
        title=TITLE,
        caveat=CAVEAT,
        model=(
            "Heinze, Keener & Midgley 1998 gonadotroph model, "
            f"{settings.bridge.name} bridge, {settings.step_min:g}-min grid"
        ),
        summary=run_line(pred),
        reference_dose_ug=reference_dose_ug,
        blunted_below=BLUNTED_BELOW,
        grain=grain,
        periods=periods,
        by_slot=by_slot,
        curve_times=times,
        curve_release=release,
        left_out=tuple(left_out),
    )


def _envelope(
    times_min: FloatArray, values: FloatArray, origin: datetime
) -> tuple[tuple[datetime, ...], tuple[float, ...]]:
    """Minimum and maximum of each of :data:`CURVE_BINS` bins, in the order they occur."""
    n = len(values)
    size = max(1, -(-n // CURVE_BINS))
    times: list[datetime] = []
    out: list[float] = []
    for lo in range(0, n, size):
        chunk = values[lo : lo + size]
        for k in sorted({int(np.argmin(chunk)), int(np.argmax(chunk))}):
            times.append(origin + timedelta(minutes=float(times_min[lo + k])))
            out.append(float(chunk[k]))
    return tuple(times), tuple(out)


def report_pituitary(report: Report, *, settings: ModelSettings = DEFAULT_SETTINGS) -> Report:
    """``report`` with its predicted pituitary response (None when no pulse moved fluid)."""
    import dataclasses  # noqa: PLC0415

    pulses = []
    for r in report.slots:
        started = r.started or r.scheduled
        if r.outcome in MOVED and r.delivered_dose_ug is not None and started is not None:
            pulses.append(DeliveredPulse(started, r.ended, float(r.delivered_dose_ug), r.slot_id))
    flows = report.safety.unexplained_flow
    for f in flows:
        if f.volume_ul is not None and f.dose_ug is not None and f.dose_ug > 0:
            pulses.append(DeliveredPulse(f.when, None, float(f.dose_ug), f.row_id))
    if not pulses:
        return report
    zone = report.zone
    first = min(p.started for p in pulses)
    start = datetime.combine(first.astimezone(zone).date(), datetime.min.time(), zone)
    if report.period_from is not None:
        start = max(start, report.period_from)
    last = max(p.ended or p.started + timedelta(minutes=1) for p in pulses)
    end = max(last, report.last_record or last)
    if report.period_to is not None:
        end = min(end, report.period_to)
    end = max(end, last)
    uncertain = report.total.counts[SlotOutcome.UNCERTAIN]
    unknown = sum(1 for f in flows if f.volume_ul is None)
    no_dose = sum(1 for f in flows if f.volume_ul is not None and f.dose_ug is None)
    left_out = []
    if uncertain:
        left_out.append(f"{count_words(uncertain, 'uncertain pulse')} (unknown if fluid moved)")
    if unknown:
        left_out.append(
            f"{count_words(unknown, 'unexplained flow')} of unknown volume (no pulse commanded)"
        )
    if no_dose:
        left_out.append(f"{count_words(no_dose, 'unexplained flow')} with no dose recorded")
    response = pituitary_response(
        pulses,
        start,
        end,
        report.timezone,
        _reference_dose(report, pulses),
        grain=stats.grain_for(report.span_days),
        left_out=left_out,
        settings=settings,
    )
    return dataclasses.replace(report, pituitary=response)


def _reference_dose(report: Report, pulses: Sequence[DeliveredPulse]) -> float:
    """The prescription's dose; the median delivered dose when none is recorded."""
    prescribed = (report.prescription_in_force or {}).get("dose_ug")
    try:
        dose = float(prescribed)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        dose = 0.0
    if dose > 0:
        return dose
    doses = sorted(p.dose_ug for p in pulses)
    return doses[len(doses) // 2]
