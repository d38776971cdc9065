"""The exposure interlock held against the pituitary model: where does desensitization start?

For a regular pattern (dose, interval, bolus length) the gate's exposure check, at steady state,
compares the level a pulse leaves when the next one is due with the peak of one pulse: exactly
``exposure.steady_state_trough_fraction(interval, bolus)``, whatever the dose. The model gives the
LH pulse that pattern sustains. Setting the two side by side along each axis shows whether the
default threshold refuses patterns the model still finds fine (tight) or admits patterns it
finds desensitizing (loose). docs/pituitary_study.py prints the tables of docs/pituitary.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pumpctl.core.exposure import default_threshold, steady_state_trough_fraction
from pumpctl.physiology.predict import (
    DEFAULT_SETTINGS,
    STANDARD_BOLUS_MIN,
    STANDARD_INTERVAL_MIN,
    ModelSettings,
    rested_amplitude,
    settled_amplitude,
    standard_amplitude,
)

#: The pattern every axis varies one parameter of: the demo prescription's dose.
STANDARD_DOSE_UG = 10.0
#: A sustained LH pulse below this fraction of the standard regimen's counts as desensitized.
DESENSITIZED_BELOW = 0.5


@dataclass(frozen=True)
class StudyPoint:
    """One regular pattern: the gate's steady-state fraction and the model's LH pulse."""

    dose_ug: float
    interval_min: float
    bolus_min: float
    gate_fraction: float
    settled_amplitude: float
    rested_amplitude: float
    standard_amplitude: float

    @property
    def relative_to_standard(self) -> float:
        """Sustained LH pulse over the standard regimen's at the *reference* dose."""
        return self.settled_amplitude / self.standard_amplitude

    @property
    def kept_of_rested(self) -> float:
        """Sustained LH pulse over the same pulse given to a rested pituitary."""
        return self.settled_amplitude / self.rested_amplitude

    def admitted(self, threshold: float) -> bool:
        return self.gate_fraction <= threshold


def evaluate(
    dose_ug: float,
    interval_min: float,
    bolus_min: float,
    settings: ModelSettings = DEFAULT_SETTINGS,
    reference_dose_ug: float = STANDARD_DOSE_UG,
) -> StudyPoint:
    return StudyPoint(
        dose_ug=dose_ug,
        interval_min=interval_min,
        bolus_min=bolus_min,
        gate_fraction=steady_state_trough_fraction(interval_min, bolus_min),
        settled_amplitude=settled_amplitude(dose_ug, interval_min, bolus_min, settings),
        rested_amplitude=rested_amplitude(dose_ug, bolus_min, settings),
        standard_amplitude=standard_amplitude(reference_dose_ug, settings),
    )


def interval_axis(
    intervals: Sequence[float], settings: ModelSettings = DEFAULT_SETTINGS
) -> list[StudyPoint]:
    return [evaluate(STANDARD_DOSE_UG, i, STANDARD_BOLUS_MIN, settings) for i in intervals]


def bolus_axis(
    boluses: Sequence[float], settings: ModelSettings = DEFAULT_SETTINGS
) -> list[StudyPoint]:
    return [evaluate(STANDARD_DOSE_UG, STANDARD_INTERVAL_MIN, b, settings) for b in boluses]


def dose_axis(
    doses: Sequence[float], settings: ModelSettings = DEFAULT_SETTINGS
) -> list[StudyPoint]:
    return [evaluate(d, STANDARD_INTERVAL_MIN, STANDARD_BOLUS_MIN, settings) for d in doses]


def crossing(xs: Sequence[float], ys: Sequence[float], level: float) -> float | None:
    """The first ``x`` where ``ys`` crosses ``level``, by linear interpolation, else ``None``."""
    for (x0, y0), (x1, y1) in zip(
        zip(xs[:-1], ys[:-1], strict=True), zip(xs[1:], ys[1:], strict=True), strict=True
    ):
        if (y0 - level) * (y1 - level) <= 0 and y0 != y1:
            return x0 + (level - y0) * (x1 - x0) / (y1 - y0)
    return None


def _bisect(predicate: Callable[[float], bool], lo: float, hi: float) -> float:
    """The boundary between ``lo`` (predicate true) and ``hi`` (false), to 0.01."""
    while abs(hi - lo) > 0.01:
        mid = 0.5 * (lo + hi)
        if predicate(mid):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def shortest_admitted_interval(threshold: float, bolus_min: float = STANDARD_BOLUS_MIN) -> float:
    """The shortest interval whose steady-state fraction the gate admits at ``threshold``."""
    return _bisect(
        lambda i: steady_state_trough_fraction(round(i, 2), bolus_min) <= threshold, 600.0, 1.0
    )


def longest_admitted_bolus(
    threshold: float, interval_min: float = STANDARD_INTERVAL_MIN
) -> float | None:
    """The longest bolus the gate admits at ``threshold`` (None: not even a 1-s bolus)."""
    if steady_state_trough_fraction(interval_min, round(1 / 60, 2)) > threshold:
        return None
    return _bisect(
        lambda b: steady_state_trough_fraction(interval_min, round(b, 2)) <= threshold,
        0.0,
        interval_min,
    )


def default_thresholds() -> dict[int, float]:
    """The default threshold for each minimum interval a configuration may set (60 to 120)."""
    return {m: default_threshold(m) for m in (60, 75, 90, 120)}
