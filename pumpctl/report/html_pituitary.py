"""The optional "predicted pituitary response (model, not a measurement)" section of the HTML.

Drawn from the plain numbers of :class:`~pumpctl.report.model.PituitaryResponse` (no numpy
here): up to three days, the predicted LH release over local time and a bar per pulse; longer
periods, one bar per local day (weeks beyond a month, months beyond about a year) with its
lowest pulse marked, so a year is 52 bars, not a solid block. The blunted-pulse line and the
standard regimen's 100 % are drawn last, on top of the data. Every heading, legend and caption
says "model".
"""

from __future__ import annotations

from html import escape

from pumpctl.report import stats
from pumpctl.report.figures import LIMIT, bucket_labels, hour_ticks
from pumpctl.report.html_cells import table
from pumpctl.report.model import ModelPeriod, PituitaryResponse, Report
from pumpctl.report.svg import WIDTH, Box, Canvas, nice_ticks, x_labels, y_axis
from pumpctl.report.words import day_label

MODEL = "#1b7837"  # the model's colour: green, never an outcome colour
LEFT, RIGHT, LEGEND = 64.0, 12.0, 14.0
TOP = LEGEND + 24
SECTION_ID = "pituitary"
#: Inline, so a report without the section is byte for byte what it was before the section.
CAVEAT_STYLE = "border-left: 4px solid #1b7837; padding: .2em .6em; background: #eef6ee"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}"


def _limits(canvas: Canvas, box: Box, blunted_below: float) -> None:
    """The standard regimen's 100 % and the blunted line, on top of the bars."""
    y = box.y(100)
    canvas.line(box.left, y, box.right, y, "#000000", width=1.0)
    y = box.y(100 * blunted_below)
    canvas.line(box.left, y, box.right, y, LIMIT, width=1.4, dash="6 3")


def _legend_items(r: PituitaryResponse, bars: str) -> list[tuple[str, str, str]]:
    return [
        ("box", MODEL, bars),
        ("line", "#000000", "standard regimen = 100 %"),
        ("dash", LIMIT, f"blunted below {100 * r.blunted_below:.0f} %"),
    ]


def _curve(report: Report, r: PituitaryResponse) -> str:
    """Short periods: LH release over local time, then one bar per pulse at its time."""
    start, end = r.curve_times[0], r.curve_times[-1]
    span = (end - start).total_seconds() / 60 or 1.0
    ticks = nice_ticks(0, max(r.curve_release) * 1.05, 4)
    upper = Box(LEFT, TOP, WIDTH - LEFT - RIGHT, 110, 0, span, 0, ticks[-1])
    pulses = [
        (when, 100 * r.by_slot[row.slot_id])
        for row in report.slots
        if row.slot_id in r.by_slot
        and (when := row.started or row.scheduled) is not None
        and start <= when <= end
    ]
    bar_ticks = nice_ticks(0, max([110.0, *(p for _, p in pulses)]), 4)
    lower_top = upper.bottom + 60
    lower = Box(LEFT, lower_top, WIDTH - LEFT - RIGHT, 90, 0, span, 0, bar_ticks[-1])
    canvas = Canvas(lower.bottom + 22, "predicted LH release and LH pulses (model)")
    x_ticks = [
        ((when - start).total_seconds() / 60, text) for when, text in hour_ticks(report, start, end)
    ]
    y_axis(canvas, upper, ticks, "predicted LH release, × resting basal (model)")
    points = [
        (upper.x((t - start).total_seconds() / 60), upper.y(v))
        for t, v in zip(r.curve_times, r.curve_release, strict=True)
    ]
    canvas.path(points, MODEL, width=1.0)
    x_labels(canvas, upper, x_ticks, grid=True)
    y_axis(canvas, lower, bar_ticks, "predicted LH pulse, % of the standard regimen's (model)")
    for when, pct in pulses:
        x = lower.x((when - start).total_seconds() / 60)
        colour = LIMIT if pct < 100 * r.blunted_below else MODEL
        canvas.rect(x - 1.5, lower.y(pct), 3, lower.bottom - lower.y(pct), colour,
                    title=f"{pct:.0f} %")  # fmt: skip
    _limits(canvas, lower, r.blunted_below)
    x_labels(canvas, lower, x_ticks, grid=False)
    canvas.legend(LEFT, LEGEND, _legend_items(r, "predicted LH (model)"))
    return canvas.render()


