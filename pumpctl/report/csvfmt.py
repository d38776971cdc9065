"""CSV: one row per slot, then one per unexplained flow, the columns documented in
``docs/reports.md``.

A flow's row (outcome ``UNEXPLAINED_FLOW``, id ``flow-<seq>``) carries the dose and volume the
subject received with no pulse commanded (SR-26), found at its ``scheduled_utc``.

Summaries (per day, intervals, alarms) are in the HTML and JSON formats; every count and dose
in them can be recomputed from these rows, which is what tests check. Outcomes are spelled as
in :mod:`pumpctl.report.outcomes`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from zoneinfo import ZoneInfo

from pumpctl.report.model import Flow, Report, SlotRow
from pumpctl.report.outcomes import UNEXPLAINED_FLOW

COLUMNS = (
    "slot_id",
    "scheduled_utc",
    "scheduled_local",
    "local_date",
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
#: Appended with ``report --pituitary`` only: a MODEL output, named so in the header itself.
PITUITARY_COLUMN = "model_predicted_lh_pulse_relative"


def csv_row(row: SlotRow, zone: ZoneInfo, fraction: float | None) -> list[object]:
    scheduled = row.scheduled
    local = None if scheduled is None else scheduled.astimezone(zone)
    return [
        row.slot_id,
        "" if scheduled is None else scheduled.isoformat(),
        "" if local is None else local.isoformat(),
        "" if local is None else local.date().isoformat(),
        row.outcome.value,
        row.prescribed_dose_ug,
        row.delivered_dose_ug,
        row.requested_volume_ul,
        row.delivered_volume_ul,
        "" if row.started is None else row.started.isoformat(),
        "" if row.ended is None else row.ended.isoformat(),
        ";".join(row.reasons),
        row.resolved_by,
        ";".join(f"{a.code}:{a.priority}" for a in row.alarms),
        "" if fraction is None else f"{fraction:.4f}",
    ]


def flow_row(flow: Flow, zone: ZoneInfo) -> list[object]:
    """An unexplained flow in the slot columns: found at ``scheduled``, since ``start``, its
    words in ``reasons``; no volume or dose when it is not known (the words say so)."""
    local = flow.when.astimezone(zone)
    return [
        flow.row_id,
        flow.when.isoformat(),
        local.isoformat(),
        local.date().isoformat(),
        UNEXPLAINED_FLOW,
        None,
        flow.dose_ug,
        None,
        flow.volume_ul,
        "" if flow.since is None else flow.since.isoformat(),
        flow.when.isoformat(),
        flow.detail,
        None,
        ";".join(f"{alarm}:high" for alarm in flow.alarm_ids),
        "",
    ]


def write_csv(report: Report, output: Path) -> None:
    with output.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)  # writes None as an empty field
        zone = report.zone
        fractions = report.pre_pulse_fractions
        if report.pituitary is None:
            writer.writerow(COLUMNS)
            writer.writerows(csv_row(row, zone, fractions.get(row.slot_id)) for row in report.slots)
            writer.writerows(flow_row(f, zone) for f in report.safety.unexplained_flow)
            return
        lh = report.pituitary.by_slot
        writer.writerow((*COLUMNS, PITUITARY_COLUMN))
        writer.writerows(
            [
                *csv_row(row, zone, fractions.get(row.slot_id)),
                "" if (r := lh.get(row.slot_id)) is None else f"{r:.4f}",
            ]
            for row in report.slots
        )
        writer.writerows(
            [*flow_row(f, zone), "" if (r := lh.get(f.row_id)) is None else f"{r:.4f}"]
            for f in report.safety.unexplained_flow
        )
