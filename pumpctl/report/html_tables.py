"""The report's HTML tables: each fits the A4 text width and repeats its header on every page.

Columns are few and narrow (reasons live in their own rows, not in extra columns), cells wrap,
and each row stays on one page. Up to a month there is a row per local day; beyond, per week or
month, with the per-day detail in an appendix (up to three months) or in the CSV and JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from html import escape

from pumpctl.core.alarm_kinds import Priority
from pumpctl.report import html_facts, stats
from pumpctl.report.html_cells import (
    Cell,
    count_cell,
    flag,
    reasons_text,
    slot_link,
    table,
    text_cell,
    when_text,
)
from pumpctl.report.model import AlarmRow, Report, SlotRow, Tally
from pumpctl.report.outcomes import TERMS, SlotOutcome
from pumpctl.report.words import (
    change_words,
    count_words,
    day_label,
    decimal_text,
    local_clock,
)

#: Up to this many local days the appendix lists every day; beyond, the CSV and JSON do.
APPENDIX_DAYS_UP_TO = 92
#: Outcomes a clinician reviews pulse by pulse, whatever the period's length.
REVIEWED = (
    SlotOutcome.OVER_DELIVERED,
    SlotOutcome.UNCERTAIN,
    SlotOutcome.PARTIAL,
    SlotOutcome.NOT_DELIVERED,
)


def _tally_row(label: Cell, t: Tally) -> list[Cell]:
    c = t.counts
    return [
        label,
        str(t.due),
        str(c[SlotOutcome.DELIVERED]),
        str(c[SlotOutcome.PARTIAL]),
        count_cell(c[SlotOutcome.OVER_DELIVERED], alert=True),
        str(c[SlotOutcome.NOT_DELIVERED]),
        count_cell(c[SlotOutcome.UNCERTAIN], alert=True),
        str(c[SlotOutcome.DENIED]),
        str(c[SlotOutcome.MISSED]),
        _dose_cell(t),
        escape(decimal_text(t.prescribed_dose_ug)),
        "—" if t.adherence_pct is None else f"{t.adherence_pct}",
    ]


def _dose_cell(t: Tally) -> Cell:
    """µg delivered by pulses, plus unexplained flow in red (SR-26: the subject received it);
    a flow of unknown volume in words, never a number."""
    delivered = escape(decimal_text(t.delivered_dose_ug))
    if not t.unexplained_flows:
        return delivered
    parts = []
    if t.unexplained_flows > t.unexplained_flows_volume_unknown:
        parts.append(f"+ {decimal_text(t.unexplained_flow_dose_ug)} flow")
    if t.unexplained_flows_volume_unknown:
        parts.append("+ flow of unknown volume")
    return f'{delivered} <span class="flag">{escape(" ".join(parts))}</span>'


_TALLY_HEAD = [
    ("", "27mm"), ("due", "9mm"), ("deliv­ered", "12mm"), ("partial", "12mm"),
    ("over", "10mm"), ("not deliv­ered", "12mm"), ("uncer­tain", "12mm"),
    ("denied", "12mm"), ("missed", "12mm"), ("µg deliv­ered", "16mm"),
    ("µg pre­scribed", "16mm"), ("adher­ence %", "14mm"),
]  # fmt: skip


def _bucket_label(t: Tally, grain: stats.Grain) -> str:
    assert t.start is not None  # noqa: S101  (buckets always have a start)
    if grain == "week":
        return f"{t.start:%d %b %Y}"
    if grain == "month":
        return f"{t.start:%B %Y}"
    return day_label(t.start)


def tally_table(
    element_id: str, report: Report, buckets: Sequence[Tally], grain: stats.Grain
) -> str:
    first = {"day": "day", "week": "week of", "month": "month"}[grain]
    head = [(first if i == 0 else h, w) for i, (h, w) in enumerate(_TALLY_HEAD)]
    rows = [_tally_row(escape(_bucket_label(b, grain)), b) for b in buckets]
    rows.append(_tally_row("<b>total</b>", report.total))
    reasons = [
        (escape(label), escape(reason), str(n))
        for label, counts in (
            ("denied", report.total.denied_by_reason),
            ("missed", report.total.missed_by_reason),
        )
        for reason, n in sorted(counts.items())
    ]
    out = table(element_id, head, rows, numeric=range(1, len(head)))
    if reasons:
        out += "<h3>Denied and missed slots by reason</h3>" + table(
            f"{element_id}-reasons",
            [("outcome", "25mm"), ("reason", "auto"), ("slots", "15mm")],
            reasons,
            numeric=(2,),
        )
    return out


def _volumes(r: SlotRow) -> str | None:
    if r.delivered_volume_ul is None:
        return None
    return f"{decimal_text(r.delivered_volume_ul)} of {decimal_text(r.requested_volume_ul)}"


def _slot_rows(report: Report, rows: Iterable[SlotRow]) -> list[list[Cell]]:
    out = []
    for r in rows:
        alarms = ", ".join(f"{a.code} ({a.priority})" for a in r.alarms)
        out.append(
            [
                f'<span id="slot-{escape(r.slot_id)}" title="{escape(r.slot_id)}">'
                f"{when_text(report, r.scheduled)}</span>",
                flag(1, TERMS[r.outcome].label)
                if TERMS[r.outcome].alert
                else escape(TERMS[r.outcome].label),
                text_cell(
                    decimal_text(r.prescribed_dose_ug) if r.prescribed_dose_ug is not None else None
                ),
                text_cell(
                    decimal_text(r.delivered_dose_ug) if r.delivered_dose_ug is not None else None
                ),
                text_cell(_volumes(r)),
                text_cell("; ".join(r.reasons)),
                text_cell(alarms),
            ]
        )
    return out


_SLOT_HEAD = [
    ("slot (local time)", "33mm"), ("outcome", "20mm"), ("µg pre­scribed", "14mm"),
    ("µg deliv­ered", "14mm"), ("µL measured of commanded", "20mm"), ("reasons", "auto"),
    ("alarms for this slot", "34mm"),
]  # fmt: skip


def _missed_by_day(report: Report, rows: Sequence[SlotRow]) -> str:
    per_day: dict[date, Tally] = {}
    for r in rows:
        if r.scheduled is None:
            continue
        day = r.scheduled.astimezone(report.zone).date()
        stats._add(per_day.setdefault(day, Tally(start=day)), r)
    body = [
        [
            escape(day_label(d)),
            str(t.counts[SlotOutcome.DENIED]),
            str(t.counts[SlotOutcome.MISSED]),
            escape(reasons_text(t.denied_by_reason | t.missed_by_reason)),
        ]
        for d, t in sorted(per_day.items())
    ]
    return table(
        "missed",
        [("day", "30mm"), ("denied", "15mm"), ("missed", "15mm"), ("reasons", "auto")],
        body,
        numeric=(1, 2),
    )


def _suspensions(report: Report) -> str:
    if not report.suspensions:
        return '<p id="suspensions">none</p>'
    head = [("from", "33mm"), ("by", "22mm"), ("reason", "auto"), ("to", "33mm"),
            ("resumed by", "22mm"), ("why", "auto")]  # fmt: skip
    rows = [
        [
            when_text(report, s.started),
            text_cell(s.who),
            text_cell(s.reason),
            when_text(report, s.ended) if s.ended else "still suspended",
            text_cell(s.resumed_by),
            text_cell(s.resume_reason),
        ]
        for s in report.suspensions
    ]
    return table("suspensions", head, rows)


def _flows(report: Report) -> str:
    """Each unexplained flow (SR-26) as the journal recorded it, its words in full."""
    head = [("found", "33mm"), ("volume (dose)", "24mm"), ("totals last as expected", "33mm"),
            ("what the journal says", "auto")]  # fmt: skip
    rows = [
        [
            when_text(report, f.when),
            f'<span class="flag">{escape(f.volume_text)}</span>',
            when_text(report, f.since),
            escape(f.detail),
        ]
        for f in report.safety.unexplained_flow
    ]
    return table("flows", head, rows)


def _changes(report: Report) -> str:
    if not report.changes:
        return "<p>none in the period</p>"
    head = [("when", "33mm"), ("what", "18mm"), ("who", "22mm"), ("change", "auto"),
            ("why", "30mm")]  # fmt: skip
    rows = [
        [
            when_text(report, c.when),
            text_cell(c.what),
            text_cell(c.who),
            escape(change_words(c.what, c.old, c.new)),
            text_cell(c.why),
        ]
        for c in report.changes
    ]
    return table("change-table", head, rows)


def tables(report: Report) -> list[str]:
    """Every table after the figures, in reading order."""
    grain = stats.grain_for(report.span_days)
    buckets = stats.rollup(report.days, grain)
    title = {"day": "Per day", "week": "Per week", "month": "Per month"}[grain]
    out = [
        f"<h2>{title}</h2>",
        tally_table("days" if grain == "day" else "buckets", report, buckets, grain),
        "<h2>Pulses not delivered as commanded</h2>",
    ]
    reviewed = [r for r in report.slots if r.outcome in REVIEWED]
    if reviewed:
        out.append(table("exceptions", _SLOT_HEAD, _slot_rows(report, reviewed), numeric=(2, 3)))
    else:
        out.append('<p id="exceptions">none</p>')
    if report.safety.unexplained_flow:
        out += ['<h2 id="flows-title">Unexplained flow</h2>', _flows(report)]
    missed = [r for r in report.slots if r.outcome in (SlotOutcome.DENIED, SlotOutcome.MISSED)]
    out.append("<h2>Denied and missed slots</h2>")
    if not missed:
        out.append('<p id="missed">none</p>')
    elif grain == "day":
        out.append(table("missed", _SLOT_HEAD, _slot_rows(report, missed), numeric=(2, 3)))
    else:
        out.append(_missed_by_day(report, missed))
    out += [
        "<h2>Alarms</h2>",
        _alarms(report, grain) if report.alarms else '<p id="alarms">none</p>',
    ]
    out += ["<h2>Suspensions</h2>", _suspensions(report)]
    out += ['<h2 id="changes">Changes of prescription and limits</h2>', _changes(report)]
    out += ["<h2>Intervals and exposure</h2>", html_facts.numbers(report)]
    out += ['<h2 id="sources">Sources of the clinical numbers</h2>', html_facts.sources(report)]
    if grain != "day":
        out.append("<h2>Appendix: per day</h2>")
        if report.span_days <= APPENDIX_DAYS_UP_TO:
            out.append(tally_table("days", report, stats.rollup(report.days, "day"), "day"))
        else:
            out.append(
                '<p id="days">The per-day detail of a period this long is in the CSV '
                "(<code>pumpctl report --format csv</code>: one row per slot with its local "
                "date) and the JSON (<code>--format json</code>: <code>days</code>).</p>"
            )
    return out


def _low_alarms(report: Report, low: Sequence[AlarmRow]) -> str:
    """Low-priority alarms of a long period, one row per kind (each one is in the JSON)."""
    by_code: dict[str, list[AlarmRow]] = {}
    for a in low:
        by_code.setdefault(a.code, []).append(a)
    rows = [
        [
            f"<b>{text_cell(code)}</b>",
            str(len(alarms)),
            when_text(report, alarms[0].raised),
            when_text(report, alarms[-1].raised),
            text_cell(count_words(sum(1 for a in alarms if a.acknowledged is None), "alarm"))
            if any(a.acknowledged is None for a in alarms)
            else "all",
        ]
        for code, alarms in sorted(by_code.items())
    ]
    return "<h3>Low priority, by kind</h3>" + table(
        "alarms-low",
        [
            ("alarm", "auto"),
            ("count", "14mm"),
            ("first", "33mm"),
            ("last", "33mm"),
            ("not acknowledged", "26mm"),
        ],
        rows,
        numeric=(1,),
    )


def _same_day(report: Report, when: datetime, day_of: datetime) -> Cell:
    """``01:01+01:00`` when on the local day of ``day_of``, else the full local time."""
    zone = report.zone
    if when.astimezone(zone).date() == day_of.astimezone(zone).date():
        return escape(local_clock(when, zone))
    return when_text(report, when)


def _alarms(report: Report, grain: stats.Grain) -> str:
    """Every alarm up to a month; beyond, high and medium ones each, low ones by kind."""
    slot_times = {r.slot_id: r.scheduled for r in report.slots}
    listed = report.alarms
    low: list[AlarmRow] = []
    if grain != "day":
        listed = tuple(a for a in report.alarms if a.priority != Priority.LOW)
        low = [a for a in report.alarms if a.priority == Priority.LOW]
    rows = []
    for a in listed:
        slots = ", ".join(slot_link(report, s, slot_times.get(s)) for s in a.slot_ids) or "—"
        ack = (
            f"{_same_day(report, a.acknowledged, a.raised)} by {text_cell(a.acknowledged_by)}"
            + (f": {text_cell(a.acknowledge_note)}" if a.acknowledge_note else "")
            if a.acknowledged
            else flag(1, "not acknowledged")
            if a.priority == Priority.HIGH
            else "not acknowledged"
        )
        rows.append(
            [
                when_text(report, a.raised),
                flag(1, a.priority) if a.priority == Priority.HIGH else text_cell(a.priority),
                f"<b>{text_cell(a.code)}</b> {text_cell(a.message)}",
                slots,
                ack,
                _same_day(report, a.cleared, a.raised) if a.cleared else "—",
            ]
        )
    listed_table = table(
        "alarms",
        [
            ("raised", "30mm"),
            ("priority", "13mm"),
            ("alarm", "auto"),
            ("slot", "30mm"),
            ("acknowledged", "34mm"),
            ("cleared", "20mm"),
        ],
        rows,
    )
    if not low:
        return listed_table
    return (listed_table if listed else '<p id="alarms">no high or medium alarm</p>') + (
        _low_alarms(report, low)
    )
