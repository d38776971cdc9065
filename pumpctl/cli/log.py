"""``pumpctl log verify|show|export``: check, read and export a delivery journal.

These commands only read: they open the journal read-only and never publish a head. The journal
is named by ``JOURNAL``, ``-j JOURNAL`` or the daemon's configuration (``-c FILE``).
"""

from __future__ import annotations

import argparse
import bisect
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pumpctl.cli import style
from pumpctl.cli.args import (
    Subparsers,
    add_command,
    add_group,
    journal_option,
    journal_path,
    json_option,
    open_output,
    output_option,
    positive_float,
    positive_int,
    print_json,
)
from pumpctl.cli.log_repair import register_repair
from pumpctl.cli.render import event_fields, event_json
from pumpctl.cli.timespec import parse_time
from pumpctl.errors import EXIT_OK, EXIT_TAMPERED
from pumpctl.text import printable

if TYPE_CHECKING:
    import sqlite3
    from zoneinfo import ZoneInfo

    from pumpctl.journal.chain import Head
    from pumpctl.journal.query import EventRow

#: Event kinds offered by ``--kind`` (the journal's EventKind values; checked by a test).
KINDS = (
    "daemon.start",
    "daemon.stop",
    "prescription.change",
    "limits.change",
    "slot.scheduled",
    "gate.decision",
    "totals.clearing",
    "pulse.armed",
    "pulse.disarmed",
    "pulse.intent",
    "pulse.run",
    "pulse.started",
    "pulse.outcome",
    "slot.missed",
    "pulse.reconciled",
    "flow.unexplained",
    "alarm.raised",
    "alarm.acknowledged",
    "alarm.silenced",
    "alarm.cleared",
    "delivery.suspended",
    "delivery.resumed",
    "reservoir.changed",
    "operator.action",
    "journal.correction",
    "journal.repaired",
    "notify.attempt",
    "key.enrolled",
    "key.rotated",
)


def _time(text: str) -> datetime:
    try:
        return parse_time(text, datetime.now(UTC))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _anchor(text: str) -> Head:
    from pumpctl.journal.chain import Head  # noqa: PLC0415

    try:
        return Head.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _trusted_key(args: argparse.Namespace) -> bytes | None:
    if args.pubkey is None:
        return None
    from pumpctl.errors import UsageError  # noqa: PLC0415
    from pumpctl.journal.signing import read_public_key  # noqa: PLC0415

    try:
        return read_public_key(args.pubkey)
    except ValueError as err:
        raise UsageError(str(err)) from err


def _signature(path: Path, trusted: bytes | None, chain_ok: bool) -> tuple[str | None, str | None]:
    """``(signer, problem)`` for the published head under ``trusted``; both None if not asked."""
    if trusted is None or not chain_ok:
        return None, None
    from pumpctl.journal.signing import SignatureError  # noqa: PLC0415
    from pumpctl.journal.verify import verify_signature_of  # noqa: PLC0415

    try:
        return verify_signature_of(path, trusted), None
    except SignatureError as err:
        return None, str(err)


def _verify(args: argparse.Namespace) -> int:
    from pumpctl.journal.verify import verify  # noqa: PLC0415

    path = journal_path(args)
    trusted = _trusted_key(args)
    result = verify(path, anchor=args.anchor)
    signer, bad_signature = _signature(path, trusted, result.ok)
    ok = result.ok and bad_signature is None
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        problem = result.problem
        print_json(
            {
                "ok": ok,
                "journal": str(path),
                "records": result.records,
                "head": None
                if result.head is None
                else {"seq": result.head.seq, "hash": result.head.hash},
                "problem": None
                if problem is None
                else {
                    "diagnosis": problem.diagnosis.value,
                    "seq": problem.seq,
                    "message": problem.message,
                },
                "signature": None
                if trusted is None or not result.ok
                else {"ok": bad_signature is None, "signer": signer, "problem": bad_signature},
                "warnings": list(result.warnings),
            }
        )
        return EXIT_OK if ok else EXIT_TAMPERED
    bad = style.paint("BAD", "bold", "red")
    if result.problem is not None:
        p = result.problem
        print(f"{bad} {path}: {p.diagnosis.value}{p.where}: {p.message}")
        print(f"({result.records} records verify before it)")
        print(f"action: {p.action}")
        return EXIT_TAMPERED
    if bad_signature is not None:
        print(f"{bad} {path}: signature: {bad_signature}")
        print(f"(the chain of {result.records} records is consistent, but not signed by it)")
        return EXIT_TAMPERED
    head = "empty" if result.head is None else f"head {result.head}"
    signed = "" if signer is None else f", head signed by key {signer}"
    print(f"{style.paint('OK', 'green')} {path}: {result.records} records, {head}{signed}")
    return EXIT_OK


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


