"""``pumpctl ship``: copy a journal's new records and signed head to the fleet's PostgreSQL.

Runs as its own short process (a systemd timer starts it), never inside the daemon: shipping
cannot block or slow delivery. Needs the ``fleet`` extra (psycopg 3); without it the command
says which extra to install.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pumpctl.cli.args import Subparsers, add_command, config_option, json_option, positive_int
from pumpctl.errors import EXIT_OK, UsageError

NO_SERVER = (
    "no fleet server: give --to postgresql://USER@HOST/DB or set [ship] to = in the configuration"
)


def _target(args: argparse.Namespace) -> tuple[Path, str]:
    """The journal and the server's URI, from the options or from ``-c FILE``."""
    journal: Path | None = args.journal or args.journal_pos
    dsn: str | None = args.to
    if args.config is not None and (journal is None or not dsn):
        from pumpctl.config import load_config  # noqa: PLC0415

        config = load_config(args.config)
        journal = journal or config.journal.path
        dsn = dsn or config.ship_to
    if journal is None:
        raise UsageError("give the journal: -c FILE, -j JOURNAL or JOURNAL")
    if not dsn:
        raise UsageError(NO_SERVER)
    return journal, dsn


def _run(args: argparse.Namespace) -> int:
    journal, dsn = _target(args)
    from pumpctl.cli.args import print_json  # noqa: PLC0415
    from pumpctl.daemon.logging import configure_logging  # noqa: PLC0415
    from pumpctl.fleet.ship import ship_journal  # noqa: PLC0415  (psycopg loads only here)

    # The result line is the output; structured events only for warnings, on stderr.
    configure_logging("auto", "warning", stream=sys.stderr)

    result = ship_journal(journal, dsn, timeout_s=args.timeout_s)
    if args.json:
        print_json(
            {
                "journal_id": result.journal_id,
                "server": result.server,
                "held_before": result.held_before,
                "head": {"seq": result.head.seq, "hash": result.head.hash},
                "shipped": result.shipped,
            }
        )
    else:
        print(result.line)
    return EXIT_OK


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "ship",
        help="copy the journal's new records to the fleet's PostgreSQL (fleet extra)",
        description=(
            "Copy the journal's records that the fleet server does not hold yet, and the head "
            "the daemon signed, in one transaction; the server re-verifies both. Idempotent and "
            "resumable: run it as often as you like (pumpctl-ship.timer runs it every few "
            "minutes). Reads the journal read-only and never waits on the daemon. Exit 0 when "
            "shipped or up to date, 1 when the server cannot be reached or used (nothing "
            "changed; run it again), 3 when the server refuses the journal (a fork, a journal "
            "behind the server's copy, or a signature that fails). Needs pip install "
            "'pumpctl[fleet]'."
        ),
        examples=[
            "pumpctl ship -c /etc/pumpctl/pumpctl.toml",
            "pumpctl ship -j journal.sqlite3 --to postgresql://bench3@fleet.example.org/study",
            "pumpctl ship -c /etc/pumpctl/pumpctl.toml --json | jq .shipped",
        ],
    )
    parser.add_argument(
        "journal_pos", nargs="?", type=Path, metavar="JOURNAL", help="the journal file"
    )
    parser.add_argument(
        "-j", "--journal", type=Path, metavar="JOURNAL", help="the journal file (same as JOURNAL)"
    )
    config_option(parser, help="the daemon's configuration: its journal and [ship] to")
    parser.add_argument(
        "--to",
        metavar="URI",
        help="the fleet server, postgresql://USER@HOST/DB (default: [ship] to); better keep the "
        "password in ~/.pgpass or PGPASSFILE than here",
    )
    parser.add_argument(
        "--timeout-s",
        type=positive_int,
        default=10,
        metavar="S",
        help="connection timeout (default 10)",
    )
    json_option(parser, "what was shipped")
    parser.set_defaults(func=_run)
