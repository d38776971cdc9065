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
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pumpctl.cli import style
from pumpctl.cli.args import Subparsers, add_command, add_group, config_option, json_option
from pumpctl.cli.report import _time  # one reading of --from/--to for every report
from pumpctl.errors import EXIT_OK, EXIT_TAMPERED, UsageError

REPORT_FORMATS = ("html", "pdf", "csv", "json", "fhir")
_EXTENSIONS = {"html": "html", "pdf": "pdf", "csv": "csv", "json": "json", "fhir": "fhir.json"}
#: The columns of a fleet report's index.csv, one row per journal (docs/fleet.md).
INDEX_FIELDS = (
    "study",
    "subject",
    "pump",
    "journal_id",
    "records",
    "verdict",
    "scheduled",
    "delivered",
    "partial",
    "uncertain",
    "missed",
    "denied",
    "adherence_pct",
    "delivered_dose_ug",
    "unexplained_flows",
    "unexplained_flow_dose_ug",
    "last_shipped",
    "file",
)


def _dsn(args: argparse.Namespace) -> str | None:
    if args.db:
        return str(args.db)
    if args.config is not None:
        from pumpctl.config import load_config  # noqa: PLC0415

        return load_config(args.config).ship_to
    return None


def _connect(args: argparse.Namespace) -> tuple[Any, str]:
    dsn = _dsn(args)
    if not dsn:
        raise UsageError(
            "no fleet server: give --db postgresql://USER@HOST/DB or -c FILE with [ship] to ="
        )
    from pumpctl.fleet.db import connect, describe  # noqa: PLC0415  (psycopg loads only here)

    return connect(dsn, application="pumpctl fleet"), describe(dsn)


def _init(args: argparse.Namespace) -> int:
    from pumpctl.fleet.db import init_schema  # noqa: PLC0415

    conn, where = _connect(args)
    with conn:
        created = init_schema(conn, where, ship_roles=args.grant_ship, read_roles=args.grant_read)
    print(f"fleet schema {'created' if created else 'already present'} on {where}")
    return EXIT_OK


def _summaries(
    args: argparse.Namespace, conn: Any, where: str, *, refused_only: bool = False
) -> list[Any]:
    from pumpctl.fleet.db import require_schema  # noqa: PLC0415
    from pumpctl.fleet.views import list_journals  # noqa: PLC0415

    require_schema(conn, where)
    found = list_journals(
        conn,
        study=args.study,
        subject=args.subject,
        pump=args.pump,
        journal_id=args.journal,
        refused_only=refused_only,
    )
    conn.rollback()
    return found


def printable(text: str) -> str:
    """Text from the server as one safe line: control characters (a terminal escape a host put
    in its subject id or a refusal reason) become ``?``."""
    return "".join("?" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)


