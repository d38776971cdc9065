"""``pumpctl fleet init|status|report|accept-key``: the fleet server, for its data manager.

Every command takes the server as ``--db URI`` or from ``[ship] to`` in ``-c FILE``. Reports
are written by the single-host report code, one file per shipped journal, plus an index.
Needs the ``fleet`` extra (psycopg 3).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pumpctl.cli.report import _time  # one reading of --from/--to for every report
from pumpctl.errors import EXIT_OK, EXIT_TAMPERED, EXIT_USAGE

REPORT_FORMATS = ("html", "csv", "fhir")
_EXTENSIONS = {"html": "html", "csv": "csv", "fhir": "fhir.json"}


def _dsn(args: argparse.Namespace) -> str | None:
    if args.db:
        return str(args.db)
    if args.config is not None:
        from pumpctl.config import load_config  # noqa: PLC0415

        return load_config(Path(args.config)).ship_to
    return None


def _connect(args: argparse.Namespace) -> tuple[Any, str] | None:
    dsn = _dsn(args)
    if not dsn:
        print(
            "pumpctl: error: no fleet server: give --db postgresql://... or -c FILE with "
            "[ship] to =",
            file=sys.stderr,
        )
        return None
    from pumpctl.fleet.db import connect, describe  # noqa: PLC0415  (psycopg loads only here)

    return connect(dsn, application="pumpctl fleet"), describe(dsn)


def _init(args: argparse.Namespace) -> int:
    from pumpctl.fleet.db import init_schema  # noqa: PLC0415

    opened = _connect(args)
    if opened is None:
        return EXIT_USAGE
    conn, where = opened
    with conn:
        created = init_schema(conn, where, ship_roles=args.grant_ship, read_roles=args.grant_read)
    print(f"fleet schema {'created' if created else 'already present'} on {where}")
    return EXIT_OK


def _summaries(args: argparse.Namespace, conn: Any, where: str) -> list[Any]:
    from pumpctl.fleet.db import require_schema  # noqa: PLC0415
    from pumpctl.fleet.views import list_journals  # noqa: PLC0415

    require_schema(conn, where)
    found = list_journals(
        conn, study=args.study, subject=args.subject, pump=args.pump, journal_id=args.journal
    )
    conn.rollback()
    return found


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _status(args: argparse.Namespace) -> int:
    opened = _connect(args)
    if opened is None:
        return EXIT_USAGE
    conn, where = opened
    with conn:
        journals = _summaries(args, conn, where)
    print(f"{len(journals)} journal(s) on {where}")
    header = ("STUDY", "SUBJECT", "PUMP", "JOURNAL", "RECORDS", "LAST RECORD", "SHIPPED", "KEY")
    rows = [
        (
            j.study or "-",
            j.subject_id or "-",
            j.pump_label or "-",
            j.journal_id[:12],
            str(j.signed_seq),
            _when(j.last_wall),
            _when(j.last_shipped),
            (j.signed_key_id or "-")
            + (f" ({j.unvouched_keys} key(s) awaiting accept-key)" if j.unvouched_keys else ""),
        )
        for j in journals
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return EXIT_OK


def _file_name(journal: Any, fmt: str) -> str:
    parts = [journal.study, journal.subject_id, journal.pump_label, journal.journal_id[:8]]
    stem = "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", p).strip("-") or "none" for p in parts)
    return f"{stem}.{_EXTENSIONS[fmt]}"


def _report(args: argparse.Namespace) -> int:
    start: datetime | None = args.start
    end: datetime | None = args.end
    if start is not None and end is not None and end <= start:
        print(
            f"pumpctl: error: --to = {end.isoformat()}: allowed a time after "
            f"--from = {start.isoformat()}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    opened = _connect(args)
    if opened is None:
        return EXIT_USAGE
    from pumpctl.fleet.views import read_journal  # noqa: PLC0415
    from pumpctl.report import _writer  # noqa: PLC0415
    from pumpctl.report.build import build_report_from_events, paused_gc  # noqa: PLC0415

    conn, where = opened
    writer = _writer(args.format)
    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    index: list[dict[str, str]] = []
    bad = 0
    with conn:
        journals = _summaries(args, conn, where)
        for journal in journals:
            events, integrity = read_journal(conn, journal, since=start)
            label = f"fleet {where} journal {journal.journal_id}"
            report = build_report_from_events(
                events, integrity, label, start=start, end=end, curve=args.format == "html"
            )
            target = out / _file_name(journal, args.format)
            with paused_gc():
                writer(report, target)
            bad += not integrity.ok
            index.append(
                {
                    "study": journal.study,
                    "subject": journal.subject_id,
                    "pump": journal.pump_label,
                    "journal_id": journal.journal_id,
                    "records": str(integrity.records),
                    "verdict": integrity.verdict,
                    "delivered": str(report.total.counts.get("delivered", 0)),
                    "missed": str(report.total.counts.get("missed", 0)),
                    "file": target.name,
                }
            )
    with (out / "index.csv").open("w", newline="", encoding="utf-8") as f:
        fields = ["study", "subject", "pump", "journal_id", "records", "verdict"]
        writer_csv = csv.DictWriter(f, fieldnames=[*fields, "delivered", "missed", "file"])
        writer_csv.writeheader()
        writer_csv.writerows(index)
    print(f"{len(index)} {args.format} report(s) and index.csv written to {out}")
    if not index:
        print("note: no shipped journal matches", file=sys.stderr)
    if bad:
        print(f"pumpctl: error: {bad} journal(s) do not verify on the server", file=sys.stderr)
        return EXIT_TAMPERED
    return EXIT_OK


def _accept_key(args: argparse.Namespace) -> int:
    from pumpctl.fleet.db import FleetError, load_psycopg, one_line  # noqa: PLC0415

    opened = _connect(args)
    if opened is None:
        return EXIT_USAGE
    conn, where = opened
    pg = load_psycopg()
    with conn:
        try:
            conn.execute(
                "SELECT pumpctl.accept_key(%s, %s, %s)", (args.journal_id, args.key_id, args.who)
            )
            conn.commit()
        except pg.Error as err:
            raise FleetError(f"fleet server {where}: {one_line(err)}") from err
    print(f"key {args.key_id} of journal {args.journal_id} accepted by {args.who}")
    return EXIT_OK


def _server_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URI", help="the fleet server: postgresql://USER@HOST/DB")
    parser.add_argument("-c", "--config", metavar="FILE", help="take the server from [ship] to")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", help="only this study")
    parser.add_argument("--subject", help="only this subject id")
    parser.add_argument("--pump", help="only this pump label")
    parser.add_argument("--journal", metavar="ID", help="only this journal id")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = subparsers.add_parser(
        "fleet", help="every shipped journal on the fleet's PostgreSQL (fleet extra)"
    )
    actions = fleet.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)

    p = actions.add_parser(
        "init",
        help="create the fleet schema (once, as the database owner) and grant roles",
        description="Create the pumpctl schema with its verifying triggers when absent, and "
        "grant shipping and reading roles. Refuses a schema pumpctl did not make.",
    )
    _server_args(p)
    p.add_argument("--grant-ship", action="append", default=[], metavar="ROLE", help="may ship")
    p.add_argument("--grant-read", action="append", default=[], metavar="ROLE", help="may read")
    p.set_defaults(func=_init)

    p = actions.add_parser("status", help="one line per shipped journal")
    _server_args(p)
    _filters(p)
    p.set_defaults(func=_status)

    p = actions.add_parser(
        "report",
        help="one report per shipped journal (html, csv, fhir) and an index.csv",
        description="Write the single-host report of every shipped journal that matches the "
        "filters into DIR, plus index.csv. Exit 3 when a journal's copy does not verify.",
    )
    _server_args(p)
    _filters(p)
    p.add_argument("--from", dest="start", type=_time, help="period start (default: all)")
    p.add_argument("--to", dest="end", type=_time, help="period end, exclusive")
    p.add_argument("--format", choices=REPORT_FORMATS, default="html", help="default: html")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="folder")
    p.set_defaults(func=_report)

    p = actions.add_parser(
        "accept-key",
        help="vouch for a key that replaced a lost one (after checking it on the host)",
    )
    _server_args(p)
    p.add_argument("journal_id", help="the journal id (fleet status)")
    p.add_argument("key_id", help="the key id pumpctl keys show prints on the host")
    p.add_argument("--who", required=True, help="who checked the key (kept with it)")
    p.set_defaults(func=_accept_key)
