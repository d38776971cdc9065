"""A simulated year's predicted LH trace: how long the pituitary model takes (target <= 5 s).

A year of the standard regimen (10 µg as a 1-min bolus every 90 min: 5840 pulses) through the
whole prediction: plasma on a 1-min grid, the gonadotroph model, one LH pulse per pulse, and the
per-day summary. For scale, the same model by ``solve_ivp`` (Radau, the validation reference) is
timed over one day and its year extrapolated, with the two solvers' largest disagreement.

    python benchmarks/bench_pituitary.py [--days 365]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from _bench import figure

from pumpctl.physiology import require_model_extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365.0)
    args = parser.parse_args()
    problem = require_model_extra("bench_pituitary")
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from pumpctl.core.exposure import level_pg_per_ml  # noqa: PLC0415
    from pumpctl.core.pituitary import MOLAR  # noqa: PLC0415
    from pumpctl.physiology.lh import pulse_responses, reference_trace  # noqa: PLC0415
    from pumpctl.physiology.predict import predict, regimen  # noqa: PLC0415
    from pumpctl.physiology.summary import per_day  # noqa: PLC0415

    pulses = regimen(10.0, 90.0, 1.0, args.days)
    end = args.days * 1440
    wall0, cpu0 = time.perf_counter(), time.process_time()
    prediction = predict(pulses, 0.0, end, label="year", reference_dose_ug=10.0)
    days = per_day(prediction, datetime(2026, 1, 1, tzinfo=UTC))
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    points = len(prediction.trace.bound)
    print(f"  {len(prediction.pulses)} pulses, {len(days)} days, {points} grid points")

    day = [p for p in pulses if p.start_min < 1440]
    edges = [x for p in day for x in (p.start_min, p.start_min + p.duration_min)]
    timings = {}
    traces = {}
    for method, rtol in (("LSODA", 1e-4), ("Radau", 1e-6)):
        ref0 = time.perf_counter()
        traces[method] = reference_trace(
            lambda t: MOLAR.nm(level_pg_per_ml(day, t)),
            1440.0,
            1.0,
            breakpoints_min=edges,
            rtol=rtol,
            atol=1e-9,
            method=method,
        )
        timings[method] = (rtol, time.perf_counter() - ref0)
    keys = [(p.start_min, p.dose_ug, p.duration_min) for p in day]
    fast = [r for r in prediction.pulses if r.start_min < 1440]
    slow = pulse_responses(traces["Radau"], keys)
    # The fast trace's last pulse of the day has a full window; the reference's is cut at 24 h.
    worst = max(
        abs(a.amplitude - b.amplitude) / b.amplitude
        for a, b in zip(fast[:-1], slow[:-1], strict=True)
    )

    figure(f"LH trace, {args.days:g} days, wall s", f"{wall_s:.2f}", "<= 5 s", wall_s <= 5.0)
    figure(f"LH trace, {args.days:g} days, CPU s", f"{cpu_s:.2f}", "(informative)")
    for method, (rtol, took) in timings.items():
        figure(
            f"solve_ivp {method} rtol {rtol:g}, 1 day, s (a year, extrapolated)",
            f"{took:.2f} ({took * 365:.0f})",
            "(informative: why solve_ivp is the reference only)",
        )
    figure(
        "LH pulse amplitude, grid vs solve_ivp Radau (day 1), max rel diff",
        f"{worst:.2e}",
        "<= 5e-3",
        worst <= 5e-3,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
