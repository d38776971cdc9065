"""Figures of predictions as self-contained SVG text (matplotlib's non-interactive backend).

Each figure says in its title that it shows a model, not a measurement. Runs are drawn side by
side on shared scales, so a faulted run and the interlocked run can be compared at a glance.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np

mpl.use("Agg")  # never open a window; must precede pyplot's import
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pumpctl.physiology.plasma import FloatArray
from pumpctl.physiology.predict import Prediction
from pumpctl.physiology.study import DESENSITIZED_BELOW, StudyPoint
from pumpctl.physiology.summary import BLUNTED_BELOW, MODEL_LABEL

#: More points than this (two weeks of 1-min steps) are drawn as a min/max envelope per bin.
ENVELOPE_ABOVE = 20_000
ENVELOPE_BINS = 2000
#: More markers than this are rasterised inside the SVG (axes and text stay vector).
RASTER_ABOVE = 2000
_NO_METADATA: dict[str, str | None] = {"Creator": None, "Date": None, "Format": None, "Type": None}


def svg_text(fig: Figure) -> str:
    """The figure as inline SVG (no XML prolog), reproducible byte for byte."""
    buffer = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "path", "svg.hashsalt": "pumpctl"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata=_NO_METADATA)
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _line(ax: Axes, x: FloatArray, y: FloatArray, colour: str) -> None:
    if len(x) <= ENVELOPE_ABOVE:
        ax.plot(x, y, color=colour, linewidth=0.8)
        return
    bins = np.minimum(((x - x[0]) / (x[-1] - x[0]) * ENVELOPE_BINS).astype(int), ENVELOPE_BINS - 1)
    edges = np.flatnonzero(np.diff(bins)) + 1
    starts = np.concatenate(([0], edges))
    lows = np.minimum.reduceat(y, starts)
    highs = np.maximum.reduceat(y, starts)
    # The edge keeps flat stretches (a continuous infusion) visible as a line.
    ax.fill_between(x[starts], lows, highs, color=colour, edgecolor=colour, linewidth=0.6)


def _time_scale(preds: Sequence[Prediction]) -> tuple[float, str]:
    span_h = max(p.trace.end_min - p.trace.start_min for p in preds) / 60.0
    return (60.0, "hours from start") if span_h <= 72 else (1440.0, "days from start")


def comparison(preds: Sequence[Prediction]) -> str:
    """Plasma level, LH release and per-pulse LH response, one column per prediction."""
    cols = len(preds)
    fig, axes = plt.subplots(
        3, cols, figsize=(3.6 * cols + 0.8, 6.4), dpi=100, sharex=True, sharey="row", squeeze=False
    )
    unit, xlabel = _time_scale(preds)
    for c, pred in enumerate(preds):
        trace = pred.trace
        x = trace.times_min / unit
        top, mid, low = axes[0][c], axes[1][c], axes[2][c]
        _line(top, x[:-1], pred.plasma_pg_per_ml, "#333333")
        _line(mid, x, pred.relative_release, "#1b7837")
        starts = np.array([p.start_min for p in pred.pulses]) / unit
        rel = np.array([100.0 * (p.relative or 0.0) for p in pred.pulses])
        low.plot(
            starts,
            rel,
            linestyle="none",
            marker=".",
            markersize=3,
            color="#2166ac",
            rasterized=len(starts) > RASTER_ABOVE,
        )
        low.axhline(100, color="#000000", linewidth=0.6)
        low.axhline(100 * BLUNTED_BELOW, color="#b2182b", linestyle="--", linewidth=0.8)
        top.set_title(textwrap.fill(pred.label, 52), fontsize=7)
        low.set_xlabel(xlabel, fontsize=8)
        for ax in (top, mid, low):
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("plasma gonadorelin\n(pg/mL, exposure model)", fontsize=7)
    axes[1][0].set_ylabel("LH release\n(× resting basal)", fontsize=7)
    axes[2][0].set_ylabel("LH pulse, % of\nstandard regimen", fontsize=7)
    # Log scale: a runaway's level is a hundred times a pulse's, and both must stay readable.
    axes[0][0].set_yscale("log")
    axes[0][0].set_ylim(bottom=1.0)
    axes[2][0].set_ylim(bottom=0)
    fig.suptitle(
        f"{MODEL_LABEL}: Heinze et al. 1998 gonadotroph model, {preds[0].settings.bridge.name} "
        "bridge",
        fontsize=8,
    )
    return svg_text(fig)


def study(
    axes: dict[str, dict[str, Sequence[StudyPoint]]], threshold: float, admitted: dict[str, float]
) -> str:
    """Sustained LH pulse along each axis, one line per bridge, the gate's refusals shaded.

    ``axes`` maps an axis ("interval", "bolus", "dose") to points per bridge name; ``admitted``
    gives, per axis, the gate's boundary at ``threshold`` (shortest interval, longest bolus).
    """
    names = list(axes)
    fig, panels = plt.subplots(1, len(names), figsize=(7.4, 2.6), dpi=100, squeeze=False)
    styles = ["-", "--", ":"]
    for ax, name in zip(panels[0], names, strict=True):
        for style, (bridge, points) in zip(styles, axes[name].items(), strict=False):
            x = [_axis_value(p, name) for p in points]
            ax.plot(
                x,
                [100 * p.relative_to_standard for p in points],
                style,
                color="#1b7837",
                marker=".",
                markersize=4,
                label=bridge,
            )
        ax.axhline(100, color="#000000", linewidth=0.6)
        ax.axhline(100 * DESENSITIZED_BELOW, color="#b2182b", linestyle="--", linewidth=0.8)
        bound = admitted.get(name)
        if bound is not None:
            lo, hi = ax.get_xlim()
            span = (lo, bound) if name == "interval" else (bound, hi)
            ax.axvspan(*span, color="#2166ac", alpha=0.12, linewidth=0)
            ax.set_xlim(lo, hi)
        ax.set_xlabel(_AXIS_LABELS[name], fontsize=7)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    panels[0][0].set_ylabel("sustained LH pulse,\n% of standard regimen", fontsize=7)
    panels[0][0].legend(fontsize=6, loc="lower right")
    fig.suptitle(
        f"{MODEL_LABEL}; shaded: refused by the exposure check at its default threshold "
        f"{threshold:.3f}",
        fontsize=7,
    )
    return svg_text(fig)


_AXIS_LABELS = {
    "interval": "interval (min), 10 µg, 1-min bolus",
    "bolus": "bolus length (min), 10 µg every 90 min",
    "dose": "dose (µg), 1-min bolus every 90 min",
}


def _axis_value(point: StudyPoint, axis: str) -> float:
    return {"interval": point.interval_min, "bolus": point.bolus_min, "dose": point.dose_ug}[axis]
