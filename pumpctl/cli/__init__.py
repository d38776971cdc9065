"""The ``pumpctl`` command: one entry point, one subcommand module per area.

Each module in :data:`SUBCOMMANDS` exposes ``register(subparsers)``, which adds its parser(s)
and sets ``func`` on them. ``main`` turns every :class:`~pumpctl.errors.PumpctlError` into one
clear line on stderr and the documented exit code; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Protocol, cast

from pumpctl import __version__
from pumpctl.errors import EXIT_FAILURE, EXIT_USAGE, ConfigError, PumpctlError, exit_code_for

#: Modules under ``pumpctl.cli`` that contribute subcommands, in help order.
SUBCOMMANDS: tuple[str, ...] = (
    "run",
    "demo",
    "simulate",
    "config",
    "plan",
    "control",
    "log",
    "report",
    "keys",
    "ship",
    "fleet",
)


class _Registrar(Protocol):
    def register(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pumpctl",
        description=(
            "Pulsatile gonadorelin delivery controller (research software, not a medical device)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"pumpctl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = cast(_Registrar, importlib.import_module(f"pumpctl.cli.{name}"))
        module.register(subparsers)
    return parser


def report_error(error: PumpctlError) -> None:
    """Print an error as one line per problem, prefixed ``pumpctl: error:``."""
    lines = error.problems if isinstance(error, ConfigError) else [str(error)]
    for line in lines:
        print(f"pumpctl: error: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = cast(Handler | None, getattr(args, "func", None))
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return func(args)
    except PumpctlError as err:
        report_error(err)
        return exit_code_for(err)
    except KeyboardInterrupt:
        print("pumpctl: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
