"""Solving the gonadotroph model of :mod:`pumpctl.core.pituitary` over days to years.

Two solvers of the same equations:

* :func:`integrate`, used for every prediction: on a fixed grid (1 min by default) the GnRH input
  is replaced by its exact mean over each step; with the input constant, the receptor equations
  are linear and are advanced by their exact matrix exponential (closed form for 2×2), and the
  releasable pool by the exact scalar solution with the step's mean bound fraction. Second-order
  accurate in the step, unconditionally stable however stiff the input makes the receptor, and
  fast: a year of 1-min steps takes about a second.
* :func:`reference_trace`, ``scipy.integrate.solve_ivp`` with the stiff Radau method and the
  analytic Jacobian, restarted at every discontinuity of the input. Too slow for a year (the
  measured figures are in docs/pituitary.md); the tests hold :func:`integrate` to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pumpctl.core.pituitary import (
    HEINZE_1998,
    GonadotrophParameters,
    GonadotrophState,
    PulseResponse,
    derivatives,
)
from pumpctl.physiology.plasma import FloatArray

MIN_PER_H = 60.0


@dataclass(frozen=True)
class LhTrace:
    """The model's state on a grid: values at ``start_min + k·step_min``, k = 0..steps."""

    start_min: float
    step_min: float
    gnrh_nm: FloatArray  # the input's mean over each step (one fewer than the grid points)
    bound: FloatArray
    desensitized: FloatArray
    releasable: FloatArray
    params: GonadotrophParameters

    @property
    def times_min(self) -> FloatArray:
        return self.start_min + self.step_min * np.arange(len(self.bound), dtype=np.float64)

    @property
    def end_min(self) -> float:
        return self.start_min + self.step_min * (len(self.bound) - 1)

    @property
    def release(self) -> FloatArray:
        """LH release rate at each grid point, LH units per hour."""
        p = self.params
        return (p.a1_per_h + p.a2_per_h * self.bound) * self.releasable

    @property
    def final_state(self) -> GonadotrophState:
        b, d = float(self.bound[-1]), float(self.desensitized[-1])
        return GonadotrophState(1.0 - b - d, b, d, float(self.releasable[-1]))

    def index_at(self, t_min: float) -> int:
        """The grid point at or just before ``t_min``, clipped to the grid."""
        k = int(np.floor((t_min - self.start_min) / self.step_min + 1e-9))
        return min(max(k, 0), len(self.bound) - 1)


def _receptor_steps(
    gnrh_nm: FloatArray, h: float, p: GonadotrophParameters
) -> tuple[FloatArray, ...]:
    """Per step: the plateau (B*, D*) and the entries of exp(M·h) for x' = M(x − x*)."""
    binding = p.kfb_per_nm_h * gnrh_nm
    m00, m01, m10, m11 = -(binding + p.kbd_per_h), -binding, p.kbd_per_h, -p.kdf_per_h
    det = m00 * m11 - m01 * m10
    b_star, d_star = binding * p.kdf_per_h / det, binding * p.kbd_per_h / det
    mean = 0.5 * (m00 + m11)
    q2 = (0.5 * (m00 - m11)) ** 2 + m01 * m10
    q = np.sqrt(np.abs(q2))
    qh = q * h
    real = q2 >= 0
    cosine = np.where(real, np.cosh(np.where(real, qh, 0.0)), np.cos(qh))
    # sinh(qh)/q and sin(qh)/q, with their limit h as q → 0.
    safe_q = np.where(q > 1e-12, q, 1.0)
    sine = np.where(
        q > 1e-12,
        np.where(real, np.sinh(np.where(real, qh, 0.0)), np.sin(qh)) / safe_q,
        h,
    )
    em = np.exp(mean * h)
    e00 = em * (cosine + sine * (m00 - mean))
    e01 = em * sine * m01
    e10 = em * sine * m10
    e11 = em * (cosine + sine * (m11 - mean))
    return b_star, d_star, e00, e01, e10, e11


#: Steps converted to Python floats at a time (memory, not results: see :func:`integrate`).
_CHUNK = 1 << 16


def integrate(
    gnrh_nm: FloatArray,
    step_min: float,
    start_min: float = 0.0,
    initial: GonadotrophState | None = None,
    params: GonadotrophParameters = HEINZE_1998,
) -> LhTrace:
    """Advance the model over ``len(gnrh_nm)`` steps, the input held at each step's mean."""
    p = params
    state = initial or GonadotrophState.resting(p)
    h = step_min / MIN_PER_H
    b_star, d_star, e00, e01, e10, e11 = _receptor_steps(np.asarray(gnrh_nm, np.float64), h, p)
    n = len(b_star)
    bound_a = np.empty(n + 1)
    desens_a = np.empty(n + 1)
    b, d = state.bound, state.desensitized
    bound_a[0], desens_a[0] = b, d
    # Python floats step by step (the recurrence is sequential), a chunk at a time so that a
    # year or ten never hold millions of Python floats at once; the arithmetic is unchanged.
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        bound: list[float] = []
        desens: list[float] = []
        for bs, ds, a, bb, c, dd in zip(
            b_star[lo:hi].tolist(),
            d_star[lo:hi].tolist(),
            e00[lo:hi].tolist(),
            e01[lo:hi].tolist(),
            e10[lo:hi].tolist(),
            e11[lo:hi].tolist(),
            strict=True,
        ):
            db, dd_ = b - bs, d - ds
            b, d = bs + a * db + bb * dd_, ds + c * db + dd * dd_
            bound.append(b)
            desens.append(d)
        bound_a[lo + 1 : hi + 1] = bound
        desens_a[lo + 1 : hi + 1] = desens
    # The pool's equation is linear given B: exact over a step with B at its step mean.
    k = p.a1_per_h + p.a2_per_h * 0.5 * (bound_a[:-1] + bound_a[1:])
    decay_a = np.exp(-k * h)
    pool_star_a = p.s_lh_per_h / k
    pool_a = np.empty(n + 1)
    r = state.releasable_lh
    pool_a[0] = r
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        pool: list[float] = []
        for rs, dk in zip(pool_star_a[lo:hi].tolist(), decay_a[lo:hi].tolist(), strict=True):
            r = rs + (r - rs) * dk
            pool.append(r)
        pool_a[lo + 1 : hi + 1] = pool
    return LhTrace(
        start_min=start_min,
        step_min=step_min,
        gnrh_nm=np.asarray(gnrh_nm, np.float64),
        bound=bound_a,
        desensitized=desens_a,
        releasable=pool_a,
        params=p,
    )


