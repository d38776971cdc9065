"""Clinician review: what a journal says was delivered, as HTML, PDF, CSV, JSON or FHIR R4.

``build_report`` reads a journal (read-only) into one :class:`Report`; each format renders it.
``report_from_events`` builds the same report from records read anywhere else (the journal's
records as :class:`~pumpctl.journal.query.EventRow`, with their chain verdict).
``write_report`` is the one call the CLI and ``pumpctl demo`` use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pumpctl.report.assemble import report_from_events
from pumpctl.report.build import build_report, paused_gc
from pumpctl.report.model import REPORT_SCHEMA, Report
from pumpctl.report.stats import CurveMode

FORMATS = ("html", "pdf", "csv", "json", "fhir")
#: How much of the exposure curve each format needs (the CSV and FHIR only per-pulse levels).
CURVES: dict[str, CurveMode] = {
    "html": "short",
    "pdf": "short",
    "json": "always",
    "csv": "never",
    "fhir": "never",
}


def writer_for(fmt: str) -> Callable[[Report, Path], None]:
    """The function that writes ``fmt``; each format's module is imported only when used."""
    if fmt == "html":
        from pumpctl.report.html import write_html  # noqa: PLC0415

        return write_html
    if fmt == "pdf":
        from pumpctl.report.pdf import require_browser, write_pdf  # noqa: PLC0415

        require_browser()  # a missing browser is one clear line before any work is done
        return write_pdf
    if fmt == "csv":
        from pumpctl.report.csvfmt import write_csv  # noqa: PLC0415

        return write_csv
    if fmt == "json":
        from pumpctl.report.jsonfmt import write_json  # noqa: PLC0415

        return write_json
    if fmt == "fhir":
        from pumpctl.report.fhir import write_fhir  # noqa: PLC0415

        return write_fhir
    raise ValueError(f"format = {fmt!r}: allowed {', '.join(FORMATS)}")


#: Formats that can carry the predicted pituitary response (FHIR carries records, not models).
PITUITARY_FORMATS = ("html", "pdf", "csv", "json")


def check_pituitary(fmt: str) -> None:
    """Refuse ``--pituitary`` where it cannot go, and name a missing ``[model]`` extra, before
    any work is done (one line each; the report itself never imports numpy otherwise)."""
    from pumpctl.errors import PumpctlError, UsageError  # noqa: PLC0415
    from pumpctl.physiology import require_model_extra  # noqa: PLC0415

    if fmt not in PITUITARY_FORMATS:
        raise UsageError(
            f"--pituitary with --format {fmt}: a FHIR bundle carries what the journal recorded, "
            "not model predictions; use --format html, pdf, csv or json for the prediction"
        )
    problem = require_model_extra("report --pituitary")
    if problem:
        raise PumpctlError(problem)


def with_pituitary(report: Report) -> Report:
    """``report`` with its predicted pituitary response (needs the ``[model]`` extra)."""
    from pumpctl.physiology.reported import report_pituitary  # noqa: PLC0415

    with paused_gc():
        return report_pituitary(report)


def write_report(
    journal_path: Path,
    fmt: str,
    output: Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    pituitary: bool = False,
) -> Path:
    """Write the report of ``journal_path`` over ``[start, end)`` in ``fmt``; returns ``output``.

    ``pituitary`` adds the predicted pituitary response (a model; needs ``pumpctl[model]``).
    A tampered journal still gives a report (its verdict says so at the top); callers that must
    refuse one check ``build_report(...).integrity.ok`` instead.
    """
    if pituitary:
        check_pituitary(fmt)
    writer = writer_for(fmt)
    report = build_report(Path(journal_path), start=start, end=end, curve=CURVES[fmt])
    if pituitary:
        report = with_pituitary(report)
    output = Path(output)
    with paused_gc():
        writer(report, output)
    return output


__all__ = [
    "FORMATS",
    "PITUITARY_FORMATS",
    "REPORT_SCHEMA",
    "Report",
    "build_report",
    "check_pituitary",
    "report_from_events",
    "with_pituitary",
    "write_report",
    "writer_for",
]
