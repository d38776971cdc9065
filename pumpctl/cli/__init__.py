"""The ``pumpctl`` command: one entry point, one subcommand module per area.

Each module in :data:`SUBCOMMANDS` exposes ``register(subparsers)``, which adds its parser(s)
and sets ``func`` on them. The modules import only the standard library and
:mod:`pumpctl.cli.args` at the top; everything heavier (pydantic configuration, the journal,
the report stack) is imported inside the handler that needs it, so ``pumpctl status`` starts
quickly.

``main`` is the one error boundary: a :class:`~pumpctl.errors.PumpctlError`, an ``OSError``
or an SQLite error becomes one line on stderr and the documented exit code (0 ok, 1 failure,
2 usage, 3 tampered journal, 78 configuration); no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, cast

from pumpctl import __version__
from pumpctl.cli import style
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
    "notify",
    "completion",
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
        epilog=(
            "examples:\n"
            "  pumpctl demo\n"
            "  pumpctl config check -c /etc/pumpctl/pumpctl.toml\n"
            "  pumpctl status\n"
            "  pumpctl COMMAND --help\n\n"
            "exit codes: 0 ok, 1 failure, 2 usage, 3 tampered journal, 78 configuration"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pumpctl {__version__}")
    _color_option(parser, default="auto")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = cast(_Registrar, importlib.import_module(f"pumpctl.cli.{name}"))
        module.register(subparsers)
    for leaf in leaf_parsers(parser):
        # Accepted after the subcommand too (`pumpctl status --color never`).
        _color_option(leaf, default=argparse.SUPPRESS)
    return parser


def _color_option(parser: argparse.ArgumentParser, *, default: str) -> None:
    parser.add_argument(
        "--color",
        choices=style.COLOR_CHOICES,
        default=default,
        help="colour the output: auto (a terminal without NO_COLOR), always or never",
    )


def leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below ``parser`` that has no subcommands of its own."""
    groups = [
        action
        # argparse offers no public walk over its subcommands.
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    if not groups:
        yield parser
        return
    seen: set[int] = set()
    for group in groups:
        for child in group.choices.values():
            if id(child) not in seen:  # aliases map several names to one parser
                seen.add(id(child))
                yield from leaf_parsers(child)


def report_error(error: PumpctlError) -> None:
    """Print an error as one line per problem, prefixed ``pumpctl: error:``."""
    lines = error.problems if isinstance(error, ConfigError) else [str(error)]
    for line in lines:
        print(f"pumpctl: error: {line}", file=sys.stderr)


def os_error_line(err: OSError) -> str:
    """``PATH: reason`` for an OS error, as ``cp`` and ``journalctl`` say it."""
    reason = err.strerror or str(err)
    if err.filename is not None:
        target = f"{err.filename} -> {err.filename2}" if err.filename2 is not None else err.filename
        return f"{target}: {reason}"
    return reason


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one return per error class
    parser = build_parser()
    args = parser.parse_args(argv)
    style.configure(getattr(args, "color", "auto"))
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
        # `pumpctl log show | head`: the reader left; say nothing more on a closed pipe.
        _silence_stdout()
        return EXIT_FAILURE
    except OSError as err:
        print(f"pumpctl: error: {os_error_line(err)}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as err:
        # sqlite3 is imported only by the commands that read a journal; an error from it that
        # escaped the journal's own translation is still one line, never a traceback.
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is not None and isinstance(err, sqlite3.Error):
            print(f"pumpctl: error: journal database: {err}", file=sys.stderr)
            return EXIT_FAILURE
        raise


def _silence_stdout() -> None:
    import os  # noqa: PLC0415

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
