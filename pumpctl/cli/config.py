"""``pumpctl config check FILE``: validate a configuration and show what it will do."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from pumpctl.cadence import read_journal, resolve
from pumpctl.config import load_config
from pumpctl.core.clock import SystemClock
from pumpctl.errors import EXIT_OK, JournalError


def check(args: argparse.Namespace) -> int:
    """Print the effective prescription and limits; errors go through the CLI's error path."""
    config = load_config(Path(args.file))
    # The slots a daemon using this file would follow: a journal's anchor may already be in force.
    try:
        view = read_journal(config.journal.path, SystemClock())
    except JournalError as err:
        print(f"warning: {err}; slots shown as this file places them", file=sys.stderr)
        view = None
    cadence = resolve(config, view.prescription if view else None)
    shown = replace(config, prescription=cadence.prescription)
    for line in shown.summary_lines(anchor_from_journal=cadence.from_journal):
        print(line)
    print("configuration OK")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("config", help="check a configuration file")
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    checker = actions.add_parser(
        "check",
        help="validate FILE and print the effective prescription and limits",
        description=(
            "Validate FILE and print the effective prescription, derived pump settings and "
            "limits. Exit 0 when valid, 78 with one line per problem otherwise."
        ),
    )
    checker.add_argument("file", metavar="FILE", help="TOML configuration file")
    checker.set_defaults(func=check)
