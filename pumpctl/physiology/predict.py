"""Predicted LH for a delivered pattern: plasma (exposure model) → bridge → gonadotroph model.

A prediction says what the model expects of a pituitary given what was actually infused. Pulse
amplitudes are also given relative to the *standard regimen* at the same dose (1-min boluses
every 90 min, at steady state), the regimen the clinical literature shows to work, so that
"0.4" reads as "40 % of the LH pulse the standard regimen is predicted to sustain".
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pumpctl.core.exposure import DEFAULT_PK, Infusion, PkParameters
from pumpctl.core.pituitary import (
    HEINZE_1998,
    MOLAR,
    GnrhBridge,
    GonadotrophParameters,
    GonadotrophState,
    PulseResponse,
)
from pumpctl.physiology.lh import LhTrace, integrate, pulse_responses
from pumpctl.physiology.plasma import FloatArray, step_means

#: The standard regimen the relative figures compare with (clinical-parameters.md).
STANDARD_INTERVAL_MIN = 90.0
STANDARD_BOLUS_MIN = 1.0
#: Days of the standard regimen before its amplitude is read: the pool settles within ~1 day.
STANDARD_SETTLE_DAYS = 8
DEFAULT_STEP_MIN = 1.0


@dataclass(frozen=True)
class ModelSettings:
    """Everything a prediction depends on besides the infusions; every default is documented."""

    bridge: GnrhBridge = MOLAR
    params: GonadotrophParameters = HEINZE_1998
    pk: PkParameters = DEFAULT_PK
    step_min: float = DEFAULT_STEP_MIN


DEFAULT_SETTINGS = ModelSettings()


@dataclass(frozen=True)
class Prediction:
    """One predicted course: the plasma input, the model's trace, the LH pulse per pulse."""

    label: str
    plasma_pg_per_ml: FloatArray  # the mean level over each grid step
    trace: LhTrace
    pulses: tuple[PulseResponse, ...]
    standard_amplitude: float
    settings: ModelSettings

    @property
    def relative_release(self) -> FloatArray:
        """LH release over the resting pituitary's basal release (1.0 = basal)."""
        return self.trace.release / self.trace.params.basal_release_lh_per_h


def _solve(
    infusions: Sequence[Infusion],
    start_min: float,
    end_min: float,
    settings: ModelSettings,
    *,
    initial: GonadotrophState | None = None,
    reference_amplitude: float | None = None,
) -> tuple[FloatArray, LhTrace, list[PulseResponse]]:
    """Plasma on the grid, the model's trace, and one response per pulse."""
    s = settings
    steps = max(1, round((end_min - start_min) / s.step_min))
    plasma = step_means(infusions, start_min, steps, s.step_min, s.pk)
    trace = integrate(s.bridge.nm(1.0) * plasma, s.step_min, start_min, initial, s.params)
    keys = [(i.start_min, i.dose_ug, i.duration_min) for i in infusions if i.dose_ug > 0]
    return plasma, trace, pulse_responses(trace, keys, reference_amplitude)


def predict(
    infusions: Sequence[Infusion],
    start_min: float,
    end_min: float,
    *,
    label: str,
    reference_dose_ug: float | None = None,
    settings: ModelSettings = DEFAULT_SETTINGS,
    initial: GonadotrophState | None = None,
) -> Prediction:
    """Predict LH from ``start_min`` to ``end_min`` (minutes on the infusions' time axis).

    The pituitary starts at rest (no GnRH for long) unless ``initial`` is given. Relative
    amplitudes compare with the standard regimen at ``reference_dose_ug`` (default: the median
    dose of the infusions).
    """
    if end_min <= start_min:
        raise ValueError("a prediction needs end_min after start_min")
    doses = sorted(i.dose_ug for i in infusions if i.dose_ug > 0)
    dose = reference_dose_ug or (doses[len(doses) // 2] if doses else 0.0)
    standard = standard_amplitude(dose, settings) if dose > 0 else 0.0
    plasma, trace, pulses = _solve(
        infusions,
        start_min,
        end_min,
        settings,
        initial=initial,
        reference_amplitude=standard or None,
    )
    return Prediction(label, plasma, trace, tuple(pulses), standard, settings)


def regimen(
    dose_ug: float, interval_min: float, bolus_min: float, days: float, start_min: float = 0.0
) -> list[Infusion]:
    """Identical pulses at a fixed interval for ``days``."""
    count = int(days * 1440 // interval_min)
    return [Infusion(start_min + k * interval_min, dose_ug, bolus_min) for k in range(count)]


def settled_amplitude(
    dose_ug: float,
    interval_min: float,
    bolus_min: float,
    settings: ModelSettings = DEFAULT_SETTINGS,
    days: float = STANDARD_SETTLE_DAYS,
) -> float:
    """Mean LH pulse amplitude over the last day of ``days`` of a fixed regimen (steady state)."""
    end = days * 1440
    _, _, responses = _solve(regimen(dose_ug, interval_min, bolus_min, days), 0.0, end, settings)
    # The last pulse's window is cut short by the end of the run: leave it out.
    last_day = [r.amplitude for r in responses[:-1] if r.start_min >= end - 1440]
    return float(np.mean(last_day)) if last_day else 0.0


def rested_amplitude(
    dose_ug: float, bolus_min: float, settings: ModelSettings = DEFAULT_SETTINGS
) -> float:
    """LH pulse amplitude of one pulse given to a resting pituitary (nothing before, 12 h after)."""
    _, _, responses = _solve([Infusion(0.0, dose_ug, bolus_min)], 0.0, 12 * 60.0, settings)
    return responses[0].amplitude


@functools.lru_cache(maxsize=64)
def standard_amplitude(dose_ug: float, settings: ModelSettings = DEFAULT_SETTINGS) -> float:
    """The settled LH pulse amplitude of the standard regimen at ``dose_ug``."""
    return settled_amplitude(dose_ug, STANDARD_INTERVAL_MIN, STANDARD_BOLUS_MIN, settings)
