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
from pumpctl.report import stats
from pumpctl.report.model import AlarmRow, Report, SlotRow, Tally
from pumpctl.report.outcomes import TERMS, SlotOutcome
from pumpctl.report.words import (
    change_words,
    count_words,
    day_label,
    decimal_text,
    local_time,
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
Cell = str  # already-escaped HTML


def table(
    element_id: str,
    head: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[Cell]],
    *,
    numeric: Sequence[int] = (),
) -> str:
    """``head``: (title, CSS width); cells are escaped HTML; ``numeric`` columns right-aligned."""
    cols = "".join(f'<col style="width:{w}">' for _, w in head)
    ths = "".join(
        f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, (h, _) in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<table id="{element_id}"><colgroup>{cols}</colgroup><thead><tr>{ths}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _e(value: object) -> Cell:
    return "—" if value is None or value == "" else escape(str(value))


def _when(report: Report, when: datetime | None) -> Cell:
    return "—" if when is None else escape(local_time(when, report.zone))


def _slot_link(report: Report, slot_id: str, when: datetime | None) -> Cell:
    label = _when(report, when) if when else escape(slot_id)
    return f'<a href="#slot-{escape(slot_id)}" title="{escape(slot_id)}">{label}</a>'


def _flag(n: int, text: str) -> Cell:
    return f'<span class="flag">{escape(text)}</span>' if n else '<span class="none">none</span>'


def _count(n: int, *, alert: bool = False) -> Cell:
    """A count in a table; red when an alert outcome happened at all."""
    return f'<span class="flag">{n}</span>' if n and alert else str(n)


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} ×{n}" for reason, n in sorted(counts.items()))


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
    flow = "; ".join(f"{local_time(f.when, zone)}: {f.detail}" for f in s.unexplained_flow)
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
        ("missed", "missed slots", counts[SlotOutcome.MISSED], _reasons(total.missed_by_reason)),
        ("denied", "denied slots, by reason", counts[SlotOutcome.DENIED],
         _reasons(total.denied_by_reason)),
        ("alarms", "alarms, by priority", alarms_total, alarm_text),
        ("below-limit", f"intervals under {iv.min_interval_limit_min} min",
         len(iv.below_limit), ", ".join(f"{m} min" for _, _, m in iv.below_limit)),
        ("above-threshold", "pulses started above the exposure threshold",
         ex.pre_pulse_above_threshold, ""),
        ("suspensions", "suspensions", len(report.suspensions),
         "; ".join(f"{local_time(x.started, zone)} by {x.who}: {x.reason}"
                   for x in report.suspensions)),
    ]  # fmt: skip
    body = "".join(
        f'<tr id="safety-{key}"><th>{escape(label)}</th>'
        f'<td class="n">{_flag(n, str(n)) if n else _flag(0, "")}</td>'
        f"<td>{escape(detail) if n else ''}</td></tr>"
        for key, label, n, detail in rows
    )
    integrity = report.integrity
    body += (
        f'<tr id="safety-integrity"><th>journal integrity</th><td class="n">'
        f"{'ok' if integrity.ok else _flag(1, 'FAILED')}</td>"
        f"<td>{escape(integrity.verdict)}</td></tr>"
    )
    return (
        '<table id="safety" class="facts"><colgroup><col style="width:52mm">'
        '<col style="width:14mm"><col></colgroup><tbody>' + body + "</tbody></table>"
    )


