"""``pumpctl simulate``: days of therapy on a virtual clock, as fast as the machine allows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pumpctl.cli.args import Subparsers, add_command, fraction, positive_float
from pumpctl.cli.simulate_pituitary import add_pituitary_arguments, pituitary_request
from pumpctl.errors import EXIT_FAILURE, EXIT_OK


def simulate(args: argparse.Namespace) -> int:
    # Imported here so `pumpctl --help` stays quick.
    from pumpctl.config import load_config  # noqa: PLC0415
    from pumpctl.daemon.logging import configure_logging  # noqa: PLC0415
    from pumpctl.simulation import (  # noqa: PLC0415
        SIMULATION_EPOCH,
        Simulation,
        SimulationOptions,
        default_config,
    )

    pituitary = pituitary_request(args)
    configure_logging("console", "debug" if args.verbose else "critical", stream=sys.stderr)
    config = (
        load_config(Path(args.config), now=SIMULATION_EPOCH) if args.config else default_config()
    )
    options = SimulationOptions(
        days=args.days,
        seed=args.seed,
        faults=list(args.fault),
        fault_rate=args.fault_rate,
        operator_delay_min=args.operator_delay_min,
        driver=args.driver,
        idle_skip=not args.every_turn,
    )
    simulation = Simulation(config, Path(args.journal), options)
    bar = ProgressBar(enabled=sys.stderr.isatty() and not args.verbose)
    summary = simulation.run(progress=bar.update)
    bar.close()
    for line in summary.lines():
        print(line)
    if pituitary is not None:
        from pumpctl.cli.simulate_pituitary import report_pituitary  # noqa: PLC0415

        report_pituitary(simulation, pituitary)
    return EXIT_OK if summary.ok else EXIT_FAILURE


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most every whole percent."""

    def __init__(self, *, enabled: bool, width: int = 40) -> None:
        self.enabled = enabled
        self.width = width
        self._shown = -1

    def update(self, fraction: float) -> None:
        percent = int(fraction * 100)
        if not self.enabled or percent == self._shown:
            return
        self._shown = percent
        filled = int(self.width * fraction)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}%")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "simulate",
        help="run the whole daemon against the in-process simulator on a virtual clock",
        description=(
            "Days of therapy in seconds: the same delivery code, gate and journal as `run`, "
            "against the in-process simulator on a virtual clock, with a simulated operator who "
            "acknowledges alarms and refills the syringe after a delay. Deterministic for a "
            "seed. Prints a summary and checks the safety invariants against the simulator's "
            "ground truth; exit 1 if any was violated."
        ),
        examples=[
            "pumpctl simulate --days 7 -j /tmp/week.sqlite3",
            "pumpctl simulate --days 30 --fault-rate 0.05 --seed 3 -j /tmp/month.sqlite3",
            "pumpctl simulate --days 1 --fault stall@run:3:0.5 -c bench.toml -j /tmp/day.sqlite3",
            "pumpctl simulate --days 3 --pituitary-compare continuous -j /tmp/lh.sqlite3",
        ],
    )
    parser.add_argument("--days", type=positive_float, required=True, help="simulated days")
    parser.add_argument("--seed", type=int, default=0, help="seed for random faults (default 0)")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[@WHEN]",
        help="inject a simulator fault (repeatable), e.g. stall@run:3:0.5",
    )
    parser.add_argument(
        "--fault-rate",
        type=fraction,
        default=0.0,
        metavar="P",
        help="probability per pulse of a random pump or link fault (default 0)",
    )
    parser.add_argument(
        "--operator-delay-min",
        type=positive_float,
        default=30.0,
        metavar="MIN",
        help="minutes before the simulated operator acknowledges an alarm (default 30)",
    )
    parser.add_argument(
        "--driver",
        choices=("ne1000", "harvard11"),
        help="pump driver and simulated pump family (default: the configuration's)",
    )
    parser.add_argument(
        "-j", "--journal", required=True, metavar="JOURNAL", help="new journal file"
    )
    parser.add_argument(
        "-c", "--config", metavar="FILE", help="configuration (default: the embedded demo)"
    )
    parser.add_argument(
        "--every-turn",
        action="store_true",
        help="run every turn of the daemon's loop instead of skipping the idle ones between "
        "pulses: slower, the same journal (for checking the skip)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every event to stderr")
    add_pituitary_arguments(parser)
    parser.set_defaults(func=simulate)
