"""Clinician review: what a journal says was delivered, as HTML, CSV, JSON or FHIR R4.

``build_report`` reads a journal (read-only) into one :class:`Report`; each format renders it.
``write_report`` is the one call the CLI and ``pumpctl demo`` use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pumpctl.report.build import build_report, paused_gc
from pumpctl.report.model import REPORT_SCHEMA, Report

FORMATS = ("html", "csv", "json", "fhir")
#: Formats that show the sampled exposure curve; the others carry only per-pulse levels.
CURVE_FORMATS = ("html", "json")


def _writer(fmt: str) -> Callable[[Report, Path], None]:
    # Imported on demand: matplotlib (HTML only) takes a while to load.
    if fmt == "html":
        from pumpctl.report.html import write_html  # noqa: PLC0415

        return write_html
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


def write_report(
    journal_path: Path,
    fmt: str,
    output: Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Path:
    """Write the report of ``journal_path`` over ``[start, end)`` in ``fmt``; returns ``output``.

    A tampered journal still gives a report (its verdict says so at the top); callers that must
    refuse one check ``build_report(...).integrity.ok`` instead.
    """
    writer = _writer(fmt)
    report = build_report(Path(journal_path), start=start, end=end, curve=fmt in CURVE_FORMATS)
    output = Path(output)
    with paused_gc():
        writer(report, output)
    return output


__all__ = ["FORMATS", "REPORT_SCHEMA", "Report", "build_report", "write_report"]
