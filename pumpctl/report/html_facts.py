"""The report's fact tables: the safety events of page 1, intervals and exposure in numbers, and
the sources of the clinical numbers. Two columns of label and value, escaped, A4 width.
"""

from __future__ import annotations

from html import escape

from pumpctl.core.alarm_kinds import Priority
from pumpctl.report import sources as clinical_sources
from pumpctl.report.assemble import limits_from
from pumpctl.report.html_cells import flag, reasons_text, slot_link, table, when_text
from pumpctl.report.model import Report
from pumpctl.report.outcomes import SlotOutcome
from pumpctl.report.words import decimal_text, local_time

#: Safety rows whose detail is built as escaped HTML already (one line per event).
_HTML_DETAIL = frozenset(("unexplained-flow",))


def safety(report: Report) -> str:
    """Every safety event of the period, each on its own row, zero counts included."""
    s, total, iv, ex = report.safety, report.total, report.intervals, report.exposure
    zone = report.zone
    over = "; ".join(
        f"{local_time(r.scheduled, zone)}: {decimal_text(r.delivered_volume_ul)} µL for "
        f"{decimal_text(r.requested_volume_ul)} µL"
        for r in s.over_delivered
        if r.scheduled
    )
    # One line each, short: the alert above gives each flow's words in full.
    flow = "<br>".join(
        escape(f"{local_time(f.when, zone)}: {f.volume_text}, {f.where or 'alarm only'}")
        for f in s.unexplained_flow
    )
    uncertain = "; ".join(local_time(r.scheduled, zone) for r in s.uncertain if r.scheduled)
    by_priority = s.alarms_by_priority
    alarms_total = sum(by_priority.values())
    alarm_text = ", ".join(f"{by_priority.get(p, 0)} {p}" for p in Priority)
    if s.unacknowledged_high:
        alarm_text += f"; {s.unacknowledged_high} high not acknowledged"
    counts = total.counts
    short = counts[SlotOutcome.PARTIAL] + counts[SlotOutcome.NOT_DELIVERED]
    rows = [
        ("over-delivery", "over-delivered pulses", len(s.over_delivered), over),
        ("unexplained-flow", "unexplained flow", len(s.unexplained_flow), flow),
        ("uncertain", "uncertain pulses", len(s.uncertain), uncertain),
        (
            "short",
            "partial or not delivered",
            short,
            f"{counts[SlotOutcome.PARTIAL]} partial, {counts[SlotOutcome.NOT_DELIVERED]} not "
            "delivered",
        ),
        ("missed", "missed slots", counts[SlotOutcome.MISSED],
         reasons_text(total.missed_by_reason)),
        ("denied", "denied slots, by reason", counts[SlotOutcome.DENIED],
         reasons_text(total.denied_by_reason)),
        ("alarms", "alarms, by priority", alarms_total, alarm_text),
        ("below-limit", f"intervals under {iv.min_interval_limit_min} min"
         f" (less the {iv.tolerance_s:g} s start-latency tolerance)",
         len(iv.below_limit), ", ".join(f"{m} min" for _, _, m in iv.below_limit)),
        ("above-threshold", "pulses started above the exposure threshold",
         ex.pre_pulse_above_threshold, ""),
        ("suspensions", "suspensions", len(report.suspensions),
         "; ".join(f"{local_time(x.started, zone)} by {x.who}: {x.reason}"
                   for x in report.suspensions)),
    ]  # fmt: skip
    body = "".join(
        f'<tr id="safety-{key}"><th>{escape(label)}</th>'
        f'<td class="n">{flag(n, str(n)) if n else flag(0, "")}</td>'
        f"<td>{(detail if key in _HTML_DETAIL else escape(detail)) if n else ''}</td></tr>"
        for key, label, n, detail in rows
    )
    integrity = report.integrity
    body += (
        f'<tr id="safety-integrity"><th>journal integrity</th><td class="n">'
        f"{'ok' if integrity.ok else flag(1, 'FAILED')}</td>"
        f"<td>{escape(integrity.verdict)}</td></tr>"
    )
    return (
        '<table id="safety" class="facts"><colgroup><col style="width:52mm">'
        '<col style="width:14mm"><col></colgroup><tbody>' + body + "</tbody></table>"
    )


def numbers(report: Report) -> str:
    iv, ex = report.intervals, report.exposure

    def num(value: float | None, digits: int = 1) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    gap = (
        f"{num(iv.longest_gap_min)} min, {when_text(report, iv.longest_gap_from)} to "
        f"{when_text(report, iv.longest_gap_to)}"
        if iv.longest_gap_min is not None
        else "—"
    )
    rows = [
        ("intervals between pulse starts", str(iv.count)),
        ("median (5th–95th percentile)", f"{num(iv.median_min)} min ({num(iv.p5_min)}–"
         f"{num(iv.p95_min)})"),
        ("shortest", f"{num(iv.min_min)} min (limit {iv.min_interval_limit_min} min)"),
        ("longest gap", gap),
        ("highest predicted level", f"{num(ex.max_level_pg_per_ml)} pg/mL"),
        ("one pulse's peak (prescribed dose)", f"{num(ex.reference_peak_pg_per_ml)} pg/mL"),
        ("gate threshold (level before a pulse)", f"{num(ex.threshold_fraction, 3)} of the peak"
         f" = {num(ex.threshold_pg_per_ml)} pg/mL"),
        ("highest level before a pulse", f"{num(ex.max_pre_pulse_fraction, 3)} of the peak"),
        ("pulses started above the threshold", str(ex.pre_pulse_above_threshold)),
    ]  # fmt: skip
    below = "; ".join(
        f"{slot_link(report, a, None)} → {slot_link(report, b, None)}: {m} min"
        for a, b, m in iv.below_limit
    )
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    body += (
        f'<tr id="below-limit"><th>intervals under the minimum (less the '
        f"{iv.tolerance_s:g} s start-latency tolerance)</th><td>"
        f"{flag(len(iv.below_limit), str(len(iv.below_limit)))} {below}</td></tr>"
    )
    return f'<table id="numbers" class="facts wide"><tbody>{body}</tbody></table>'


def sources(report: Report) -> str:
    """Each clinical number this report relies on, its value here, and where it comes from."""
    rows = clinical_sources.numbers(limits_from(report.limits_in_force))
    body = [[escape(what), escape(value), escape("; ".join(keys))] for what, value, keys in rows]
    refs = "".join(
        f"<li><b>{escape(key)}</b> {escape(text)}</li>"
        for key, text in clinical_sources.cited(rows)
    )
    return (
        table(
            "sources-table",
            [("number", "55mm"), ("in this report", "auto"), ("source", "40mm")],
            body,
        )
        + f'<ul class="small" id="references">{refs}</ul>'
        + '<p class="small">Every number with its source and the arithmetic behind the '
        "derived ones: docs/clinical-parameters.md in pumpctl.</p>"
    )