class Zones:
    """The prescription's time zone in force at each record, from the journal's own changes.

    Records before the first prescription take its zone; a journal with no prescription at all
    falls back to the offset the daemon's host journaled beside each record.
    """

    def __init__(self, changes: Iterable[EventRow]) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

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

    @classmethod
    def of(cls, conn: sqlite3.Connection) -> Zones:
        from pumpctl.journal.query import iter_events  # noqa: PLC0415

        return cls(iter_events(conn, kinds=("prescription.change",)))

    def zone_at(self, event: EventRow) -> ZoneInfo | None:
        if not self._zones:
            return None
        return self._zones[max(0, bisect.bisect_right(self._seqs, event.seq) - 1)]

    def local(self, event: EventRow) -> str:
        """``HH:MM+hh:mm``: the record's time as the prescription's clock showed it, with the
        local date in front when it is not the UTC date (``2026-10-25 00:30+02:00``)."""
        from datetime import timedelta  # noqa: PLC0415

        from pumpctl.core.timefmt import local_text  # noqa: PLC0415

        zone = self.zone_at(event)
        if zone is None:
            local = event.wall + timedelta(minutes=event.utc_offset_min)
            text = f"{local:%Y-%m-%d %H:%M}{_offset_text(event.utc_offset_min)}"
        else:
            text = local_text(event.wall, zone)
        same_day = text[:10] == f"{event.wall.astimezone(UTC):%Y-%m-%d}"
        return text[11:] if same_day else text


def format_time(event: EventRow, zones: Zones) -> str:
    """The record's time: UTC, then the prescription's local time then, with its offset."""
    return f"{event.wall.strftime('%Y-%m-%dT%H:%M:%S')}Z (local {zones.local(event)})"


#: Kinds shown in bold: alarms, and unexplained flow (SR-26), which must not be missed.
_BOLD_KINDS = ("alarm.", "flow.unexplained")


def show_line(event: EventRow, zones: Zones) -> str:
    """One record on one line: sequence, time, kind and its fields as ``key=value``."""
    payload = event.payload
    if event.kind == "flow.unexplained" and payload.get("volume_ul") is None:
        # Empty values are left out of a line; this one's absence is the news (SR-26).
        payload = {**payload, "volume_ul": "unknown (the totals fell)"}
    fields = " ".join(f"{key}={value}" for key, value in event_fields(payload))
    kind = (
        style.paint(f"{event.kind:<20}", "bold")
        if event.kind.startswith(_BOLD_KINDS)
        else (f"{event.kind:<20}")
    )
    # Journaled text (reasons, notes) is shown escaped, never obeyed by the terminal.
    return f"{event.seq:>7} {format_time(event, zones)} {kind} {printable(fields)}".rstrip()


def _read(conn: sqlite3.Connection, args: argparse.Namespace, after_seq: int) -> list[EventRow]:
    from pumpctl.journal.query import iter_events  # noqa: PLC0415

    events = iter_events(conn, since=args.since, until=args.until, kinds=args.kind or ())
    return [event for event in events if event.seq > after_seq]


def _tail(events: Iterable[EventRow], lines: int | None) -> list[EventRow]:
    kept = list(events)
    return kept if lines is None else kept[-lines:] if lines else []


def _show(args: argparse.Namespace) -> int:
    from contextlib import closing  # noqa: PLC0415

    from pumpctl.journal.store import connect  # noqa: PLC0415

    path = journal_path(args)

    def emit(event: EventRow, zones: Zones) -> None:
        if args.json:
            record = event_json(event)
            zone = zones.zone_at(event)
            if zone is not None:
                # The prescription's clock then, with its offset (utc_offset_min is the host's).
                record["local"] = event.wall.astimezone(zone).isoformat()
                record["timezone"] = str(zone)
            print_json(record)
        else:
            print(show_line(event, zones))

    with closing(connect(path, writable=False)) as conn:
        zones = Zones.of(conn)
        events = _tail(_read(conn, args, 0), args.lines)
        last = events[-1].seq if events else 0
        for event in events:
            emit(event, zones)
        if not args.follow:
            return EXIT_OK
        sys.stdout.flush()
    for event, zones in _follow(path, args, last):
        emit(event, zones)
        sys.stdout.flush()
    return EXIT_OK


def _follow(
    path: Path, args: argparse.Namespace, after_seq: int
) -> Iterator[tuple[EventRow, Zones]]:
    """New records as the daemon appends them, until interrupted (``journalctl -f``), each with
    the zones known then (a prescription change while following moves the local times)."""
    from contextlib import closing  # noqa: PLC0415

    from pumpctl.journal.store import connect  # noqa: PLC0415

    while True:
        time.sleep(args.interval_s)
        # A fresh connection each time: a long-lived reader would pin an old snapshot of a
        # journal opened immutable, and a new one costs little at this pace.
        with closing(connect(path, writable=False)) as conn:
            fresh = _read(conn, args, after_seq)
            if not fresh:
                continue
            zones = Zones.of(conn)
        for event in fresh:
            after_seq = event.seq
            yield event, zones


