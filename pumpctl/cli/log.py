"""``pumpctl log verify|show|export``: check, read and export a delivery journal.

These commands only read: they open the journal read-only and never publish a head.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def _trusted_key(args: argparse.Namespace) -> bytes | None:
    if args.pubkey is None:
        return None
    from pumpctl.journal.signing import read_public_key  # noqa: PLC0415

    return read_public_key(args.pubkey)


def _verify(args: argparse.Namespace) -> int:
    path = _journal_path(args)
    if path is None:
        return EXIT_USAGE
    try:
        trusted = _trusted_key(args)
    except ValueError as err:
        print(f"pumpctl: error: {err}", file=sys.stderr)
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
    signed = ""
    if trusted is not None:
        from pumpctl.journal.signing import SignatureError  # noqa: PLC0415
        from pumpctl.journal.verify import verify_signature_of  # noqa: PLC0415

        try:
            signer = verify_signature_of(path, trusted)
        except SignatureError as err:
            print(f"BAD {path}: signature: {err}")
            print(f"(the chain of {result.records} records is consistent, but not signed by it)")
            return EXIT_TAMPERED
        signed = f", head signed by key {signer}"
    print(f"OK {path}: {result.records} records, {head}{signed}")
    return EXIT_OK


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _show_line(event: EventRow) -> str:
    local = event.wall + timedelta(minutes=event.utc_offset_min)
    fields = " ".join(
        f"{key}={value}" for key, value in sorted(event.payload.items()) if value not in (None, "")
    )
    return (
        f"{event.seq:>7} {event.wall.strftime('%Y-%m-%dT%H:%M:%S')}Z "
        f"(local {local.strftime('%H:%M')}{_offset_text(event.utc_offset_min)}) "
        f"{event.kind:<20} {fields}"
    )


def _show(args: argparse.Namespace) -> int:
    path = _journal_path(args)
    if path is None:
        return EXIT_USAGE
    with closing(connect(path, writable=False)) as conn:
        for event in iter_events(conn, since=args.since, until=args.until, kinds=args.kind or ()):
            print(_show_line(event))
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
    p.add_argument(
        "--pubkey",
        type=Path,
        metavar="FILE",
        help="the daemon's public key (pumpctl keys show); the published head must be signed "
        "by it, or by a key it vouched for in a journaled rotation",
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
