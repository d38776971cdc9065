"""The exposure interlock against the pituitary model: the study behind docs/pituitary.md.

Sweeps interval, bolus length and dose one at a time around the standard regimen (10 µg as a
1-min bolus every 90 min), under both GnRH bridges, and prints Markdown: the gate's steady-state
fraction and verdict at its default threshold, the model's sustained LH pulse, where that pulse
falls below half the standard regimen's, and where the gate's boundary lies. Writes the figure.

    .venv/bin/python docs/pituitary_study.py [--svg docs/pituitary-study.svg]

Needs the [model] extra. Takes a few seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pumpctl.physiology import require_model_extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=Path(__file__).with_name("pituitary-study.svg"))
    args = parser.parse_args()
    problem = require_model_extra("docs/pituitary_study.py")
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from pumpctl.core.exposure import single_pulse_peak  # noqa: PLC0415
    from pumpctl.core.pituitary import PAPER_PULSE_NM, GnrhBridge  # noqa: PLC0415
    from pumpctl.physiology import figures  # noqa: PLC0415
    from pumpctl.physiology import study as s  # noqa: PLC0415
    from pumpctl.physiology.predict import DEFAULT_SETTINGS, ModelSettings  # noqa: PLC0415

    bridges = {
        "molar (default)": DEFAULT_SETTINGS,
        "calibrated": ModelSettings(
            bridge=GnrhBridge.calibrated(single_pulse_peak(5.0, 1.0), PAPER_PULSE_NM)
        ),
    }
    values = {
        "interval": [30.0, 45.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 80.0, 90.0, 105.0, 120.0],
        "bolus": [1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 45.0, 60.0, 75.0],
        "dose": [1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 25.0],
    }
    sweep = {"interval": s.interval_axis, "bolus": s.bolus_axis, "dose": s.dose_axis}
    axes = {
        axis: {name: sweep[axis](values[axis], settings) for name, settings in bridges.items()}
        for axis in values
    }
    thresholds = s.default_thresholds()
    threshold = thresholds[90]
    admitted = {
        "interval": s.shortest_admitted_interval(threshold),
        "bolus": s.longest_admitted_bolus(threshold),
    }

    print("## Default thresholds by minimum interval\n")
    print(
        "| min_interval_min | default threshold | shortest interval admitted | "
        "longest bolus admitted at 90 min |"
    )
    print("|---|---|---|---|")
    for minimum, value in thresholds.items():
        longest = s.longest_admitted_bolus(value)
        bolus = "none: 90-min pulses are refused" if longest is None else f"{longest:.1f} min"
        print(
            f"| {minimum} | {value:.3f} | {s.shortest_admitted_interval(value):.1f} min | {bolus} |"
        )
    for axis, per_bridge in axes.items():
        names = list(per_bridge)
        print(f"\n## Axis: {axis}\n")
        print(
            f"| {axis} | gate fraction | default gate | "
            + " | ".join(f"LH pulse, {n}" for n in names)
            + " | "
            + " | ".join(f"kept of rested, {n}" for n in names)
            + " |"
        )
        print("|---|---|---|" + "---|" * 2 * len(names))
        first = per_bridge[names[0]]
        for k, point in enumerate(first):
            x = {"interval": point.interval_min, "bolus": point.bolus_min, "dose": point.dose_ug}
            verdict = "admitted" if point.admitted(threshold) else "refused"
            cells = " | ".join(f"{per_bridge[n][k].relative_to_standard:.0%}" for n in names)
            kept = " | ".join(f"{per_bridge[n][k].kept_of_rested:.0%}" for n in names)
            print(f"| {x[axis]:g} | {point.gate_fraction:.3f} | {verdict} | {cells} | {kept} |")
        print()
        for name in names:
            points = per_bridge[name]
            xs = values[axis][: len(points)]
            if axis == "dose":
                # A smaller dose gives a smaller pulse without any desensitization: on this axis
                # the measure is how much of a rested pituitary's pulse is kept.
                ys, what = [p.kept_of_rested for p in points], "the pulse kept of a rested one"
            else:
                ys, what = [p.relative_to_standard for p in points], "the sustained LH pulse"
            where = s.crossing(xs, ys, s.DESENSITIZED_BELOW)
            text = "not within the sweep" if where is None else f"at {where:.1f}"
            print(f"- {name}: {what} falls below half {text}")
        if axis in admitted:
            print(f"- the default gate's boundary: {admitted[axis]:.1f}")
        else:
            print("- the gate's exposure fraction does not depend on the dose")
    args.svg.write_text(figures.study(axes, threshold, admitted), encoding="utf-8")
    print(f"\nfigure: {args.svg}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