def _export(args: argparse.Namespace) -> int:
    from contextlib import closing  # noqa: PLC0415

    from pumpctl.journal.export import export_slots, write_jsonl  # noqa: PLC0415
    from pumpctl.journal.query import iter_events  # noqa: PLC0415
    from pumpctl.journal.store import connect  # noqa: PLC0415

    path = journal_path(args)
    with closing(connect(path, writable=False)) as conn:
        rows = export_slots(iter_events(conn))
    with open_output(args.output) as out:
        write_jsonl(rows, out)
    return EXIT_OK


def register(subparsers: Subparsers) -> None:
    commands = add_group(
        subparsers,
        "log",
        help="verify, show or export a delivery journal",
        description=(
            "Read a delivery journal: check its hash chain, list its records, or export one row "
            "per slot. Name it as JOURNAL, -j JOURNAL, or -c FILE for the daemon's own."
        ),
        dest="log_command",
    )

    p = add_command(
        commands,
        "verify",
        help="check the hash chain; exit 3 if the journal is bad",
        description=(
            "Walk the journal's hash chain and check it against the head published beside it "
            "(and --anchor). Prints OK with the head, or the first bad record and what was done "
            "to it (edited, removed, inserted, reordered, truncated). Exit 0 when the chain "
            "verifies, 3 when it does not, 1 when the journal cannot be read. Works on a "
            "stopped daemon's journal for any user who may read the file."
        ),
        examples=[
            "pumpctl log verify /var/lib/pumpctl/journal.sqlite3",
            "pumpctl log verify -c /etc/pumpctl/pumpctl.toml --anchor 1042:9f86d08...",
            "pumpctl log verify -j journal.sqlite3 --json | jq .head.seq",
        ],
    )
    journal_option(p)
    p.add_argument(
        "--anchor",
        type=_anchor,
        metavar="SEQ:HASH",
        help="a head you kept elsewhere (printed by an earlier verify); detects truncation",
    )
    p.add_argument(
        "--pubkey",
        type=Path,
        metavar="FILE",
        help="the daemon's public key (pumpctl keys show); the published head must be signed "
        "by it, or by a key it vouched for in a journaled rotation",
    )
    json_option(p, "the verdict")
    p.set_defaults(func=_verify)

    register_repair(commands)

    p = add_command(
        commands,
        "show",
        help="list records, newest last",
        description=(
            "List the journal's records, oldest first, one per line: sequence number, UTC time "
            "and the local time in the prescription's time zone with its UTC offset, kind, and "
            "the record's fields. Times for "
            "--since/--until follow journalctl: ISO 8601 (UTC if no zone), now, today, "
            "yesterday, or a span such as 2h or '30 min ago'."
        ),
        examples=[
            "pumpctl log show -c /etc/pumpctl/pumpctl.toml -n 20",
            "pumpctl log show journal.sqlite3 --since yesterday --kind alarm.raised",
            "pumpctl log show -j journal.sqlite3 --since 2h --follow",
            "pumpctl log show -j journal.sqlite3 --kind pulse.outcome --json | jq .payload.outcome",
        ],
    )
    journal_option(p)
    p.add_argument("-S", "--since", type=_time, metavar="TIME", help="records at or after TIME")
    p.add_argument("-U", "--until", type=_time, metavar="TIME", help="records before TIME")
    p.add_argument(
        "--kind",
        action="append",
        choices=KINDS,
        metavar="KIND",
        help="only this kind (repeatable), e.g. pulse.outcome, alarm.raised",
    )
    p.add_argument(
        "-n", "--lines", type=positive_int, metavar="N", help="only the last N matching records"
    )
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new records as they arrive"
    )
    p.add_argument(
        "--interval-s",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="with --follow, how often to look for new records (default 1)",
    )
    json_option(p, "each record as one JSON line")
    p.set_defaults(func=_show)

    p = add_command(
        commands,
        "export",
        help="one row per slot as JSON Lines (docs/journal.md)",
        description=(
            "Fold the journal into one row per slot (scheduled, requested, delivered, outcome, "
            "reasons, alarms) in the versioned JSON Lines schema of docs/journal.md."
        ),
        examples=[
            "pumpctl log export -c /etc/pumpctl/pumpctl.toml -o slots.jsonl",
            "pumpctl log export journal.sqlite3 | jq -r .outcome | sort | uniq -c",
        ],
    )
    journal_option(p)
    p.add_argument("--format", choices=["jsonl"], default="jsonl", help="output format")
    output_option(p)
    p.set_defaults(func=_export)
