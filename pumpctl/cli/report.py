"""``pumpctl report``: what a journal says was delivered, for clinicians and clinical systems.

The report is written even from a tampered journal (its verdict is at the top); the command
then exits with the tampered-journal code, so scripts cannot miss it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from pumpctl.errors import EXIT_FAILURE, EXIT_OK, EXIT_TAMPERED, EXIT_USAGE
from pumpctl.report import CURVES, FORMATS, writer_for
from pumpctl.report.build import build_report, paused_gc


def _time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: allowed ISO 8601 like 2026-03-01 or 2026-03-01T08:00+01:00"
        ) from err
    # A time without a zone is read as UTC, the journal's own zone.
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _run(args: argparse.Namespace) -> int:
    start: datetime | None = args.start
    end: datetime | None = args.end
    if start is not None and end is not None and end <= start:
        print(
            f"pumpctl: error: --to = {end.isoformat()}: allowed a time after "
            f"--from = {start.isoformat()}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    writer = writer_for(args.format)  # a PDF without a browser fails here, before any work
    report = build_report(args.journal, start=start, end=end, curve=CURVES[args.format])
    try:
        with paused_gc():
            writer(report, args.output)
    except OSError as err:
        print(
            f"pumpctl: error: -o {args.output}: the report cannot be written "
            f"({err.strerror or err})",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    print(f"{args.format} report written to {args.output}")
    if not report.has_data:
        print("note: the journal has no data in this period", file=sys.stderr)
    if not report.integrity.ok:
        print(f"pumpctl: error: {report.integrity.verdict}", file=sys.stderr)
        return EXIT_TAMPERED
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="report what a journal says was delivered (html, pdf, csv, json, fhir)",
        description=(
            "Write a delivery report from a journal. Exit 0, or 3 when the journal's chain "
            "does not verify (the report is still written and says so at the top). "
            "--format pdf prints the HTML report with headless Chromium (exit 1 if none)."
        ),
    )
    parser.add_argument("-j", "--journal", type=Path, required=True, help="the journal file")
    parser.add_argument(
        "--from", dest="start", type=_time, help="period start, ISO 8601 (default: all)"
    )
    parser.add_argument("--to", dest="end", type=_time, help="period end, exclusive")
    parser.add_argument("--format", choices=FORMATS, default="html", help="default: html")
    parser.add_argument("-o", "--output", type=Path, required=True, help="file to write")
    parser.set_defaults(func=_run)
