"""JSON: the report's data in one versioned document (``schema`` = ``pumpctl.report/2``).

Doses are exact decimal strings in µg (as in the journal), times UTC ISO 8601, intervals minutes.
Outcomes are the codes of :mod:`pumpctl.report.outcomes`, whose table the document carries.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pumpctl.report import stats
from pumpctl.report.csvfmt import PITUITARY_COLUMN
from pumpctl.report.model import REPORT_SCHEMA, PituitaryResponse, Report, SlotRow, Tally
from pumpctl.report.outcomes import TERMS
from pumpctl.report.words import NOT_RECORDED, prescription_words


def plain(value: Any) -> Any:
    """Decimals as exact strings, times as ISO 8601, containers converted recursively."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _day(row: Tally) -> dict[str, Any]:
    return {
        "date": row.start,
        "days": row.days,
        "scheduled": row.scheduled,
        "due": row.due,
        "counts": {o.value: n for o, n in row.counts.items()},
        "denied_by_reason": dict(sorted(row.denied_by_reason.items())),
        "missed_by_reason": dict(sorted(row.missed_by_reason.items())),
        "delivered_dose_ug": row.delivered_dose_ug,
        "prescribed_dose_ug": row.prescribed_dose_ug,
        "adherence_pct": row.adherence_pct,
        "unexplained_flows": row.unexplained_flows,
        "unexplained_flows_volume_unknown": row.unexplained_flows_volume_unknown,
        "unexplained_flow_dose_ug": row.unexplained_flow_dose_ug,
        "received_dose_ug": row.received_dose_ug,
    }


def _slot(row: SlotRow, fraction: float | None) -> dict[str, Any]:
    return {
        "slot_id": row.slot_id,
        "scheduled_utc": row.scheduled,
        "outcome": row.outcome.value,
        "prescribed_dose_ug": row.prescribed_dose_ug,
        "delivered_dose_ug": row.delivered_dose_ug,
        "requested_volume_ul": row.requested_volume_ul,
        "delivered_volume_ul": row.delivered_volume_ul,
        "start_utc": row.started,
        "end_utc": row.ended,
        "reasons": list(row.reasons),
        "resolved_by": row.resolved_by,
        "alarms": [a._asdict() for a in row.alarms],
        "duration_s": row.duration_s,
        "pre_pulse_level_fraction": fraction,
    }


