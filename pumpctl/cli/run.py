"""``pumpctl run -c FILE``: the daemon, in the foreground (systemd supervises it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pumpctl.cli.args import positive_float


def run(args: argparse.Namespace) -> int:
    from pumpctl.daemon.runner import run_daemon  # noqa: PLC0415 - keep other commands light

    return run_daemon(Path(args.config), time_scale=args.time_scale)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the delivery daemon in the foreground",
        description=(
            "Run the delivery daemon: lock the state directory, verify the journal, reconcile "
            "any uncertain pulse from pump evidence, self-test the pump, then deliver each slot "
            "the safety gate allows. Stops cleanly on SIGTERM/SIGINT; SIGHUP reloads the "
            "configuration as a journaled prescription change."
        ),
    )
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="configuration")
    parser.add_argument(
        "--time-scale",
        type=positive_float,
        default=None,
        metavar="N",
        help="run N times faster than real time; accepted only against pumpsim at the same scale",
    )
    parser.set_defaults(func=run)