def _tally_row(label: Cell, t: Tally) -> list[Cell]:
    c = t.counts
    return [
        label,
        str(t.due),
        str(c[SlotOutcome.DELIVERED]),
        str(c[SlotOutcome.PARTIAL]),
        _count(c[SlotOutcome.OVER_DELIVERED], alert=True),
        str(c[SlotOutcome.NOT_DELIVERED]),
        _count(c[SlotOutcome.UNCERTAIN], alert=True),
        str(c[SlotOutcome.DENIED]),
        str(c[SlotOutcome.MISSED]),
        escape(decimal_text(t.delivered_dose_ug)),
        escape(decimal_text(t.prescribed_dose_ug)),
        "—" if t.adherence_pct is None else f"{t.adherence_pct}",
    ]


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
                f"{_when(report, r.scheduled)}</span>",
                _flag(1, TERMS[r.outcome].label)
                if TERMS[r.outcome].alert
                else escape(TERMS[r.outcome].label),
                _e(
                    decimal_text(r.prescribed_dose_ug) if r.prescribed_dose_ug is not None else None
                ),
                _e(decimal_text(r.delivered_dose_ug) if r.delivered_dose_ug is not None else None),
                _e(_volumes(r)),
                _e("; ".join(r.reasons)),
                _e(alarms),
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
            escape(_reasons(t.denied_by_reason | t.missed_by_reason)),
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
            _when(report, s.started),
            _e(s.who),
            _e(s.reason),
            _when(report, s.ended) if s.ended else "still suspended",
            _e(s.resumed_by),
            _e(s.resume_reason),
        ]
        for s in report.suspensions
    ]
    return table("suspensions", head, rows)


def _changes(report: Report) -> str:
    if not report.changes:
        return "<p>none in the period</p>"
    head = [("when", "33mm"), ("what", "18mm"), ("who", "22mm"), ("change", "auto"),
            ("why", "30mm")]  # fmt: skip
    rows = [
        [
            _when(report, c.when),
            _e(c.what),
            _e(c.who),
            escape(change_words(c.what, c.old, c.new)),
            _e(c.why),
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
    out += ["<h2>Intervals and exposure</h2>", _numbers(report)]
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
            f"<b>{_e(code)}</b>",
            str(len(alarms)),
            _when(report, alarms[0].raised),
            _when(report, alarms[-1].raised),
            _e(count_words(sum(1 for a in alarms if a.acknowledged is None), "alarm"))
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
        slots = ", ".join(_slot_link(report, s, slot_times.get(s)) for s in a.slot_ids) or "—"
        ack = (
            f"{_when(report, a.acknowledged)} by {_e(a.acknowledged_by)}"
            + (f": {_e(a.acknowledge_note)}" if a.acknowledge_note else "")
            if a.acknowledged
            else _flag(1, "not acknowledged")
            if a.priority == Priority.HIGH
            else "not acknowledged"
        )
        rows.append(
            [
                _when(report, a.raised),
                _flag(1, a.priority) if a.priority == Priority.HIGH else _e(a.priority),
                f"<b>{_e(a.code)}</b> {_e(a.message)}",
                slots,
                ack,
                _when(report, a.cleared) if a.cleared else "—",
            ]
        )
    listed_table = table(
        "alarms",
        [
            ("raised", "30mm"),
            ("priority", "13mm"),
            ("alarm", "auto"),
            ("slot", "30mm"),
            ("acknowledged", "38mm"),
            ("cleared", "30mm"),
        ],
        rows,
    )
    if not low:
        return listed_table
    return (listed_table if listed else '<p id="alarms">no high or medium alarm</p>') + (
        _low_alarms(report, low)
    )


def _numbers(report: Report) -> str:
    iv, ex = report.intervals, report.exposure

    def num(value: float | None, digits: int = 1) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    gap = (
        f"{num(iv.longest_gap_min)} min, {_when(report, iv.longest_gap_from)} to "
        f"{_when(report, iv.longest_gap_to)}"
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
        f"{_slot_link(report, a, None)} → {_slot_link(report, b, None)}: {m} min"
        for a, b, m in iv.below_limit
    )
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    body += (
        f'<tr id="below-limit"><th>intervals under the minimum</th><td>'
        f"{_flag(len(iv.below_limit), str(len(iv.below_limit)))} {below}</td></tr>"
    )
    return f'<table id="numbers" class="facts wide"><tbody>{body}</tbody></table>'
