"""The exposure model's plasma level on a time grid, vectorized for years of pulses.

The same one-compartment model with first-order SC absorption as :mod:`pumpctl.core.exposure`
(same parameters, same closed form, same horizon), evaluated with numpy; a test holds the two
equal. Besides point levels it gives each grid step's exact mean level, the integral of the
closed form over the step, which is what the pituitary solver needs as its input.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from pumpctl.core.exposure import DEFAULT_PK, MODEL_HORIZON_MIN, Infusion, PkParameters

FloatArray = NDArray[np.float64]


def _scale(p: PkParameters) -> float:
    """pg/mL per µg of the bolus response's two exponentials (µg/L → pg/mL is ×1000)."""
    return p.bioavailability * p.ka_per_min / (p.volume_l * (p.ka_per_min - p.ke_per_min)) * 1e3


def _h(tau: FloatArray, p: PkParameters) -> FloatArray:
    """Bolus response per µg, pg/mL (zero before the bolus)."""
    t = np.maximum(tau, 0.0)
    out = _scale(p) * (np.exp(-p.ke_per_min * t) - np.exp(-p.ka_per_min * t))
    return np.where(tau > 0, out, 0.0)


def _u(tau: FloatArray, p: PkParameters) -> FloatArray:
    """∫₀^τ h: the level of a unit-rate infusion running for τ, (pg/mL)·min per µg."""
    t = np.maximum(tau, 0.0)
    ke, ka = p.ke_per_min, p.ka_per_min
    return _scale(p) * (-np.expm1(-ke * t) / ke + np.expm1(-ka * t) / ka)


def _w(tau: FloatArray, p: PkParameters) -> FloatArray:
    """∫₀^τ U: the area under a unit-rate infusion's curve up to τ."""
    t = np.maximum(tau, 0.0)
    ke, ka = p.ke_per_min, p.ka_per_min
    return _scale(p) * ((t + np.expm1(-ke * t) / ke) / ke - (t + np.expm1(-ka * t) / ka) / ka)


def _level(inf: Infusion, tau: FloatArray, p: PkParameters) -> FloatArray:
    if inf.duration_min <= 0:
        return inf.dose_ug * _h(tau, p)
    rate = inf.dose_ug / inf.duration_min
    return rate * (_u(tau, p) - _u(tau - inf.duration_min, p))


def _area(inf: Infusion, tau: FloatArray, p: PkParameters) -> FloatArray:
    if inf.duration_min <= 0:
        return inf.dose_ug * _u(tau, p)
    rate = inf.dose_ug / inf.duration_min
    return rate * (_w(tau, p) - _w(tau - inf.duration_min, p))


def _span(inf: Infusion, t0: float, step: float, n: int) -> tuple[int, int]:
    """Grid points ``[i0, i1)`` where ``inf`` contributes (the exposure model's horizon)."""
    if inf.dose_ug <= 0:
        return 0, 0
    first = int(np.floor((inf.start_min - t0) / step))
    last = int(np.ceil((inf.start_min + inf.duration_min + MODEL_HORIZON_MIN - t0) / step)) + 1
    return max(first, 0), min(last, n)


def levels(
    infusions: Iterable[Infusion], times_min: FloatArray, params: PkParameters = DEFAULT_PK
) -> FloatArray:
    """Predicted level (pg/mL) at each of ``times_min``; equal to ``exposure.level_pg_per_ml``."""
    out = np.zeros_like(times_min, dtype=np.float64)
    for inf in infusions:
        since = times_min - inf.start_min
        near = (since > 0) & (since < MODEL_HORIZON_MIN + inf.duration_min)
        if np.any(near):
            out[near] += _level(inf, since[near], params)
    return out


def step_means(
    infusions: Iterable[Infusion],
    start_min: float,
    steps: int,
    step_min: float,
    params: PkParameters = DEFAULT_PK,
) -> FloatArray:
    """Mean level (pg/mL) over each step ``[start + k·step, start + (k+1)·step)``, exactly.

    Each infusion's area is evaluated only on the grid points within its horizon; beyond it the
    level is below 1e-7 of the peak, the same truncation the gate's exposure model makes.
    """
    grid = start_min + step_min * np.arange(steps + 1, dtype=np.float64)
    area_steps = np.zeros(steps, dtype=np.float64)
    for inf in infusions:
        i0, i1 = _span(inf, start_min, step_min, steps + 1)
        if i1 - i0 < 2:
            continue
        area = _area(inf, grid[i0:i1] - inf.start_min, params)
        area_steps[i0 : i1 - 1] += np.diff(area)
    return area_steps / step_min
