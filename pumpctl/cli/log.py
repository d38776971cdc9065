"""``pumpctl log verify|show|export``: check, read and export a delivery journal.

These commands only read: they open the journal read-only and never publish a head.
"""

from __future__ import annotations

import argparse
import bisect
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pumpctl.core.timefmt import local_text
from pumpctl.errors import EXIT_OK, EXIT_TAMPERED, EXIT_USAGE
from pumpctl.journal.chain import Head
from pumpctl.journal.events import EventKind
from pumpctl.journal.export import export_slots, write_jsonl
from pumpctl.journal.query import EventRow, iter_events
from pumpctl.journal.store import connect
from pumpctl.journal.verify import verify


def _time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: allowed ISO 8601 like 2026-03-01T08:00 or with a zone "
            "like 2026-03-01T08:00+01:00"
        ) from err
    # A time without a zone is read as UTC, the journal's own zone.
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _anchor(text: str) -> Head:
    try:
        return Head.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _journal_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("journal", nargs="?", type=Path, help="the journal file")
    parser.add_argument("-j", "--journal", dest="journal_opt", type=Path, help="same as JOURNAL")


def _journal_path(args: argparse.Namespace) -> Path | None:
    path: Path | None = args.journal or args.journal_opt
    if path is None:
        print("pumpctl: error: give the journal file (JOURNAL or -j PATH)", file=sys.stderr)
    return path


def _verify(args: argparse.Namespace) -> int:
    path = _journal_path(args)
    if path is None:
        return EXIT_USAGE
    result = verify(path, anchor=args.anchor)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.problem is not None:
        p = result.problem
        print(f"BAD {path}: {p.diagnosis.value} at record {p.seq}: {p.message}")
        print(f"({result.records} records verify before it)")
        return EXIT_TAMPERED
    head = "empty" if result.head is None else f"head {result.head}"
    print(f"OK {path}: {result.records} records, {head}")
    return EXIT_OK


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


class _Zones:
    """The prescription's time zone in force at each record, from the journal's own changes.

    Records before the first prescription take its zone; a journal with no prescription at all
    falls back to the offset the daemon's host journaled beside each record.
    """

    def __init__(self, changes: list[EventRow]) -> None:
        self._seqs: list[int] = []
        self._zones: list[ZoneInfo] = []
        for event in changes:
            new = event.payload.get("new")
            name = new.get("timezone") if isinstance(new, dict) else None
            try:
                zone = ZoneInfo(str(name))
            except (ZoneInfoNotFoundError, ValueError):
                continue
            self._seqs.append(event.seq)
            self._zones.append(zone)

    def local(self, event: EventRow) -> str:
        """``HH:MM+hh:mm``: the record's time as the prescription's clock showed it."""
        if not self._zones:
            local = event.wall + timedelta(minutes=event.utc_offset_min)
            return f"{local:%H:%M}{_offset_text(event.utc_offset_min)}"
        index = max(0, bisect.bisect_right(self._seqs, event.seq) - 1)
        return local_text(event.wall, self._zones[index])[11:]


def _show_line(event: EventRow, zones: _Zones) -> str:
    fields = " ".join(
        f"{key}={value}" for key, value in sorted(event.payload.items()) if value not in (None, "")
    )
    return (
        f"{event.seq:>7} {event.wall.strftime('%Y-%m-%dT%H:%M:%S')}Z "
        f"(local {zones.local(event)}) "
        f"{event.kind:<20} {fields}"
    )


def _show(args: argparse.Namespace) -> int:
    path = _journal_path(args)
    if path is None:
        return EXIT_USAGE
    with closing(connect(path, writable=False)) as conn:
        zones = _Zones(list(iter_events(conn, kinds=("prescription.change",))))
        for event in iter_events(conn, since=args.since, until=args.until, kinds=args.kind or ()):
            print(_show_line(event, zones))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    path = _journal_path(args)
    if path is None:
        return EXIT_USAGE
    with closing(connect(path, writable=False)) as conn:
        rows = export_slots(iter_events(conn))
    if args.output is None or str(args.output) == "-":
        write_jsonl(rows, sys.stdout)
    else:
        with args.output.open("w", encoding="utf-8") as out:
            write_jsonl(rows, out)
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    log = subparsers.add_parser("log", help="verify, show or export a delivery journal")
    commands = log.add_subparsers(dest="log_command", metavar="ACTION", required=True)

    p = commands.add_parser("verify", help="check the hash chain; exit 3 if the journal is bad")
    _journal_arg(p)
    p.add_argument(
        "--anchor",
        type=_anchor,
        metavar="SEQ:HASH",
        help="a head you kept elsewhere (printed by an earlier verify); detects truncation",
    )
    p.set_defaults(func=_verify)

    p = commands.add_parser("show", help="list records, newest last")
    _journal_arg(p)
    p.add_argument(
        "--since", type=_time, help="only records at or after this time (UTC if no zone)"
    )
    p.add_argument("--until", type=_time, help="only records before this time (UTC if no zone)")
    p.add_argument(
        "--kind",
        action="append",
        choices=[k.value for k in EventKind],
        metavar="KIND",
        help="only this kind (repeatable), e.g. pulse.intent, alarm.raised",
    )
    p.set_defaults(func=_show)

    p = commands.add_parser("export", help="one row per slot as JSON Lines (docs/journal.md)")
    _journal_arg(p)
    p.add_argument("--format", choices=["jsonl"], default="jsonl", help="output format")
    p.add_argument("-o", "--output", type=Path, help="output file (default: standard output)")
    p.set_defaults(func=_export)
