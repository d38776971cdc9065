"""The report's figures as inline SVG text, drawn with matplotlib's non-interactive backend.

Fonts are drawn as paths, so the SVG needs nothing outside the page. Artists with thousands of
marks (years of slots) are rasterised inside the SVG to keep the file small; axes stay vector.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import matplotlib as mpl
import numpy as np

mpl.use("Agg")  # never open a window; must precede pyplot's import
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pumpctl.report import stats
from pumpctl.report.model import CATEGORIES, Report

#: Outcome colours, distinguishable in greyscale print too (dark to light).
COLOURS = {
    "delivered": "#1b7837",
    "partial": "#e08214",
    "over-delivered": "#d6604d",
    "not-delivered": "#762a83",
    "missed": "#b2182b",
    "denied": "#2166ac",
    "uncertain": "#000000",
    "open": "#bbbbbb",
}
RASTER_ABOVE = 2000
#: More days than this are drawn as one filled staircase instead of one bar artist per day.
BARS_UP_TO_DAYS = 90
_EPOCH = datetime.fromisoformat(mdates.get_epoch()).replace(tzinfo=UTC)  # type: ignore[no-untyped-call]
ENVELOPE_ABOVE = 4000
ENVELOPE_BINS = 1500
_NO_METADATA: dict[str, str | None] = {"Creator": None, "Date": None, "Format": None, "Type": None}
_WIDTH_IN = 7.2  # A4 text width at 15 mm margins


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "path", "svg.hashsalt": "pumpctl"}):
        # No metadata block: the page stays reproducible and free of RDF namespace URLs.
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata=_NO_METADATA)
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: inline in HTML


def _figure(height_in: float) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(_WIDTH_IN, height_in), dpi=100)
    ax.grid(alpha=0.3)
    return fig, ax


def _x(times: list[datetime]) -> list[float]:
    """Matplotlib's date numbers (days since its epoch) for aware times; its typed API takes
    these where datetimes work too, and the arithmetic is far faster than ``date2num`` on lists.
    """
    return [(t - _EPOCH).total_seconds() / 86_400 for t in times]


def _time_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _envelope(
    x: list[float], y: list[float], bins: int
) -> tuple[list[float], list[float], list[float]]:
    """Per equal-width bin of ``x``: the lowest and highest ``y`` and the bin centre."""
    lo_x, width = x[0], (x[-1] - x[0]) / bins or 1.0
    lows: dict[int, float] = {}
    highs: dict[int, float] = {}
    for xi, yi in zip(x, y, strict=True):
        b = min(int((xi - lo_x) / width), bins - 1)
        lows[b] = min(lows.get(b, yi), yi)
        highs[b] = max(highs.get(b, yi), yi)
    keys = sorted(lows)
    return (
        [lows[b] for b in keys],
        [highs[b] for b in keys],
        [lo_x + (b + 0.5) * width for b in keys],
    )


def timeline(report: Report) -> str:
    """One mark per slot at its scheduled time, one lane and colour per outcome."""
    fig, ax = _figure(2.2)
    lanes = [c for c in CATEGORIES if report.total.counts[c]]
    raster = len(report.slots) > RASTER_ABOVE
    for lane, category in enumerate(lanes):
        times = [r.scheduled for r in report.slots if r.category == category and r.scheduled]
        # Markers on a line without segments: far cheaper than a scatter for years of slots.
        ax.plot(
            _x(times),
            [lane] * len(times),
            linestyle="none",
            marker="|",
            markersize=11,
            color=COLOURS[category],
            label=category,
            rasterized=raster,
        )
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.7, max(len(lanes), 1) - 0.3)
    _time_axis(ax)
    ax.set_title("Pulse timeline (one mark per slot, UTC)", fontsize=9)
    return _svg(fig)


def exposure(report: Report) -> str:
    """Predicted plasma level with the gate's threshold, scaled to pg/mL."""
    fig, ax = _figure(2.4)
    curve = report.exposure
    x = _x(list(curve.times))
    y = list(curve.levels_pg_per_ml)
    if len(x) > ENVELOPE_ABOVE:
        # Years of pulses: each column shows the lowest and highest level within it.
        lows, highs, centres = _envelope(x, y, ENVELOPE_BINS)
        ax.fill_between(centres, lows, highs, color="#333333", label="predicted level (range)")
    else:
        ax.plot(x, y, color="#333333", linewidth=0.8, label="predicted level")
    threshold = curve.threshold_pg_per_ml
    if threshold is not None:
        ax.axhline(
            threshold,
            color="#b2182b",
            linestyle="--",
            linewidth=1,
            label="gate threshold (pre-pulse level)",
        )
    ax.set_ylabel("pg/mL")
    ax.set_ylim(bottom=0)
    _time_axis(ax)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("Predicted plasma gonadorelin (model, not a measurement)", fontsize=9)
    return _svg(fig)


def interval_histogram(report: Report) -> str:
    """Minutes between pulse starts, with the minimum interval marked."""
    fig, ax = _figure(2.2)
    values = [g[0] for g in stats.gaps(report.slots)]
    if values:
        ax.hist(np.asarray(values), bins=min(40, max(5, len(values) // 4)), color="#4d4d4d")
    ax.axvline(
        report.intervals.min_interval_limit_min,
        color="#b2182b",
        linestyle="--",
        label=f"minimum interval {report.intervals.min_interval_limit_min} min",
    )
    ax.set_xlabel("minutes between pulse starts")
    ax.set_ylabel("intervals")
    ax.legend(fontsize=7)
    ax.set_title("Intervals between delivered pulses", fontsize=9)
    return _svg(fig)


def daily_dose(report: Report) -> str:
    """Delivered µg per day as bars (a filled staircase over long periods), prescribed as a line."""
    fig, ax = _figure(2.2)
    rows = [d for d in report.days if d.day]
    starts = [datetime(d.day.year, d.day.month, d.day.day, tzinfo=UTC) for d in rows if d.day]
    delivered = [float(d.delivered_dose_ug) for d in rows]
    prescribed = [float(d.prescribed_dose_ug) for d in rows]
    if len(rows) <= BARS_UP_TO_DAYS:
        noon = _x([s + timedelta(hours=12) for s in starts])
        ax.bar(noon, delivered, width=0.8, color="#1b7837", label="delivered")
        ax.step(noon, prescribed, where="mid", color="#000000", linewidth=1, label="prescribed")
    else:
        # Days without slots are absent from the table; the staircase shows them as zero.
        edges, got, want = _daily_steps(starts, delivered, prescribed)
        ax.stairs(got, edges, fill=True, color="#1b7837", label="delivered")
        ax.stairs(want, edges, color="#000000", linewidth=0.6, label="prescribed")
    ax.set_ylabel("µg per day")
    _time_axis(ax)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Daily dose ({report.timezone} days)", fontsize=9)
    return _svg(fig)


def _daily_steps(
    starts: list[datetime], delivered: list[float], prescribed: list[float]
) -> tuple[list[float], list[float], list[float]]:
    """Contiguous day edges from the first to the last day, zeros for days without slots."""
    first = starts[0]
    span = (starts[-1] - first).days + 1
    got, want = [0.0] * span, [0.0] * span
    for start, d, p in zip(starts, delivered, prescribed, strict=True):
        got[(start - first).days] = d
        want[(start - first).days] = p
    edges = _x([first + timedelta(days=k) for k in range(span + 1)])
    return edges, got, want
