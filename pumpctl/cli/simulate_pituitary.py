"""``pumpctl simulate --pituitary``: the options, and the predicted LH response after the run.

The model needs the optional ``[model]`` extra; without it the command says so in one line and
exits 1 before simulating anything. docs/pituitary.md explains every figure it prints.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pumpctl.cli.args import positive_float
from pumpctl.errors import ConfigError, PumpctlError
from pumpctl.physiology import require_model_extra
from pumpctl.physiology.counterfactual import Counterfactual

if TYPE_CHECKING:
    from pumpctl.physiology.simulated import PituitaryRequest
    from pumpctl.simulation import Simulation


def output_paths(journal: Path) -> dict[str, Path]:
    """Where the figure and tables go: beside the journal, named after it."""
    stem = journal.with_suffix("")
    return {
        "figure": stem.with_name(stem.name + ".pituitary.svg"),
        "pulses": stem.with_name(stem.name + ".pituitary-pulses.csv"),
        "days": stem.with_name(stem.name + ".pituitary-days.csv"),
        "trace": stem.with_name(stem.name + ".pituitary-trace.csv"),
    }


def pituitary_request(args: argparse.Namespace) -> PituitaryRequest | None:
    """The request, or None without ``--pituitary``; refuses before the simulation starts."""
    wanted = args.pituitary or args.pituitary_compare is not None
    if not wanted:
        return None
    from_h = args.pituitary_from_h
    if from_h is not None and args.pituitary_compare is None:
        raise ConfigError("--pituitary-from-h: only a --pituitary-compare counterfactual starts")
    if from_h is not None and from_h >= args.days * 24:
        raise ConfigError(
            f"--pituitary-from-h {from_h:g}: the run lasts {args.days * 24:g} h; start it before"
        )
    problem = require_model_extra("simulate --pituitary")
    if problem:
        raise PumpctlError(problem)
    for path in output_paths(Path(args.journal)).values():
        if path.exists():
            raise ConfigError(f"--pituitary: {path} exists; the prediction writes new files")
    from pumpctl.physiology.simulated import PituitaryRequest  # noqa: PLC0415

    return PituitaryRequest(
        compare=None if args.pituitary_compare is None else Counterfactual(args.pituitary_compare),
        compare_from_h=args.pituitary_from_h,
        slow_pulse_min=args.pituitary_slow_pulse_min,
        bridge=args.pituitary_bridge,
    )


def report_pituitary(simulation: Simulation, request: PituitaryRequest) -> None:
    """Predict, print the summary and write the figure and tables beside the journal."""
    from pumpctl.physiology.simulated import predict_run, write_outputs  # noqa: PLC0415

    config = simulation.config
    start = simulation.end - timedelta(days=simulation.options.days)
    result = predict_run(
        simulation.ledger.entries,
        concentration_ug_per_ml=float(config.prescription.concentration_ug_per_ml),
        dose_ug=float(config.prescription.dose_ug),
        syringe_ul=float(config.pump.syringe_volume_ul),
        start=start,
        end=simulation.end,
        timezone=config.prescription.timezone,
        request=request,
    )
    paths = output_paths(simulation.journal_path)
    write_outputs(result, paths)
    for line in result.lines():
        print(line)
    print("  files: " + ", ".join(str(p) for p in paths.values()))


def add_pituitary_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "predicted pituitary response (model, not a measurement; needs pumpctl[model])"
    )
    group.add_argument(
        "--pituitary",
        action="store_true",
        help="predict the LH response to what the simulated pump physically infused; writes "
        "JOURNAL.pituitary.svg, -pulses.csv, -days.csv and -trace.csv beside the journal",
    )
    group.add_argument(
        "--pituitary-compare",
        choices=[c.value for c in Counterfactual],
        metavar="FAULT",
        help="also predict, beside it, a MODEL-ONLY counterfactual in which a continuous-exposure "
        "fault goes unchecked (the daemon's interlocks are never relaxed): runaway, slow-pulse "
        "or continuous; implies --pituitary",
    )
    group.add_argument(
        "--pituitary-from-h",
        type=positive_float,
        metavar="H",
        help="hours into the run at which the counterfactual starts (default: the run's first "
        "runaway fault for runaway, else half-way)",
    )
    group.add_argument(
        "--pituitary-slow-pulse-min",
        type=positive_float,
        default=30.0,
        metavar="MIN",
        help="length of each pulse in the slow-pulse counterfactual (default 30)",
    )
    group.add_argument(
        "--pituitary-bridge",
        choices=["molar", "calibrated"],
        default="molar",
        help="plasma pg/mL to the model's nM: molar (unit conversion, default) or calibrated "
        "(a 5 µg bolus's peak = the paper's 0.5 nM); see docs/pituitary.md",
    )
