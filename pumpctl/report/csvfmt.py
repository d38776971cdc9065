"""CSV: one row per slot, the columns documented in ``docs/reports.md``.

Summaries (per day, intervals, alarms) are in the HTML and JSON formats; every number in them is
derivable from these rows, which is what tests check.
"""

from __future__ import annotations

import csv
from pathlib import Path
from zoneinfo import ZoneInfo

from pumpctl.report.model import Report, SlotRow

COLUMNS = (
    "slot_id",
    "scheduled_utc",
    "local_date",
    "category",
    "outcome",
    "prescribed_dose_ug",
    "delivered_dose_ug",
    "requested_volume_ul",
    "delivered_volume_ul",
    "start_utc",
    "end_utc",
    "reasons",
    "resolved_by",
    "alarms",
    "pre_pulse_level_fraction",
)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def csv_row(row: SlotRow, zone: ZoneInfo, fraction: float | None) -> list[str]:
    local = "" if row.scheduled is None else row.scheduled.astimezone(zone).date().isoformat()
    return [
        row.slot_id,
        "" if row.scheduled is None else row.scheduled.isoformat(),
        local,
        row.category,
        row.outcome,
        _text(row.prescribed_dose_ug),
        _text(row.delivered_dose_ug),
        _text(row.requested_volume_ul),
        _text(row.delivered_volume_ul),
        "" if row.started is None else row.started.isoformat(),
        "" if row.ended is None else row.ended.isoformat(),
        ";".join(row.reasons),
        _text(row.resolved_by),
        ";".join(row.alarm_codes),
        "" if fraction is None else f"{fraction:.4f}",
    ]


def write_csv(report: Report, output: Path) -> None:
    with output.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        zone = ZoneInfo(report.timezone)
        fractions = report.pre_pulse_fractions
        writer.writerows(csv_row(row, zone, fractions.get(row.slot_id)) for row in report.slots)
