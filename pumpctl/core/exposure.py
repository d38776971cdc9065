"""Predicted plasma gonadorelin: one compartment with first-order subcutaneous absorption (SR-05).

C(t) = F·D·ka / (V·(ka − ke)) · (e^(−ke·t) − e^(−ka·t)) for a bolus; a pulse of finite duration is
the bolus response integrated over its (constant-rate) infusion, in closed form; a history is the
superposition of its pulses. Parameters and their sources: docs/clinical-parameters.md.

The model ranks exposure and catches continuous-like patterns (pulses too close, pulses infused too
slowly); it is not a clinical prediction. Levels are in pg/mL, times in minutes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from pumpctl.core.model import HardCeiling

#: Pulses that ended further back than this contribute nothing measurable (e^(-ka·t) < 1e-7).
MODEL_HORIZON = timedelta(minutes=600)
MODEL_HORIZON_MIN = MODEL_HORIZON / timedelta(minutes=1)

#: The default threshold is the prescription's own steady-state pre-pulse level times this margin.
DEFAULT_THRESHOLD_MARGIN = 1.35

#: The shape a pulse is meant to have: a bolus over about a minute (docs/clinical-parameters.md).
#: The default threshold is derived for it, so a slow "pulse" cannot raise its own threshold.
REFERENCE_PULSE_MIN = 1.0


@dataclass(frozen=True)
class PkParameters:
    """One-compartment parameters; defaults from the Lutrelef label and Hurley 1987 (see module)."""

    volume_l: float = 12.0
    clearance_l_per_min: float = 1.6
    absorption_half_life_min: float = 24.0
    bioavailability: float = 0.875

    @property
    def ke_per_min(self) -> float:
        return self.clearance_l_per_min / self.volume_l

    @property
    def ka_per_min(self) -> float:
        return math.log(2) / self.absorption_half_life_min


DEFAULT_PK = PkParameters()


@dataclass(frozen=True)
class Infusion:
    """A pulse as the model sees it: start (min, on any common time axis), dose, duration."""

    start_min: float
    dose_ug: float
    duration_min: float


def _unit_integral(tau_min: float, p: PkParameters) -> float:
    """∫₀^τ (e^(−ke·s) − e^(−ka·s)) ds."""
    ke, ka = p.ke_per_min, p.ka_per_min
    return (1.0 - math.exp(-ke * tau_min)) / ke - (1.0 - math.exp(-ka * tau_min)) / ka


def _response(infusion: Infusion, t_min: float, p: PkParameters) -> float:
    """Level (pg/mL) at ``t_min`` from one pulse."""
    since = t_min - infusion.start_min
    if since <= 0 or infusion.dose_ug <= 0:
        return 0.0
    ke, ka = p.ke_per_min, p.ka_per_min
    scale = p.bioavailability * ka / (p.volume_l * (ka - ke)) * 1000.0  # ug/L -> pg/mL
    if infusion.duration_min <= 0:
        return scale * infusion.dose_ug * (math.exp(-ke * since) - math.exp(-ka * since))
    rate = infusion.dose_ug / infusion.duration_min
    if since <= infusion.duration_min:
        return scale * rate * _unit_integral(since, p)
    tail = since - infusion.duration_min
    return scale * rate * (_unit_integral(since, p) - _unit_integral(tail, p))


def level_pg_per_ml(
    infusions: Iterable[Infusion],
    t_min: float,
    params: PkParameters = DEFAULT_PK,
    *,
    horizon: bool = True,
) -> float:
    """Predicted level at ``t_min`` from every pulse of the history (superposition).

    With ``horizon`` (the default) pulses that ended more than :data:`MODEL_HORIZON` before
    ``t_min`` are left out; the safety gate selects its pulses itself, exactly, and passes False.
    """
    return sum(
        _response(inf, t_min, params)
        for inf in infusions
        if not horizon or t_min - inf.start_min < MODEL_HORIZON_MIN + inf.duration_min
    )


def within_horizon(since_start: timedelta, duration: timedelta) -> bool:
    """Whether a pulse that started ``since_start`` ago still counts, decided exactly."""
    return since_start < MODEL_HORIZON + duration


@functools.lru_cache(maxsize=256)
def single_pulse_peak(
    dose_ug: float, duration_min: float, params: PkParameters = DEFAULT_PK
) -> float:
    """Peak level (pg/mL) of one pulse, by golden-section search (the response is unimodal)."""
    pulse = Infusion(0.0, dose_ug, duration_min)
    lo, hi = 0.0, duration_min + 120.0
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        a = hi - ratio * (hi - lo)
        b = lo + ratio * (hi - lo)
        if _response(pulse, a, params) < _response(pulse, b, params):
            lo = a
        else:
            hi = b
    return _response(pulse, (lo + hi) / 2, params)


@functools.lru_cache(maxsize=64)
def steady_state_trough_fraction(
    interval_min: float, duration_min: float, params: PkParameters = DEFAULT_PK
) -> float:
    """Pre-pulse level over one pulse's peak, pulses repeated forever at ``interval_min``."""
    pulses = [
        Infusion(-k * interval_min, 1.0, duration_min)
        for k in range(1, int(MODEL_HORIZON_MIN // interval_min) + 2)
    ]
    return level_pg_per_ml(pulses, 0.0, params) / single_pulse_peak(1.0, duration_min, params)


def default_threshold(shortest_interval_min: float) -> float:
    """The threshold a prescription gets when the configuration sets none.

    Reference pulses at the prescription's shortest interval pass with a 35 % margin; the result
    never exceeds the hard ceiling (0.5), so pulses 45 min apart are always refused.
    """
    own = steady_state_trough_fraction(shortest_interval_min, REFERENCE_PULSE_MIN)
    return min(HardCeiling.MAX_EXPOSURE_FRACTION, own * DEFAULT_THRESHOLD_MARGIN)
