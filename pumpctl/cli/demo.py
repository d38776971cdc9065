"""``pumpctl demo``: the simulator and the daemon together, a day of therapy in about a minute."""

from __future__ import annotations

import argparse
from pathlib import Path

from pumpctl.cli.args import Subparsers, add_command, positive_float
from pumpctl.errors import EXIT_FAILURE, EXIT_OK


def demo(args: argparse.Namespace) -> int:
    import tempfile  # noqa: PLC0415 - only this command needs it

    from pumpctl.demo import run_demo  # noqa: PLC0415 - keep other commands light

    work_dir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="pumpctl-demo-"))
    result = run_demo(work_dir, hours=args.hours, time_scale=args.time_scale)
    for line in result.lines:
        print(line)
    print(f"files: {result.work_dir}")
    return EXIT_OK if result.ok else EXIT_FAILURE


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "demo",
        help="pumpsim + daemon on a scaled clock: a day of therapy in about a minute",
        description=(
            "Start pumpsim on a pseudo-terminal and the daemon against it on a scaled clock, "
            "stream readable events, then print a summary, verify the journal and check the "
            "safety invariants against the simulator's ground-truth ledger."
        ),
        examples=[
            "pumpctl demo",
            "pumpctl demo --hours 6 --dir /tmp/pumpctl-demo",
        ],
    )
    parser.add_argument(
        "--hours", type=positive_float, default=24.0, help="simulated hours (default 24)"
    )
    parser.add_argument(
        "--time-scale", type=positive_float, default=1440.0, help="clock speed-up (default 1440)"
    )
    parser.add_argument("--dir", metavar="DIR", help="work folder (default: a new temp folder)")
    parser.set_defaults(func=demo)