def _bars(r: PituitaryResponse) -> str:
    """Per day, week or month: the median LH pulse as a bar, the lowest pulse as a tick."""
    grain = _grain(r)
    periods = r.periods
    highest = max([110.0, *(100 * (p.median_relative or 0.0) for p in periods)])
    ticks = nice_ticks(0, highest, 4)
    box = Box(LEFT, TOP, WIDTH - LEFT - RIGHT, 130, 0, len(periods), 0, ticks[-1])
    canvas = Canvas(box.bottom + 22, f"predicted LH pulse per {grain} (model)")
    y_axis(canvas, box, ticks, "predicted LH pulse, % of the standard regimen's (model)")
    for i, p in enumerate(periods):
        if p.median_relative is None:
            continue
        median = 100 * p.median_relative
        colour = LIMIT if p.median_relative < r.blunted_below else MODEL
        x, w = box.x(i + 0.15), box.x(i + 0.85) - box.x(i + 0.15)
        canvas.rect(x, box.y(median), w, box.bottom - box.y(median), colour,
                    title=f"median {median:.0f} %, lowest {_pct(p.lowest_relative)} %")  # fmt: skip
        if p.lowest_relative is not None:
            y = box.y(100 * p.lowest_relative)
            canvas.line(x, y, x + w, y, "#000000", width=2.0)
    _limits(canvas, box, r.blunted_below)
    x_labels(canvas, box, bucket_labels([p.start for p in periods], grain), grid=False)
    items = _legend_items(r, f"median per {grain}")
    items.insert(1, ("line", "#000000", "lowest pulse"))
    canvas.legend(LEFT, LEGEND, items)
    return canvas.render()


def _grain(r: PituitaryResponse) -> stats.Grain:
    return "week" if r.grain == "week" else "month" if r.grain == "month" else "day"


def _label(p: ModelPeriod, grain: stats.Grain) -> str:
    if grain == "week":
        return f"{p.start:%d %b %Y}"
    if grain == "month":
        return f"{p.start:%B %Y}"
    return day_label(p.start)


def _table(r: PituitaryResponse) -> str:
    grain = _grain(r)
    first = {"day": "day", "week": "week of", "month": "month"}[grain]
    head = [
        (first, "30mm"), ("pulses", "14mm"), ("LH pulse median %", "22mm"),
        ("lowest %", "16mm"), ("blunted", "16mm"), ("receptors bound %", "22mm"),
        ("mean LH release × basal", "auto"),
    ]  # fmt: skip
    rows = [
        [
            escape(_label(p, grain)),
            str(p.pulses),
            _pct(p.median_relative),
            _pct(p.lowest_relative),
            f'<span class="flag">{p.blunted}</span>' if p.blunted else "0",
            f"{100 * p.mean_bound:.1f}",
            f"{p.mean_release_relative:.2f}",
        ]
        for p in r.periods
    ]
    return table(f"{SECTION_ID}-table", head, rows, numeric=range(1, len(head)))


def section(report: Report) -> list[str]:
    """The section's HTML, or nothing when the report has no prediction."""
    r = report.pituitary
    if r is None:
        return []
    grain = _grain(r)
    short = bool(r.curve_times)
    svg = _curve(report, r) if short else _bars(r)
    when = "at its local time" if short else f"median per {grain}, lowest pulse marked"
    caption = (
        f"MODEL, not a measurement: {r.model}. Predicted LH pulse of each delivered pulse "
        f"({when}) as a % of the standard regimen's at {r.reference_dose_ug:g} µg; "
        f"{report.timezone} time."
    )
    left_out = (
        f"<p>Not in the prediction: {escape('; '.join(r.left_out))}.</p>" if r.left_out else ""
    )
    title = {"day": "Per day", "week": "Per week", "month": "Per month"}[grain]
    return [
        f'<section id="{SECTION_ID}">',
        f"<h2>{escape(r.title)}</h2>",
        f'<p class="model-caveat" style="{CAVEAT_STYLE}"><b>Model, not a measurement.</b> '
        f"{escape(r.caveat)}</p>",
        f'<p id="{SECTION_ID}-summary">{escape(_summary(r))}</p>',
        left_out,
        f'<figure id="fig-pituitary">{svg}<figcaption>{escape(caption)}</figcaption></figure>',
        f"<h3>{title} (model, not a measurement)</h3>",
        _table(r),
        "</section>",
    ]


def _summary(r: PituitaryResponse) -> str:
    """The run line, with the model's label said first."""
    text = r.summary
    prefix = "delivered pulses (from the journal): "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    return f"Predicted for the delivered pulses: {text}."
