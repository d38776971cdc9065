"""The report's optional section: predicted pituitary response to the journaled deliveries.

Self-contained so the clinician report can include it with one call, or leave it out when the
``[model]`` extra is not installed: :func:`pituitary_section` takes the delivered pulses as the
journal records them (start, end, delivered dose) and returns the figure (inline SVG), the
per-day table and the caveat a reader must see next to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pumpctl.core.exposure import Infusion
from pumpctl.physiology import figures
from pumpctl.physiology.predict import DEFAULT_SETTINGS, ModelSettings, predict
from pumpctl.physiology.summary import DaySummary, day_lines, per_day, run_line

TITLE = "Predicted pituitary response (model, not a measurement)"
CAVEAT = (
    "Predicted by a published in-vitro model of the gonadotroph (Heinze, Keener & Midgley 1998, "
    "ovine pituitary cells) driven by the exposure model's plasma level of what the journal "
    "records as delivered. It is not a measurement of this patient and must not guide dosing. "
    "LH pulses are relative to the standard regimen (the same dose as a 1-min bolus every "
    "90 min); the model cannot show the fall of mean LH over days seen in vivo, only the loss "
    "of LH pulses. Flow the pump never reported is not included. See docs/pituitary.md."
)


@dataclass(frozen=True)
class DeliveredPulse:
    """One delivered pulse as the journal knows it."""

    started: datetime
    ended: datetime | None
    dose_ug: float


@dataclass(frozen=True)
class PituitarySection:
    title: str
    caveat: str
    svg: str
    summary: str
    days: tuple[DaySummary, ...]

    @property
    def day_lines(self) -> list[str]:
        return day_lines(self.days)


def pituitary_section(
    pulses: Sequence[DeliveredPulse],
    start: datetime,
    end: datetime,
    timezone: str,
    reference_dose_ug: float,
    *,
    settings: ModelSettings = DEFAULT_SETTINGS,
) -> PituitarySection:
    """Predict from ``start`` to ``end`` (aware datetimes) and render the section's parts.

    A pulse without a recorded end is taken to have lasted one minute (the reference bolus).
    """
    infusions = [
        Infusion(
            (p.started - start).total_seconds() / 60.0,
            p.dose_ug,
            1.0 if p.ended is None else max((p.ended - p.started).total_seconds() / 60.0, 0.0),
        )
        for p in pulses
        if p.dose_ug > 0
    ]
    end_min = (end - start).total_seconds() / 60.0
    pred = predict(
        infusions,
        0.0,
        end_min,
        label="delivered pulses (from the journal)",
        reference_dose_ug=reference_dose_ug,
        settings=settings,
    )
    return PituitarySection(
        title=TITLE,
        caveat=CAVEAT,
        svg=figures.comparison([pred]),
        summary=run_line(pred),
        days=tuple(per_day(pred, start, timezone)),
    )