def reference_trace(
    gnrh_nm: Callable[[float], float],
    end_min: float,
    step_min: float,
    *,
    breakpoints_min: Sequence[float] = (),
    initial: GonadotrophState | None = None,
    params: GonadotrophParameters = HEINZE_1998,
    rtol: float = 1e-9,
    atol: float = 1e-11,
    method: str = "Radau",
) -> LhTrace:
    """The same model by ``solve_ivp`` (stiff Radau by default, analytic Jacobian), on the grid of
    :func:`integrate`.

    ``gnrh_nm(t_min)`` must be smooth between ``breakpoints_min``, where the solver restarts.
    """
    from scipy.integrate import solve_ivp  # noqa: PLC0415 - only the validation path needs it

    p = params
    state = initial or GonadotrophState.resting(p)
    grid = step_min * np.arange(round(end_min / step_min) + 1, dtype=np.float64)
    edges = sorted({0.0, float(grid[-1]), *(b for b in breakpoints_min if 0 < b < grid[-1])})

    def rhs(t_h: float, y: FloatArray) -> list[float]:
        f, b, d, r = y
        return list(derivatives((f, b, d, r), gnrh_nm(t_h * MIN_PER_H), p))

    def jac(t_h: float, y: FloatArray) -> FloatArray:
        g = p.kfb_per_nm_h * gnrh_nm(t_h * MIN_PER_H)
        _, b, _, r = y
        return np.array(
            [
                [-g, 0.0, p.kdf_per_h, 0.0],
                [g, -p.kbd_per_h, 0.0, 0.0],
                [0.0, p.kbd_per_h, -p.kdf_per_h, 0.0],
                [0.0, -p.a2_per_h * r, 0.0, -(p.a1_per_h + p.a2_per_h * b)],
            ]
        )

    y = np.array([state.free, state.bound, state.desensitized, state.releasable_lh])
    out = np.empty((4, len(grid)))
    out[:, 0] = y
    for lo, hi in itertools.pairwise(edges):
        inside = (grid > lo) & (grid <= hi)
        sol = solve_ivp(
            rhs,
            (lo / MIN_PER_H, hi / MIN_PER_H),
            y,
            method=method,
            jac=jac,
            rtol=rtol,
            atol=atol,
            dense_output=True,
        )
        if not sol.success:
            raise ArithmeticError(f"solve_ivp failed between {lo} and {hi} min: {sol.message}")
        if np.any(inside):
            out[:, inside] = sol.sol(grid[inside] / MIN_PER_H)
        y = sol.y[:, -1]
    steps = np.array([gnrh_nm(0.5 * (a + b)) for a, b in itertools.pairwise(grid)])
    return LhTrace(0.0, step_min, steps, out[1], out[2], out[3], p)


def pulse_responses(
    trace: LhTrace,
    pulses: Sequence[tuple[float, float, float]],
    reference_amplitude: float | None = None,
) -> list[PulseResponse]:
    """One :class:`PulseResponse` per ``(start_min, dose_ug, duration_min)`` inside the trace.

    A pulse's window runs from its start to the next pulse's start (or the end of the trace).
    """
    ordered = sorted(p for p in pulses if trace.start_min <= p[0] < trace.end_min)
    release = trace.release
    p = trace.params
    stimulated = p.a2_per_h * trace.bound * trace.releasable
    h = trace.step_min / MIN_PER_H
    out: list[PulseResponse] = []
    for k, (start, dose, duration) in enumerate(ordered):
        end = ordered[k + 1][0] if k + 1 < len(ordered) else trace.end_min
        i0, i1 = trace.index_at(start), trace.index_at(end)
        window = release[i0 : i1 + 1]
        peak = float(window.max())
        pre = float(release[i0])
        lh = float(0.5 * h * (stimulated[i0:i1].sum() + stimulated[i0 + 1 : i1 + 1].sum()))
        amplitude = peak - pre
        out.append(
            PulseResponse(
                start_min=start,
                dose_ug=dose,
                duration_min=duration,
                window_min=end - start,
                pre_release=pre,
                peak_release=peak,
                stimulated_lh=lh,
                relative=None if not reference_amplitude else amplitude / reference_amplitude,
            )
        )
    return out
