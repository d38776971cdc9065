"""The report's four figures as inline SVG, readable from one day to years.

Up to a month every local day is its own row or bar; beyond, weeks (months beyond about a year),
so a year is 52 bars, not a solid block. Legends sit above the plotting area, never on the data;
limits (threshold, minimum interval, prescribed dose) are drawn last, on top of the data. Every
time axis is in the prescription's time zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pumpctl.core.alarm_kinds import Priority
from pumpctl.report import stats
from pumpctl.report.model import Report, Tally
from pumpctl.report.outcomes import TERMS, SlotOutcome
from pumpctl.report.svg import WIDTH, Box, Canvas, nice_ticks, x_labels, y_axis
from pumpctl.report.words import utc_offset

LIMIT = "#b2182b"  # limits and anything beyond them
PRESCRIBED = "#000000"
DELIVERED = TERMS[SlotOutcome.DELIVERED].colour
OVER = TERMS[SlotOutcome.OVER_DELIVERED].colour
FLOW = "#e66101"  # unexplained flow (SR-26): received, but no pulse commanded it
NIGHT = "#eef1f6"
LEFT, RIGHT, LEGEND = 64.0, 12.0, 14.0
TOP = LEGEND + 24  # the plotting area starts below the legend and the axis title
#: Periods up to this many local days get the exposure curve itself; longer ones a daily maximum.
CURVE_UP_TO_DAYS = 3


def _local_days(report: Report) -> list[date]:
    dated = [d.start for d in report.days if d.start is not None]
    if not dated:
        return []
    first, last = min(dated), max(dated)
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _minute_of_day(when: datetime, zone: ZoneInfo) -> float:
    local = when.astimezone(zone)
    return local.hour * 60 + local.minute + local.second / 60


def bucket_labels(starts: Sequence[date | None], grain: stats.Grain) -> list[tuple[float, str]]:
    """At most about 14 labels under bucket centres (``starts``: each bucket's first day)."""
    step = max(1, math.ceil(len(starts) / 14))
    labels = []
    for i, day in enumerate(starts):
        if i % step or day is None:
            continue
        if grain == "month":
            text = f"{day:%b %y}"
        elif grain == "day" and len(starts) <= 7:
            text = f"{day:%a %d %b}"
        else:
            text = f"{day:%d %b}"
        labels.append((i + 0.5, text))
    return labels


def _night_windows(report: Report) -> list[tuple[float, float, int]]:
    """(from, to, interval) in minutes of the local day for each profile window (split at 24:00)."""
    out: list[tuple[float, float, int]] = []
    profile = (report.prescription_in_force or {}).get("profile") or []
    for w in profile:
        try:
            start, end = time.fromisoformat(str(w["start"])), time.fromisoformat(str(w["end"]))
            interval = int(w["interval_min"])
        except (KeyError, TypeError, ValueError):
            continue
        a, b = start.hour * 60 + start.minute, end.hour * 60 + end.minute
        out += [(a, 1440, interval), (0, b, interval)] if a > b else [(a, b, interval)]
    return out


def _offsets_text(report: Report) -> str:
    """``Europe/Berlin, UTC+01:00`` (both offsets when the period crosses a DST change)."""
    zone = report.zone
    offsets = sorted(
        {utc_offset(r.scheduled.astimezone(zone)) for r in report.slots if r.scheduled}
    )
    return f"{report.timezone}, UTC{' / '.join(offsets) or '+00:00'}"


def pulse_map(report: Report) -> str:
    """Each slot at its local time of day, one row per local day, coloured by outcome."""
    days = _local_days(report)
    zone = report.zone
    row_h = max(10.0, min(26.0, 240.0 / max(len(days), 1)))
    top = LEGEND + 10
    left = 78.0
    box = Box(left, top, WIDTH - left - RIGHT, row_h * len(days), 0, 1440, 0, len(days))
    canvas = Canvas(box.bottom + 22, "slots by local time of day, one row per day")
    for a, b, _ in _night_windows(report):
        canvas.rect(box.x(a), box.top, box.x(b) - box.x(a), box.height, NIGHT)
    index = {day: i for i, day in enumerate(days)}
    for i, day in enumerate(days):
        y = box.top + i * row_h
        canvas.text(
            left - 4, y + row_h / 2 + 3, f"{day:%a %d %b}", anchor="end", size=min(9.0, row_h - 1)
        )
        canvas.line(box.left, y + row_h, box.right, y + row_h, "#e6e6e6", width=0.5)
    mark = max(2.0, min(4.0, box.width / 1440 * 8))
    present: list[SlotOutcome] = []
    for row in report.slots:
        if row.scheduled is None:
            continue
        i = index[row.scheduled.astimezone(zone).date()]
        term = TERMS[row.outcome]
        if row.outcome not in present:
            present.append(row.outcome)
        x = box.x(_minute_of_day(row.scheduled, zone))
        alert = row.outcome is SlotOutcome.OVER_DELIVERED
        pad = 0.5 if alert else row_h * 0.15
        canvas.rect(
            x - mark / 2,
            box.top + i * row_h + pad,
            mark * (1.6 if alert else 1),
            row_h - 2 * pad,
            term.colour,
            stroke="#000000" if alert else None,
        )
    flows = [f for f in report.safety.unexplained_flow if f.when.astimezone(zone).date() in index]
    for f in flows:  # SR-26: flow no pulse commanded, at the time it was found, full row height
        i = index[f.when.astimezone(zone).date()]
        canvas.rect(
            box.x(_minute_of_day(f.when, zone)) - mark / 2, box.top + i * row_h + 0.5, mark * 1.6,
            row_h - 1, FLOW, stroke="#000000", title=f"unexplained flow: {f.volume_text}",
        )  # fmt: skip
    highs = [a for a in report.alarms if a.priority == Priority.HIGH]
    for alarm in highs:
        day = alarm.raised.astimezone(zone).date()
        if day in index:
            x, y = box.x(_minute_of_day(alarm.raised, zone)), box.top + index[day] * row_h
            canvas.polygon([(x - 3.5, y), (x + 3.5, y), (x, y + min(6.0, row_h * 0.6))], LIMIT)
    x_labels(canvas, box, [(h * 60, f"{h:02d}:00") for h in range(0, 25, 3)], grid=True)
    canvas.line(box.left, box.top, box.left, box.bottom)
    canvas.line(box.left, box.bottom, box.right, box.bottom)
    items = [("box", TERMS[o].colour, TERMS[o].label) for o in SlotOutcome if o in present]
    if flows:
        items.append(("box", FLOW, "unexplained flow"))
    if _night_windows(report):
        items.append(("box", "#c9d2e3", "longer night interval"))
    if highs:
        items.append(("mark", LIMIT, "high-priority alarm"))
    canvas.legend(left, LEGEND, items)
    return canvas.render()


def outcome_bars(report: Report, buckets: Sequence[Tally], grain: stats.Grain) -> str:
    """Per week or month: the slots not given in full, stacked by outcome."""
    shown = [o for o in SlotOutcome if o not in (SlotOutcome.DELIVERED, SlotOutcome.SCHEDULED)]
    heights = [sum(b.counts[o] for o in shown) for b in buckets]
    ticks = nice_ticks(0, max(max(heights, default=0), 1), 4, whole=True)
    box = Box(LEFT, TOP, WIDTH - LEFT - RIGHT, 130, 0, len(buckets), 0, ticks[-1])
    canvas = Canvas(box.bottom + 22, f"slots not given in full, per {grain}")
    y_axis(canvas, box, ticks, f"slots per {grain}")
    present: set[SlotOutcome] = set()
    for i, bucket in enumerate(buckets):
        base = 0
        for outcome in shown:
            n = bucket.counts[outcome]
            if not n:
                continue
            present.add(outcome)
            canvas.rect(
                box.x(i + 0.1),
                box.y(base + n),
                box.x(i + 0.9) - box.x(i + 0.1),
                box.y(base) - box.y(base + n),
                TERMS[outcome].colour,
                title=f"{n} {TERMS[outcome].label}",
            )
            base += n
    x_labels(canvas, box, bucket_labels([b.start for b in buckets], grain), grid=False)
    items = [("box", TERMS[o].colour, TERMS[o].label) for o in shown if o in present]
    if not items:
        canvas.text(box.left + 8, box.top + 16, "every due slot was given in full", size=10)
    canvas.legend(LEFT, LEGEND, items)
    return canvas.render()


def daily_dose(report: Report, buckets: Sequence[Tally], grain: stats.Grain) -> str:
    """Delivered µg per day as bars on a day axis, the prescribed dose as a step over each bar;
    unexplained flow of known volume (SR-26) stacked on top in its own colour."""
    per_day = grain != "day"
    delivered = [float(b.delivered_dose_ug) / max(b.days, 1) for b in buckets]
    flowed = [float(b.unexplained_flow_dose_ug) / max(b.days, 1) for b in buckets]
    prescribed = [float(b.prescribed_dose_ug) / max(b.days, 1) for b in buckets]
    received = [a + b for a, b in zip(delivered, flowed, strict=True)]
    ticks = nice_ticks(0, max([*received, *prescribed, 1.0]) * 1.05, 4)
    box = Box(LEFT, TOP, WIDTH - LEFT - RIGHT, 130, 0, len(buckets), 0, ticks[-1])
    canvas = Canvas(box.bottom + 22, "dose per day, delivered and prescribed")
    y_axis(canvas, box, ticks, "µg per day" + (f" (mean of the {grain})" if per_day else ""))
    over = False
    for i, (got, want) in enumerate(zip(delivered, prescribed, strict=True)):
        x, w = box.x(i + 0.12), box.x(i + 0.88) - box.x(i + 0.12)
        inside = min(got, want) if want else got
        canvas.rect(x, box.y(inside), w, box.bottom - box.y(inside), DELIVERED)
        if want and got > want:
            over = True
            canvas.rect(x, box.y(got), w, box.y(want) - box.y(got), OVER, stroke="#000000")
        if flowed[i]:
            top = got + flowed[i]
            canvas.rect(
                x, box.y(top), w, box.y(got) - box.y(top), FLOW, stroke="#000000",
                title=f"{flowed[i]:g} µg unexplained flow",
            )  # fmt: skip
    steps: list[tuple[float, float]] = []
    for i, want in enumerate(prescribed):  # drawn after the bars: on top of them
        steps += [(box.x(i), box.y(want)), (box.x(i + 1), box.y(want))]
    canvas.path(steps, PRESCRIBED, width=1.6)
    x_labels(canvas, box, bucket_labels([b.start for b in buckets], grain), grid=False)
    items = [("box", DELIVERED, "delivered"), ("line", PRESCRIBED, "prescribed (slots due)")]
    if over:
        items.append(("box", OVER, "above the prescribed dose"))
    if any(flowed):
        items.append(("box", FLOW, "unexplained flow (no pulse commanded)"))
    canvas.legend(LEFT, LEGEND, items)
    return canvas.render()


def hour_ticks(report: Report, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    zone = report.zone
    hours = (end - start).total_seconds() / 3600
    step = 3 if hours <= 30 else 6 if hours <= 80 else 12
    local = start.astimezone(zone)
    day = local.date()
    ticks: list[tuple[datetime, str]] = []
    while True:
        for h in range(0, 24, step):
            when = datetime.combine(day, time(h), zone)
            if when > end:
                return ticks
            if when >= start:
                text = f"{day:%a %d}" if h == 0 else f"{h:02d}:00"
                ticks.append((when, text))
        day += timedelta(days=1)


def exposure(report: Report, buckets: Sequence[Tally], grain: stats.Grain) -> str:
    """Short periods: the predicted level and the gate's threshold (pg/mL). Longer ones: the
    highest level predicted just before a pulse, per day or week, against the threshold."""
    ex = report.exposure
    if report.span_days <= CURVE_UP_TO_DAYS and ex.times and ex.threshold_pg_per_ml is not None:
        return _exposure_curve(report)
    return _pre_pulse_bars(report, buckets, grain)


def _exposure_curve(report: Report) -> str:
    ex = report.exposure
    threshold = ex.threshold_pg_per_ml or 0.0
    start, end = ex.times[0], ex.times[-1]
    span = (end - start).total_seconds() / 60 or 1.0
    ticks = nice_ticks(0, max(max(ex.levels_pg_per_ml, default=0.0), threshold) * 1.08, 4)
    box = Box(LEFT, TOP, WIDTH - LEFT - RIGHT, 130, 0, span, 0, ticks[-1])
    canvas = Canvas(box.bottom + 22, "predicted plasma level and the gate's threshold")
    y_axis(canvas, box, ticks, "pg/mL")
    points = [
        (box.x((t - start).total_seconds() / 60), box.y(v))
        for t, v in zip(ex.times, ex.levels_pg_per_ml, strict=True)
    ]
    canvas.path(points, "#333333", width=1.0)
    y = box.y(threshold)  # drawn last: on top of the curve
    canvas.line(box.left, y, box.right, y, LIMIT, width=1.4, dash="6 3")
    ticks_x = [
        ((when - start).total_seconds() / 60, text) for when, text in hour_ticks(report, start, end)
    ]
    x_labels(canvas, box, ticks_x, grid=True)
    canvas.legend(
        LEFT,
        LEGEND,
        [
            ("line", "#333333", "predicted level (model, not a measurement)"),
            ("dash", LIMIT, f"gate threshold {threshold:.1f} pg/mL (level before a pulse)"),
        ],
    )
    return canvas.render()


def _pre_pulse_bars(report: Report, buckets: Sequence[Tally], grain: stats.Grain) -> str:
    zone = report.zone
    index = {b.start: i for i, b in enumerate(buckets)}
    highest = [0.0] * len(buckets)
    for row in report.slots:
        fraction = report.pre_pulse_fractions.get(row.slot_id)
        if fraction is None or row.scheduled is None:
            continue
        key = stats.bucket_start(row.scheduled.astimezone(zone).date(), grain)
        i = index.get(key)
        if i is not None:
            highest[i] = max(highest[i], fraction)
    threshold = report.exposure.threshold_fraction
    ticks = nice_ticks(0, max([*highest, threshold]) * 1.15, 4)
    box = Box(LEFT, TOP, WIDTH - LEFT - RIGHT, 120, 0, len(buckets), 0, ticks[-1])
    canvas = Canvas(box.bottom + 22, "highest predicted level before a pulse")
    y_axis(canvas, box, ticks, "× one pulse's peak", fmt=".2f")
    for i, value in enumerate(highest):
        colour = LIMIT if value > threshold else "#4d4d4d"
        canvas.rect(box.x(i + 0.15), box.y(value), box.x(i + 0.85) - box.x(i + 0.15),
                    box.bottom - box.y(value), colour)  # fmt: skip
    y = box.y(threshold)
    canvas.line(box.left, y, box.right, y, LIMIT, width=1.4, dash="6 3")
    x_labels(canvas, box, bucket_labels([b.start for b in buckets], grain), grid=False)
    canvas.legend(
        LEFT,
        LEGEND,
        [
            ("box", "#4d4d4d", f"highest level before a pulse, per {grain}"),
            ("dash", LIMIT, f"gate threshold {threshold:.2f}"),
        ],
    )
    return canvas.render()


#: Histogram range: intervals longer than this are one bar (gaps: missed or denied pulses).
HIST_MAX_MIN = 240
HIST_BIN_MIN = 5


def interval_histogram(report: Report) -> str:
    """Minutes between pulse starts in 5-min bins, the minimum interval drawn on top."""
    iv = report.intervals
    limit = iv.min_interval_limit_min
    low = min(limit - 30, math.floor(min(iv.values_min, default=limit) / HIST_BIN_MIN) * 5)
    low = max(0, low - low % HIST_BIN_MIN)
    bins = (HIST_MAX_MIN - low) // HIST_BIN_MIN
    counts = [0] * (bins + 1)  # the last one: longer than HIST_MAX_MIN
    for value in iv.values_min:
        k = bins if value >= HIST_MAX_MIN else int((value - low) // HIST_BIN_MIN)
        counts[max(k, 0)] += 1
    ticks = nice_ticks(0, max(*counts, 1), 4, whole=True)
    x_max = HIST_MAX_MIN + 3 * HIST_BIN_MIN
    box = Box(LEFT, TOP, WIDTH - LEFT - RIGHT, 110, low, x_max, 0, ticks[-1])
    canvas = Canvas(box.bottom + 22, "intervals between pulse starts")
    y_axis(canvas, box, ticks, "intervals")
    for k, n in enumerate(counts):
        if not n:
            continue
        a = low + k * HIST_BIN_MIN if k < bins else HIST_MAX_MIN + HIST_BIN_MIN
        colour = LIMIT if a + HIST_BIN_MIN <= limit else "#4d4d4d"
        canvas.rect(box.x(a) + 0.5, box.y(n), box.x(a + HIST_BIN_MIN) - box.x(a) - 1,
                    box.bottom - box.y(n), colour, title=f"{n}")  # fmt: skip
    x = box.x(limit)  # drawn last: on top of the bars
    canvas.line(x, box.top, x, box.bottom, LIMIT, width=1.4, dash="6 3")
    labels = [(float(m), str(m)) for m in range(low + (-low) % 30, HIST_MAX_MIN + 1, 30)]
    labels.append((HIST_MAX_MIN + 1.5 * HIST_BIN_MIN, "longer"))
    x_labels(canvas, box, labels, grid=False)
    canvas.legend(
        LEFT,
        LEGEND,
        [
            ("box", "#4d4d4d", "intervals (min, 5-min bins)"),
            ("dash", LIMIT, f"minimum interval {limit} min"),
        ],
    )
    return canvas.render()


def figures(report: Report) -> list[tuple[str, str, str]]:
    """(id, caption, svg) of each figure for this period."""
    if not report.slots:
        return []
    grain = stats.grain_for(report.span_days)
    buckets = tuple(stats.rollup(report.days, grain))  # every bucket, empty ones included
    zone = _offsets_text(report)
    flowed = bool(report.safety.unexplained_flow)
    mapped = "; unexplained flow in orange where it was found" if flowed else ""
    stacked = ", unexplained flow of known volume on top (orange)" if flowed else ""
    first = (
        (
            "pulse-map",
            f"Every slot at its local time ({zone}), one row per day{mapped}.",
            pulse_map(report),
        )
        if grain == "day"
        else (
            "outcomes",
            f"Slots not given in full, per {grain} ({zone} days).",
            outcome_bars(report, buckets, grain),
        )
    )
    return [
        first,
        (
            "daily-dose",
            f"Dose per day: delivered (bars){stacked} and prescribed for the slots due (line); "
            f"{zone} days.",
            daily_dose(report, buckets, grain),
        ),
        (
            "exposure",
            "Predicted plasma gonadorelin (one-compartment model, see docs/clinical-parameters.md)"
            f" against the safety gate's threshold; {zone}.",
            exposure(report, buckets, grain),
        ),
        (
            "interval-histogram",
            "Minutes between the starts of pulses that moved fluid.",
            interval_histogram(report),
        ),
    ]