def to_data(report: Report) -> dict[str, Any]:
    """The whole report as JSON-ready data (every fact the other formats show)."""
    exposure = report.exposure
    intervals = report.intervals
    safety = report.safety
    grain = stats.grain_for(report.span_days)
    data: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "generated_utc": report.generated,
        "journal": report.source,
        "journal_id": report.journal_id,
        "period": {
            "from_utc": report.period_from,
            "to_utc": report.period_to,
            "timezone": report.timezone,
            "has_data": report.has_data,
            "first_record_utc": report.first_record,
            "last_record_utc": report.last_record,
            "grain": grain,
        },
        "vocabulary": {
            o.value: {"label": t.label, "meaning": t.meaning, "fhir_status": t.fhir_status}
            for o, t in TERMS.items()
        },
        "subject": report.subject or NOT_RECORDED,
        "pump": report.pump or NOT_RECORDED,
        "daemon_starts": list(report.daemon_starts),
        "integrity": {
            "ok": report.integrity.ok,
            "verdict": report.integrity.verdict,
            "records": report.integrity.records,
            "head_seq": report.integrity.head_seq,
            "head_hash": report.integrity.head_hash,
            "head": report.integrity.head_text,
            "problem": report.integrity.problem,
            "warnings": list(report.integrity.warnings),
        },
        "prescription_in_force": report.prescription_in_force or NOT_RECORDED,
        "prescription_words": (
            prescription_words(report.prescription_in_force)
            if report.prescription_in_force
            else NOT_RECORDED
        ),
        "limits_in_force": report.limits_in_force or NOT_RECORDED,
        "changes": [
            {
                "seq": c.seq,
                "when_utc": c.when,
                "what": c.what,
                "who": c.who,
                "why": c.why,
                "old": c.old,
                "new": c.new,
            }
            for c in report.changes
        ],
        "total": _day(report.total),
        "days": [_day(d) for d in report.days],
        "buckets": [] if grain == "day" else [_day(b) for b in stats.rollup(report.days, grain)],
        "safety": {
            "over_delivered_slots": [r.slot_id for r in safety.over_delivered],
            "unexplained_flow": [
                {
                    "when_utc": f.when,
                    "volume_ul": f.volume_ul,
                    "dose_ug": f.dose_ug,
                    "volume_known": f.volume_ul is not None,
                    "volume_text": f.volume_text,
                    "detail": f.detail,
                    "slot_id": f.slot_id,
                    "flow_id": f.flow_id,
                    "since_utc": f.since,
                    "where": f.where,
                    "moving": f.moving,
                    "totals_fell": f.totals_fell,
                    "pump_reset": f.pump_reset,
                    "alarm_ids": list(f.alarm_ids),
                }
                for f in safety.unexplained_flow
            ],
            "uncertain_slots": [r.slot_id for r in safety.uncertain],
            "alarms_by_priority": safety.alarms_by_priority,
            "unacknowledged_high": safety.unacknowledged_high,
        },
        "intervals": {
            "count": intervals.count,
            "median_min": intervals.median_min,
            "p5_min": intervals.p5_min,
            "p95_min": intervals.p95_min,
            "min_min": intervals.min_min,
            "longest_gap_min": intervals.longest_gap_min,
            "longest_gap_from_utc": intervals.longest_gap_from,
            "longest_gap_to_utc": intervals.longest_gap_to,
            "min_interval_limit_min": intervals.min_interval_limit_min,
            "below_limit_tolerance_s": intervals.tolerance_s,
            "below_limit": [
                {"from_slot": a, "to_slot": b, "interval_min": m}
                for a, b, m in intervals.below_limit
            ],
        },
        "alarms": [
            {
                "alarm_id": a.alarm_id,
                "code": a.code,
                "priority": a.priority,
                "message": a.message,
                "raised_utc": a.raised,
                "slot_ids": list(a.slot_ids),
                "acknowledged_utc": a.acknowledged,
                "acknowledged_by": a.acknowledged_by,
                "acknowledge_note": a.acknowledge_note,
                "silenced_by": a.silenced_by,
                "silenced_until_utc": a.silenced_until,
                "cleared_utc": a.cleared,
                "cleared_why": a.cleared_why,
            }
            for a in report.alarms
        ],
        "suspensions": [
            {
                "from_utc": s.started,
                "who": s.who,
                "reason": s.reason,
                "to_utc": s.ended,
                "resumed_by": s.resumed_by,
                "resume_reason": s.resume_reason,
            }
            for s in report.suspensions
        ],
        "exposure": {
            "reference_peak_pg_per_ml": exposure.reference_peak_pg_per_ml,
            "threshold_fraction": exposure.threshold_fraction,
            "threshold_pg_per_ml": exposure.threshold_pg_per_ml,
            "max_level_pg_per_ml": exposure.max_level_pg_per_ml,
            "max_pre_pulse_fraction": exposure.max_pre_pulse_fraction,
            "pre_pulse_above_threshold": exposure.pre_pulse_above_threshold,
            "curve": {
                "times_utc": list(exposure.times),
                "levels_pg_per_ml": [round(v, 3) for v in exposure.levels_pg_per_ml],
            },
        },
        "slots": [_slot(s, report.pre_pulse_fractions.get(s.slot_id)) for s in report.slots],
    }
    if report.pituitary is not None:
        _add_pituitary(data, report.pituitary)
    return plain(data)  # type: ignore[no-any-return]


def _add_pituitary(data: dict[str, Any], r: PituitaryResponse) -> None:
    """``report --pituitary`` only: the prediction, labelled a model in its own fields."""
    data["pituitary"] = {
        "is_model_prediction": True,
        "title": r.title,
        "caveat": r.caveat,
        "model": r.model,
        "summary": r.summary,
        "reference_dose_ug": r.reference_dose_ug,
        "blunted_below_relative": r.blunted_below,
        "grain": r.grain,
        "left_out": list(r.left_out),
        "periods": [
            {
                "start": p.start,
                "days": p.days,
                "pulses": p.pulses,
                "median_relative": p.median_relative,
                "lowest_relative": p.lowest_relative,
                "blunted": p.blunted,
                "mean_receptor_bound": round(p.mean_bound, 5),
                "mean_lh_release_relative_to_basal": round(p.mean_release_relative, 5),
            }
            for p in r.periods
        ],
    }
    for slot in data["slots"]:
        value = r.by_slot.get(slot["slot_id"])
        slot[PITUITARY_COLUMN] = None if value is None else round(value, 4)


def write_json(report: Report, output: Path) -> None:
    with output.open("w", encoding="utf-8") as stream:
        json.dump(to_data(report), stream, ensure_ascii=False, indent=1)
        stream.write("\n")
