"""HTML: one self-contained page (inline CSS and SVG, no script, no fetch), printable on A4.

Order: integrity verdict (red when the journal is tampered), identity and period, prescription and
its changes, the four figures, then the tables. Every text from the journal is escaped.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from pumpctl.report import plots
from pumpctl.report.model import CATEGORIES, NOT_RECORDED, DayRow, Report

_CSS = """
@page { size: A4; margin: 15mm; }
body { font: 10pt/1.35 system-ui, sans-serif; color: #111; max-width: 190mm; margin: 1em auto; }
h1 { font-size: 16pt; margin: 0 0 .3em; } h2 { font-size: 12pt; margin: 1.2em 0 .4em; }
h3 { font-size: 10pt; margin: .6em 0 .3em; }
table { border-collapse: collapse; width: 100%; margin: .3em 0 .8em; font-size: 8.5pt; }
th, td { border: 1px solid #bbb; padding: 2px 3px; text-align: left; vertical-align: top; }
th { background: #eee; } tbody th { width: 11em; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { padding: .5em .8em; border: 2px solid; font-weight: bold; margin: .5em 0; }
.ok { border-color: #1b7837; color: #1b7837; }
.tampered { border-color: #b2182b; background: #fde0dd; color: #b2182b; font-size: 13pt; }
.nodata { padding: .5em .8em; border: 2px dashed #888; margin: .5em 0; }
.flag { color: #b2182b; font-weight: bold; }
figure { margin: .4em 0; break-inside: avoid; } figure svg { width: 100%; height: auto; }
@media print { h2 { break-after: avoid; } tr { break-inside: avoid; } }
"""


def _t(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return escape(value.isoformat(timespec="seconds"))
    return escape(str(value))


def _table(
    element_id: str,
    head: Sequence[str],
    rows: Iterable[Sequence[object]],
    numeric: Collection[int] = (),
) -> str:
    """A table; the columns at the ``numeric`` indices are right-aligned numbers."""
    out = [f'<table id="{element_id}"><thead><tr>']
    out += [f"<th>{escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = [
            f'<td class="n">{_t(v)}</td>' if i in numeric else f"<td>{_t(v)}</td>"
            for i, v in enumerate(row)
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} ×{n}" for reason, n in sorted(counts.items()))


def _day_cells(label: object, row: DayRow) -> list[object]:
    return [
        label,
        row.scheduled,
        *(row.counts[c] for c in CATEGORIES),
        row.delivered_dose_ug,
        row.prescribed_dose_ug,
        row.adherence_pct,
        _reasons(row.denied_by_reason),
        _reasons(row.missed_by_reason),
    ]


def _row(row_id: str, label: str, value: object) -> str:
    return f'<tr id="{row_id}"><th>{escape(label)}</th><td>{_t(value)}</td></tr>'


def _header(report: Report) -> list[str]:
    integrity = report.integrity
    css = "ok" if integrity.ok else "tampered"
    last_start = report.daemon_starts[-1] if report.daemon_starts else {}
    rows = [
        _row("subject", "subject", _compact(report.subject, NOT_RECORDED)),
        _row("pump", "pump", _compact(report.pump, NOT_RECORDED)),
        _row("journal", "journal", report.journal_path),
        _row("period", "period", f"{_t(report.period_from) if report.period_from else 'start'}"
             f" to {_t(report.period_to) if report.period_to else 'end'} of the journal"
             f" (days counted in {report.timezone})"),
        _row("head", "journal head", f"#{integrity.head_seq} {integrity.head_hash}"),
        _row("software", "pumpctl", f"{last_start.get('version', NOT_RECORDED)}, config digest "
             f"{last_start.get('config_digest', NOT_RECORDED)}"),
        _row("generated", "generated", report.generated),
    ]  # fmt: skip
    parts = [
        f'<div id="integrity" class="verdict {css}">Journal integrity: {_t(integrity.verdict)}'
        + "".join(f"<br>warning: {_t(w)}" for w in integrity.warnings)
        + "</div>",
        "<h1>pumpctl delivery report</h1>",
        '<table id="identity"><tbody>' + "".join(rows) + "</tbody></table>",
        _glance(report),
    ]
    if not report.has_data:
        parts.append(
            '<div id="no-data" class="nodata">No data: the journal has no slots, '
            "alarms or suspensions in this period.</div>"
        )
    return parts


def _glance(report: Report) -> str:
    """One line a clinician reads first: what share of the therapy arrived."""
    total = report.total
    counts = ", ".join(f"{total.counts[c]} {c}" for c in CATEGORIES if total.counts[c])
    adherence = "—" if total.adherence_pct is None else f"{total.adherence_pct} %"
    return (
        f'<p id="glance"><b>{total.scheduled} slots</b> ({escape(counts) or "none"}); '
        f"adherence <b>{adherence}</b>; delivered <b>{total.delivered_dose_ug} µg</b> of "
        f"{total.prescribed_dose_ug} µg prescribed; {len(report.alarms)} alarms, "
        f"{len(report.suspensions)} suspensions; "
        f"{len(report.intervals.below_limit)} intervals below the minimum.</p>"
    )


def _prescription(report: Report) -> list[str]:
    changes = [
        (c.when, c.what, c.who, c.why, _compact(c.old), _compact(c.new)) for c in report.changes
    ]
    return [
        "<h2>Prescription and limits</h2>",
        '<table id="settings"><tbody>',
        _row(
            "prescription",
            "prescription in force at the start",
            _compact(report.prescription_in_force, NOT_RECORDED),
        ),
        _row(
            "limits", "limits in force at the start", _compact(report.limits_in_force, NOT_RECORDED)
        ),
        "</tbody></table>",
        "<h3>Changes in the period</h3>",
        _table("changes", ("when (UTC)", "what", "who", "why", "old", "new"), changes)
        if changes
        else '<p id="changes">none</p>',
    ]


def _compact(data: dict[str, Any] | None, missing: str = "—") -> str:
    if not data:
        return missing
    return "; ".join(f"{k}={v}" for k, v in sorted(data.items()))


def _figures(report: Report) -> list[str]:
    if not report.slots:
        return []
    figures = [
        ("timeline", plots.timeline(report)),
        ("exposure", plots.exposure(report)),
        ("interval-histogram", plots.interval_histogram(report)),
        ("daily-dose", plots.daily_dose(report)),
    ]
    return ["<h2>Figures</h2>"] + [
        f'<figure id="fig-{name}">{svg}</figure>' for name, svg in figures
    ]


def _tables(report: Report) -> list[str]:
    iv = report.intervals
    ex = report.exposure
    below = "; ".join(f"{a} → {b}: {m} min" for a, b, m in iv.below_limit) or "none"
    head = [
        "day",
        "sched.",
        *CATEGORIES,
        "delivered µg",
        "prescribed µg",
        "adherence %",
        "denied by reason",
        "missed by reason",
    ]
    exceptions = [r for r in report.slots if r.category != "delivered"]
    return [
        "<h2>Per day</h2>",
        _table(
            "days",
            head,
            [*(_day_cells(d.day, d) for d in report.days), _day_cells("total", report.total)],
            numeric=range(1, len(head) - 2),
        ),
        "<h2>Intervals between delivered pulses</h2>",
        _table(
            "intervals",
            ("statistic", "minutes"),
            [
                ("intervals", iv.count),
                ("median", iv.median_min),
                ("5th percentile", iv.p5_min),
                ("95th percentile", iv.p95_min),
                ("minimum", iv.min_min),
                ("longest gap", iv.longest_gap_min),
                ("longest gap from - to", f"{_t(iv.longest_gap_from)} - {_t(iv.longest_gap_to)}"),
                ("minimum interval limit", iv.min_interval_limit_min),
            ],
            numeric=(1,),
        ),
        f'<p id="below-limit" class="{"flag" if iv.below_limit else ""}">'
        f"Intervals below the minimum interval (less the {iv.tolerance_s:g} s start-latency "
        f"tolerance): {escape(below)}</p>",
        "<h2>Predicted exposure</h2>",
        _table(
            "exposure",
            ("quantity", "value"),
            [
                ("highest predicted level (pg/mL)", _num(ex.max_level_pg_per_ml)),
                ("single-pulse reference peak (pg/mL)", _num(ex.reference_peak_pg_per_ml)),
                ("gate threshold (fraction of the peak)", _num(ex.threshold_fraction, 3)),
                ("gate threshold (pg/mL)", _num(ex.threshold_pg_per_ml)),
                (
                    "highest pre-pulse level (fraction of the peak)",
                    _num(ex.max_pre_pulse_fraction, 3),
                ),
                ("pulses starting above the threshold", ex.pre_pulse_above_threshold),
            ],
            numeric=(1,),
        ),
        "<h2>Alarms</h2>",
        _table(
            "alarms",
            (
                "raised (UTC)",
                "priority",
                "code",
                "message",
                "slot",
                "acknowledged",
                "by",
                "note",
                "cleared",
                "why",
            ),
            [
                (
                    a.raised,
                    a.priority,
                    a.code,
                    a.message,
                    a.slot_id,
                    a.acknowledged,
                    a.acknowledged_by,
                    a.acknowledge_note,
                    a.cleared,
                    a.cleared_why,
                )
                for a in report.alarms
            ],
        ),
        "<h2>Suspensions</h2>",
        _table(
            "suspensions",
            ("from (UTC)", "by", "reason", "to", "resumed by", "why"),
            [
                (s.started, s.who, s.reason, s.ended, s.resumed_by, s.resume_reason)
                for s in report.suspensions
            ],
        ),
        "<h2>Slots not delivered in full</h2>",
        _table(
            "exceptions",
            (
                "slot",
                "scheduled (UTC)",
                "category",
                "outcome",
                "reasons",
                "prescribed µg",
                "delivered µg",
            ),
            [
                (
                    r.slot_id,
                    r.scheduled,
                    r.category,
                    r.outcome,
                    "; ".join(r.reasons),
                    r.prescribed_dose_ug,
                    r.delivered_dose_ug,
                )
                for r in exceptions
            ],
            numeric=(5, 6),
        ),
    ]


def _num(value: float | None, digits: int = 1) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def render_html(report: Report) -> str:
    body = [*_header(report), *_prescription(report), *_figures(report), *_tables(report)]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>pumpctl delivery report</title>"
        f"<style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + '<p class="foot">Research software, not a medical device. Exposure is a model '
        "prediction, not a measurement.</p></body></html>\n"
    )


def write_html(report: Report, output: Path) -> None:
    output.write_text(render_html(report), encoding="utf-8")