def spreadsheet_safe(text: str) -> str:
    """A host-supplied cell that a spreadsheet will not run as a formula (``=``, ``+``, ``-``,
    ``@`` first): such a cell gets a leading ``'``, as OWASP advises for CSV exports."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _status(args: argparse.Namespace) -> int:
    from pumpctl.cli.args import print_json  # noqa: PLC0415

    conn, where = _connect(args)
    with conn:
        journals = _summaries(args, conn, where, refused_only=True)
    if args.json:
        print_json({"server": where, "journals": [j.as_json() for j in journals]})
        return EXIT_OK
    print(f"{len(journals)} journal(s) on {where}")
    header = ("STUDY", "SUBJECT", "PUMP", "JOURNAL", "RECORDS", "LAST RECORD", "SHIPPED", "KEY")
    rows = [
        tuple(
            printable(cell)
            for cell in (
                j.study or "-",
                j.subject_id or "-",
                j.pump_label or "-",
                j.journal_id[:12],
                str(j.signed_seq),
                _when(j.last_wall),
                _when(j.last_shipped),
                j.signed_key_id or "-",
            )
        )
        for j in journals
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    notes = [printable(f"journal {j.journal_id}: {note}") for j in journals for note in j.notes()]
    if notes:
        print()
        for note in notes:
            print(f"{style.paint('note', 'bold')}: {note}")
    return EXIT_OK


def _file_name(journal: Any, fmt: str) -> str:
    parts = [journal.study, journal.subject_id, journal.pump_label, journal.journal_id[:8]]
    stem = "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", p).strip("-") or "none" for p in parts)
    return f"{stem}.{_EXTENSIONS[fmt]}"


def _report(args: argparse.Namespace) -> int:
    start: datetime | None = args.start
    end: datetime | None = args.end
    if start is not None and end is not None and end <= start:
        raise UsageError(
            f"--to = {end.isoformat()}: allowed a time after --from = {start.isoformat()}"
        )
    if str(args.output) == "-":
        raise UsageError("-o names a folder for the reports and index.csv, not standard output")
    conn, where = _connect(args)
    from pumpctl.fleet.views import read_journal  # noqa: PLC0415
    from pumpctl.report import CURVES, report_from_events, writer_for  # noqa: PLC0415
    from pumpctl.report.build import paused_gc  # noqa: PLC0415
    from pumpctl.report.outcomes import SlotOutcome  # noqa: PLC0415

    writer = writer_for(args.format)
    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    index: list[dict[str, str]] = []
    bad = 0
    with conn:
        journals = _summaries(args, conn, where)
        for journal in journals:
            with paused_gc():
                events, integrity, urn = read_journal(conn, journal, since=start)
                report = report_from_events(
                    events,
                    integrity,
                    source=f"fleet {where} journal {journal.journal_id}",
                    journal_id=urn,
                    start=start,
                    end=end,
                    curve=CURVES[args.format],
                )
                target = out / _file_name(journal, args.format)
                writer(report, target)
            bad += not integrity.ok
            total = report.total
            adherence = total.adherence_pct
            index.append(
                {
                    "study": spreadsheet_safe(journal.study),
                    "subject": spreadsheet_safe(journal.subject_id),
                    "pump": spreadsheet_safe(journal.pump_label),
                    "journal_id": journal.journal_id,
                    "records": str(integrity.records),
                    "verdict": integrity.verdict,
                    "scheduled": str(total.scheduled),
                    "delivered": str(total.counts[SlotOutcome.DELIVERED]),
                    "partial": str(total.counts[SlotOutcome.PARTIAL]),
                    "uncertain": str(total.counts[SlotOutcome.UNCERTAIN]),
                    "missed": str(total.counts[SlotOutcome.MISSED]),
                    "denied": str(total.counts[SlotOutcome.DENIED]),
                    "adherence_pct": "" if adherence is None else str(adherence),
                    "delivered_dose_ug": str(total.delivered_dose_ug),
                    # SR-26: a study's index must show a subject who received flow no pulse
                    # commanded (its dose: flows of known volume only).
                    "unexplained_flows": str(total.unexplained_flows),
                    "unexplained_flow_dose_ug": str(total.unexplained_flow_dose_ug),
                    "last_shipped": _when(journal.last_shipped),
                    "file": target.name,
                }
            )
    with (out / "index.csv").open("w", newline="", encoding="utf-8") as f:
        writer_csv = csv.DictWriter(f, fieldnames=INDEX_FIELDS)
        writer_csv.writeheader()
        writer_csv.writerows(index)
    print(f"{len(index)} {args.format} report(s) and index.csv written to {out}")
    if not index:
        print("note: no shipped journal matches", file=sys.stderr)
    if bad:
        print(f"pumpctl: error: {bad} journal(s) do not verify on the server", file=sys.stderr)
        return EXIT_TAMPERED
    return EXIT_OK


def _resolve_journal(conn: Any, where: str, given: str) -> str:
    """The full id of the one shipped journal ``given`` names (the id or a prefix of it)."""
    from pumpctl.fleet.views import list_journals  # noqa: PLC0415

    found = [j.journal_id for j in list_journals(conn, journal_id=given)]
    conn.rollback()
    if given in found:
        return given
    if not found:
        raise UsageError(
            f"journal {given!r}: the fleet server {where} holds no such journal "
            "(pumpctl fleet status lists them)"
        )
    if len(found) > 1:
        raise UsageError(f"journal {given!r} names {len(found)} journals: give more of its id")
    return found[0]


def _accept_key(args: argparse.Namespace) -> int:
    from pumpctl.fleet.db import FleetError, load_psycopg, one_line, require_schema  # noqa: PLC0415

    conn, where = _connect(args)
    pg = load_psycopg()
    with conn:
        require_schema(conn, where)
        journal_id = _resolve_journal(conn, where, args.journal_id)
        try:
            conn.execute(
                "SELECT pumpctl.accept_key(%s, %s, %s)", (journal_id, args.key_id, args.who)
            )
            conn.commit()
        except pg.Error as err:
            raise FleetError(f"fleet server {where}: {one_line(err)}") from err
    print(f"key {args.key_id} of journal {journal_id} accepted by {args.who}")
    return EXIT_OK


def _server_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URI",
        help="the fleet server, postgresql://USER@HOST/DB (keep passwords in ~/.pgpass)",
    )
    config_option(parser, help="take the server from this configuration's [ship] to")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", help="only this study")
    parser.add_argument("--subject", help="only this subject id")
    parser.add_argument("--pump", help="only this pump label")
    parser.add_argument("--journal", metavar="ID", help="only this journal (its id or a prefix)")


def register(subparsers: Subparsers) -> None:
    actions = add_group(
        subparsers,
        "fleet",
        help="every shipped journal on the fleet's PostgreSQL (fleet extra)",
        description=(
            "The fleet server, for its data manager: create its schema, list the shipped "
            "journals, write their reports, vouch for a replaced key. The server is --db URI "
            "or [ship] to in -c FILE. Needs pip install 'pumpctl[fleet]'."
        ),
        dest="fleet_command",
    )

    p = add_command(
        actions,
        "init",
        help="create the fleet schema (once, as the database owner) and grant roles",
        description=(
            "Create the pumpctl schema with its verifying triggers when absent, and grant "
            "shipping and reading roles (the roles must exist: CREATE ROLE ... LOGIN). Run it "
            "again to grant more roles. Refuses a schema pumpctl did not make."
        ),
        examples=[
            "pumpctl fleet init --db postgresql://postgres@fleet.example.org/study "
            "--grant-ship bench3 --grant-read monitor",
        ],
    )
    _server_args(p)
    p.add_argument("--grant-ship", action="append", default=[], metavar="ROLE", help="may ship")
    p.add_argument("--grant-read", action="append", default=[], metavar="ROLE", help="may read")
    p.set_defaults(func=_init)

    p = add_command(
        actions,
        "status",
        help="one line per shipped journal, and what needs looking at",
        description=(
            "One line per shipped journal: study, subject, pump, journal id, records held (up "
            "to the last signed head), the host time of its last record, when the server last "
            "received records, and the key that signed them. Notes follow for journals whose "
            "shipments the server refused (a fork, a rewritten or rolled-back host journal, a "
            "key replaced without the old key's signature) and for hosts whose clock runs "
            "ahead of the server's. Any role granted --grant-read may run it."
        ),
        examples=[
            "pumpctl fleet status --db postgresql://monitor@fleet.example.org/study",
            "pumpctl fleet status -c /etc/pumpctl/pumpctl.toml --study GNRH-2",
            "pumpctl fleet status --db postgresql://monitor@fleet/study --json | jq '.journals[]'",
        ],
    )
    _server_args(p)
    _filters(p)
    json_option(p, "every journal and its notes")
    p.set_defaults(func=_status)

    p = add_command(
        actions,
        "report",
        help="one report per shipped journal (html, pdf, csv, json, fhir) and an index.csv",
        description=(
            "Write the single-host report of every shipped journal that matches the filters "
            "into the folder -o DIR, one file per journal named study_subject_pump_journal, "
            "plus index.csv (one row per journal: its verdict, delivered and missed pulses). "
            "The server's copy is re-verified while it is read; a report covers what was "
            "shipped, up to the last signed head. Exit 3 when a journal's copy does not verify "
            "(its report is still written and says so at the top)."
        ),
        examples=[
            "pumpctl fleet report --db postgresql://monitor@fleet/study --study GNRH-2 -o reports/",
            "pumpctl fleet report -c /etc/pumpctl/pumpctl.toml --subject S-014 --format fhir "
            "-o out/",
            "pumpctl fleet report --db postgresql://monitor@fleet/study --format csv "
            "--from 2026-03-01 --to 2026-04-01 -o march/",
        ],
    )
    _server_args(p)
    _filters(p)
    p.add_argument(
        "--from", dest="start", type=_time, metavar="TIME", help="period start (default: all)"
    )
    p.add_argument("--to", dest="end", type=_time, metavar="TIME", help="period end, exclusive")
    p.add_argument("--format", choices=REPORT_FORMATS, default="html", help="default: html")
    p.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DIR", help="folder to write into"
    )
    p.set_defaults(func=_report)

    p = add_command(
        actions,
        "accept-key",
        help="vouch for a key that replaced a lost one (after checking it on the host)",
        description=(
            "A host whose key file was lost enrols a new key that no old key vouches for; the "
            "server refuses its heads until someone who checked the new key on the host "
            "(pumpctl keys show there) accepts it here. Who accepted it is kept with it. The "
            "journal id may be a unique prefix, as fleet status prints it."
        ),
        examples=[
            "pumpctl fleet accept-key --db postgresql://postgres@fleet/study 3f9a1c0e7d2b "
            "9c1d2e3f4a5b6c7d --who 'J. Smith, phoned bench 3'",
        ],
    )
    _server_args(p)
    p.add_argument("journal_id", help="the journal id (fleet status), or a unique prefix")
    p.add_argument("key_id", help="the key id pumpctl keys show prints on the host")
    p.add_argument("--who", required=True, help="who checked the key (kept with it)")
    p.set_defaults(func=_accept_key)
