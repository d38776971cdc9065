"""``pumpctl run -c FILE``: the daemon, in the foreground (systemd supervises it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pumpctl.cli.args import Subparsers, add_command, config_option, positive_float


def run(args: argparse.Namespace) -> int:
    from pumpctl.daemon.runner import run_daemon  # noqa: PLC0415 - keep other commands light

    return run_daemon(Path(args.config), time_scale=args.time_scale)


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "run",
        help="run the delivery daemon in the foreground",
        description=(
            "Run the delivery daemon: lock the state directory, verify the journal, reconcile "
            "any uncertain pulse from pump evidence, self-test the pump, then deliver each slot "
            "the safety gate allows. Stops cleanly on SIGTERM/SIGINT; SIGHUP reloads the "
            "configuration as a journaled prescription change."
        ),
        examples=[
            "pumpctl run -c /etc/pumpctl/pumpctl.toml        # what the systemd unit runs",
            "pumpctl run -c bench.toml --time-scale 60      # against pumpsim --time-scale 60",
        ],
    )
    config_option(parser, required=True, help="configuration file")
    parser.add_argument(
        "--time-scale",
        type=positive_float,
        default=None,
        metavar="N",
        help="run N times faster than real time; accepted only against pumpsim at the same scale",
    )
    parser.set_defaults(func=run)
