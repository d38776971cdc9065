"""``pumpctl report``: what a journal says was delivered, for clinicians and clinical systems.

The report is written even from a tampered journal (its verdict is at the top); the command
then exits with the tampered-journal code, so scripts cannot miss it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pumpctl.cli.args import (
    Subparsers,
    add_command,
    is_stdout,
    journal_option,
    journal_path,
    output_option,
)
from pumpctl.cli.timespec import parse_time
from pumpctl.errors import EXIT_FAILURE, EXIT_OK, EXIT_TAMPERED, UsageError

#: The formats ``pumpctl.report`` writes, named here so that parsing the command line never
#: imports the report stack (a test keeps the two lists equal).
FORMATS = ("html", "pdf", "csv", "json", "fhir")


def _time(text: str) -> datetime:
    try:
        return parse_time(text, datetime.now(UTC))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _run(args: argparse.Namespace) -> int:
    start: datetime | None = args.start
    end: datetime | None = args.end
    if start is not None and end is not None and end <= start:
        raise UsageError(
            f"--to = {end.isoformat()}: allowed a time after --from = {start.isoformat()}"
        )
    # The report stack is imported only by the command that writes a report.
    from pumpctl.report import (  # noqa: PLC0415
        CURVES,
        check_pituitary,
        with_pituitary,
        writer_for,
    )
    from pumpctl.report.build import build_report, paused_gc  # noqa: PLC0415

    journal = journal_path(args)
    if args.pituitary:
        check_pituitary(args.format)  # no FHIR, no [model] extra: one line, before any work
    writer = writer_for(args.format)  # a PDF without a browser fails here, before any work
    report = build_report(journal, start=start, end=end, curve=CURVES[args.format])
    if args.pituitary:
        report = with_pituitary(report)
    try:
        if is_stdout(args.output):
            _write_to_stdout(lambda path: writer(report, path))
        else:
            with paused_gc():
                writer(report, args.output)
            print(f"{args.format} report written to {args.output}")
    except BrokenPipeError:
        raise  # the reader of `-o -` left: the command line's own quiet exit
    except OSError as err:
        print(
            f"pumpctl: error: -o {args.output}: the report cannot be written "
            f"({err.strerror or err})",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    if not report.has_data:
        print("note: the journal has no data in this period", file=sys.stderr)
    if not report.integrity.ok:
        print(f"pumpctl: error: {report.integrity.verdict}", file=sys.stderr)
        return EXIT_TAMPERED
    return EXIT_OK


def _write_to_stdout(write: Callable[[Path], None]) -> None:
    """Writers take a path; for ``-o -`` they write a private temporary file that is copied."""
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="pumpctl-report-") as folder:
        target = Path(folder) / "report"
        write(target)
        with target.open("rb") as source:
            shutil.copyfileobj(source, sys.stdout.buffer)
    sys.stdout.flush()


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "report",
        help="report what a journal says was delivered (html, pdf, csv, json, fhir)",
        description=(
            "Write a delivery report from a journal. Exit 0, or 3 when the journal's chain "
            "does not verify (the report is still written and says so at the top). Times for "
            "--from/--to are ISO 8601 (UTC if no zone), today, yesterday, or a span like 7d. "
            "--format pdf prints the HTML report with headless Chromium (exit 1 if none). "
            "--pituitary adds the predicted pituitary response, a model (needs pumpctl[model])."
        ),
        examples=[
            "pumpctl report -c /etc/pumpctl/pumpctl.toml -o report.html",
            "pumpctl report -j journal.sqlite3 --format pdf -o report.pdf",
            "pumpctl report -j journal.sqlite3 --format csv -o - | head",
            "pumpctl report -j journal.sqlite3 --pituitary -o report.html",
            "pumpctl report -j journal.sqlite3 --format fhir --from 2026-03-01 --to 2026-04-01 "
            "-o bundle.json",
        ],
    )
    journal_option(parser)
    parser.add_argument(
        "--from", dest="start", type=_time, metavar="TIME", help="period start (default: all)"
    )
    parser.add_argument(
        "--to", dest="end", type=_time, metavar="TIME", help="period end, exclusive"
    )
    parser.add_argument("--format", choices=FORMATS, default="html", help="default: html")
    parser.add_argument(
        "--pituitary",
        action="store_true",
        help="add the predicted pituitary response to the delivered pulses (a model, not a "
        "measurement; html, pdf, csv, json; needs pumpctl[model]; see docs/pituitary.md)",
    )
    output_option(parser, required=True, default_text="none, required")
    parser.set_defaults(func=_run)
