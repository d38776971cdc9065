"""``pumpctl ship``: copy a journal's new records and signed head to the fleet's PostgreSQL.

Runs as its own short process (a systemd timer starts it), never inside the daemon: shipping
cannot block or slow delivery. Needs the ``fleet`` extra (psycopg 3).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pumpctl.errors import EXIT_OK, EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    journal: Path | None = args.journal
    dsn: str | None = args.to
    if args.config is not None:
        from pumpctl.config import load_config  # noqa: PLC0415

        config = load_config(Path(args.config))
        journal = journal or config.journal.path
        dsn = dsn or config.ship_to
    if journal is None:
        print("pumpctl: error: give -c FILE or -j JOURNAL", file=sys.stderr)
        return EXIT_USAGE
    if not dsn:
        print(
            "pumpctl: error: no fleet server: give --to postgresql://... or set [ship] to = "
            "in the configuration",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from pumpctl.daemon.logging import configure_logging  # noqa: PLC0415
    from pumpctl.fleet.ship import ship_journal  # noqa: PLC0415  (psycopg loads only here)

    # The result line is the output; structured events only for warnings, on stderr.
    configure_logging("auto", "warning", stream=sys.stderr)

    result = ship_journal(journal, dsn, timeout_s=args.timeout_s)
    print(result.line)
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ship",
        help="copy the journal's new records to the fleet's PostgreSQL (fleet extra)",
        description=(
            "Copy the journal's records that the fleet server does not hold yet, and the head "
            "the daemon signed, in one transaction; the server re-verifies both. Idempotent and "
            "resumable: run it as often as you like. Exit 0 when shipped or up to date, 1 when "
            "the server cannot be reached or used (nothing changed; run it again), 3 when the "
            "server refuses the journal (a fork or a signature that fails)."
        ),
    )
    parser.add_argument("-c", "--config", metavar="FILE", help="configuration ([journal], [ship])")
    parser.add_argument("-j", "--journal", type=Path, help="the journal file (default: -c's)")
    parser.add_argument(
        "--to", metavar="URI", help="postgresql://USER@HOST/DB (default: [ship] to)"
    )
    parser.add_argument(
        "--timeout-s", type=int, default=10, metavar="S", help="connection timeout (default 10)"
    )
    parser.set_defaults(func=_run)
