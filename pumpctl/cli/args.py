"""Shared pieces of the subcommands: argument types, the common options, output and help.

Every option that means the same thing is spelled the same everywhere: ``-c/--config FILE``,
``-j/--journal JOURNAL``, ``-o/--output PATH`` (``-`` is standard output) and ``--json``. This
module imports only the standard library, so building the parser stays cheap; what a command
needs beyond that is imported inside its handler.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeAlias

# A string: the class is not subscriptable at run time.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def positive_float(text: str) -> float:
    """A number > 0 (time scales, simulated days, minutes)."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from err
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def positive_int(text: str) -> int:
    """A whole number > 0 (record counts)."""
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from err
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1 inclusive (probabilities)."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from err
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def add_command(
    subparsers: Subparsers,
    name: str,
    *,
    help: str,
    description: str,
    examples: Sequence[str],
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` has a description and an ``examples:`` block."""
    import textwrap  # noqa: PLC0415

    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    return subparsers.add_parser(
        name,
        help=help,
        # Filled here because the raw formatter, which keeps the examples as written, does not.
        description=textwrap.fill(description, width=88),
        epilog=epilog,
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_group(
    subparsers: Subparsers, name: str, *, help: str, description: str, dest: str
) -> Subparsers:
    """A command with actions below it (``config check``, ``log show``)."""
    parser = subparsers.add_parser(name, help=help, description=description)
    return parser.add_subparsers(dest=dest, metavar="ACTION", required=True)


def config_option(
    parser: argparse.ArgumentParser,
    *,
    required: bool = False,
    help: str = "",
) -> None:
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        metavar="FILE",
        required=required,
        help=help or "the daemon's configuration file",
    )


def journal_option(parser: argparse.ArgumentParser) -> None:
    """``JOURNAL`` (positional), ``-j JOURNAL``, or ``-c FILE`` naming the daemon's journal."""
    parser.add_argument(
        "journal_pos", nargs="?", type=Path, metavar="JOURNAL", help="the journal file"
    )
    parser.add_argument(
        "-j", "--journal", type=Path, metavar="JOURNAL", help="the journal file (same as JOURNAL)"
    )
    config_option(parser, help="read the journal path from this configuration file")


def journal_path(args: argparse.Namespace) -> Path:
    """The journal to read: ``-j`` or the positional, else the one ``-c`` configures."""
    from pumpctl.errors import UsageError  # noqa: PLC0415 - cheap, but only needed here

    given: Path | None = getattr(args, "journal", None) or getattr(args, "journal_pos", None)
    if given is not None:
        return given
    config: Path | None = getattr(args, "config", None)
    if config is not None:
        from pumpctl.config import load_config  # noqa: PLC0415 - pydantic only when used

        return load_config(config).journal.path
    raise UsageError("give the journal file (JOURNAL, -j JOURNAL or -c FILE)")


def json_option(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument(
        "--json", action="store_true", help=f"print {what} as JSON (typed fields), for scripts"
    )


def output_option(
    parser: argparse.ArgumentParser,
    *,
    required: bool = False,
    default_text: str = "standard output",
) -> None:
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PATH",
        required=required,
        help=f"file to write; - is standard output (default: {default_text})",
    )


def is_stdout(path: Path | None) -> bool:
    return path is None or str(path) == "-"


@contextlib.contextmanager
def open_output(path: Path | None) -> Iterator[TextIO]:
    """Standard output for ``None`` or ``-``, else the file, written in full or not replaced.

    A file is written next to its target and renamed into place, so an interrupted write never
    leaves half a file under the name a script will read.
    """
    if is_stdout(path):
        yield sys.stdout
        sys.stdout.flush()
        return
    assert path is not None  # noqa: S101 - is_stdout covers None
    temporary = path.with_name(f".{path.name}.partial")
    try:
        handle = temporary.open("w", encoding="utf-8")
    except OSError as err:
        # Name the file the user asked for, not the temporary beside it.
        raise OSError(err.errno, err.strerror, str(path)) from None
    with handle as out:
        try:
            yield out
        except BaseException:
            out.close()
            temporary.unlink(missing_ok=True)
            raise
    temporary.replace(path)


def print_json(value: Any, out: TextIO | None = None) -> None:
    """One JSON document on one line; Decimals become numbers, times ISO 8601 text."""
    import json  # noqa: PLC0415

    print(json.dumps(value, default=json_default, ensure_ascii=False), file=out or sys.stdout)


def json_default(value: Any) -> Any:
    from datetime import date, datetime, time  # noqa: PLC0415
    from decimal import Decimal  # noqa: PLC0415

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
