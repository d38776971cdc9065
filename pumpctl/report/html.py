"""HTML: one self-contained page (inline CSS and SVG, no script, no fetch), printed on A4 portrait.

Page 1 answers at a glance: who, which pump, which period, the prescription in words, adherence,
dose delivered against prescribed, every safety event and the journal's integrity. Then the
figures, then the tables (headers repeated on every printed page), then the detail. Every text
from the journal is escaped; every time is local to the prescription's zone, with its offset.
"""

from __future__ import annotations

from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Any

from pumpctl import __version__
from pumpctl.report import figures, html_facts, html_pituitary, html_tables
from pumpctl.report.assemble import limits_from
from pumpctl.report.model import Report, Tally
from pumpctl.report.outcomes import TERMS, SlotOutcome
from pumpctl.report.words import (
    NOT_RECORDED,
    count_words,
    decimal_text,
    limits_words,
    local_time,
    prescription_details,
    prescription_words,
    ug,
)

TITLE = "Pulsatile gonadorelin delivery report"
SOURCES = "docs/clinical-parameters.md"

_PAGE = """
@page { size: A4 portrait; margin: 14mm 14mm 16mm 14mm;
  @bottom-left { content: FOOT; font: 7.5pt sans-serif; color: #555; }
  @bottom-right { content: "page " counter(page) " of " counter(pages);
    font: 7.5pt sans-serif; color: #555; } }
"""

_CSS = """
* { box-sizing: border-box; }
body { font: 9.5pt/1.35 "Liberation Sans", Arial, Helvetica, sans-serif; color: #111;
  max-width: 182mm; margin: 1em auto; padding: 0 4mm; }
h1 { font-size: 15pt; margin: .2em 0 .3em; }
h2 { font-size: 11.5pt; margin: 1em 0 .35em; border-bottom: 1px solid #999; break-after: avoid; }
h3 { font-size: 10pt; margin: .7em 0 .25em; break-after: avoid; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; margin: .2em 0 .7em;
  font-size: 8pt; }
th, td { border: 1px solid #bbb; padding: 1.5px 3px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
thead { display: table-header-group; } thead th { background: #eee; font-weight: bold; }
tr { break-inside: avoid; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.facts th { width: 27mm; background: #f4f4f4; }
table.facts.wide th { width: 62mm; }
table.facts td { font-size: 9pt; }
.verdict { padding: .35em .7em; border: 2px solid; font-weight: bold; margin: .2em 0; }
.ok { border-color: #1b7837; color: #1b7837; font-size: 8.5pt; }
.tampered { border-color: #b2182b; background: #fde0dd; color: #b2182b; font-size: 12pt; }
.alert { border: 3px solid #b2182b; background: #fde0dd; color: #7a0011; padding: .4em .7em;
  margin: .3em 0; font-size: 11pt; font-weight: bold; }
.alert ul { margin: .2em 0 0 1.2em; padding: 0; font-size: 9.5pt; }
.nodata { padding: .5em .8em; border: 2px dashed #888; margin: .5em 0; }
.keys { display: flex; gap: 3mm; margin: .5em 0; }
.key { flex: 1; border: 1px solid #999; padding: .3em .5em; }
.key b { display: block; font-size: 15pt; }
.flag { color: #b2182b; font-weight: bold; }
.none { color: #555; }
.small { font-size: 7.5pt; color: #555; }
.glance { break-after: page; }
figure { margin: .3em 0 .6em; break-inside: avoid; }
figure svg { width: 100%; height: auto; display: block; font-family: inherit; }
figcaption { font-size: 8pt; color: #333; }
.foot { font-size: 7.5pt; color: #555; margin-top: 1.5em; border-top: 1px solid #bbb; }
a { color: inherit; }
"""


def css_string(text: str) -> str:
    """A CSS string literal of ``text``: every character but letters, digits and a few safe
    signs is a CSS escape, so journal text can end neither the string nor the style element."""
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;+-_")
    return '"' + "".join(ch if ch in safe else f"\\{ord(ch):x} " for ch in text) + '"'


def _label(data: dict[str, Any] | None, *keys: str) -> str | None:
    for key in keys:
        if data and data.get(key):
            return str(data[key])
    return None


def subject_text(report: Report) -> str:
    subject = report.subject or {}
    ident = _label(subject, "id") or NOT_RECORDED
    note = _label(subject, "note")
    return f"{ident} — {note}" if note else ident


def pump_text(report: Report) -> str:
    pump = report.pump or {}
    name = _label(pump, "label") or _label(report.subject, "pump_label")
    if not name:
        return NOT_RECORDED
    details = [
        str(pump["driver"]) if pump.get("driver") else "",
        f"syringe {pump['syringe_diameter_mm']} mm" if pump.get("syringe_diameter_mm") else "",
        f"{pump['syringe_volume_ul']} µL" if pump.get("syringe_volume_ul") else "",
    ]
    details = [d for d in details if d]
    return f"{name} ({', '.join(details)})" if details else name


def period_text(report: Report) -> str:
    zone = report.zone
    start = report.period_from or report.first_record
    end = report.period_to or report.last_record
    if start is None or end is None:
        return f"no records (times in {report.timezone})"
    length = f", {duration_text(end - start)}"
    which = "" if report.period_from or report.period_to else " (the whole journal)"
    return (
        f"{local_time(start, zone)} to {local_time(end, zone)}{which}{length}; "
        f"times in {report.timezone}"
    )


def duration_text(span: timedelta) -> str:
    """``24 h`` up to two days, ``30 days`` beyond (rounded to the nearest whole unit)."""
    hours = span.total_seconds() / 3600
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"


def period_short(report: Report) -> str:
    """``2026-01-04 to 2026-01-07 (Europe/Berlin)`` for the printed page footer."""
    zone = report.zone
    start = report.period_from or report.first_record
    end = report.period_to or report.last_record
    if start is None or end is None:
        return "no records"
    return (
        f"{start.astimezone(zone):%Y-%m-%d} to {end.astimezone(zone):%Y-%m-%d} ({report.timezone})"
    )


def _alert(report: Report) -> str:
    """Over-delivery and unexplained flow open the report, in red, one line each."""
    safety = report.safety
    if not safety.alert:
        return ""
    zone = report.zone
    items = [
        f"<li>Over-delivery: {escape(local_time(r.scheduled, zone))}: "
        f"{escape(decimal_text(r.delivered_volume_ul))} µL delivered for "
        f"{escape(decimal_text(r.requested_volume_ul))} µL commanded "
        f"({escape(ug(r.delivered_dose_ug))} for {escape(ug(r.prescribed_dose_ug))})</li>"
        for r in safety.over_delivered
        if r.scheduled is not None
    ]
    # One line each, opening with the volume and dose or "volume unknown" (never a bare
    # number); the words in full are in the unexplained-flow table after page 1.
    items += [
        f"<li>Unexplained flow: {escape(local_time(f.when, zone))}: {escape(f.summary)}</li>"
        for f in safety.unexplained_flow
    ]
    count = len(safety.over_delivered) + len(safety.unexplained_flow)
    return (
        f'<div id="safety-alert" class="alert">SAFETY: {count} event'
        f"{'' if count == 1 else 's'} of over-delivery or unexplained flow"
        f"<ul>{''.join(items)}</ul></div>"
    )


def _keys(report: Report) -> str:
    total = report.total
    adherence = "—" if total.adherence_pct is None else f"{total.adherence_pct} %"
    prescribed = total.prescribed_dose_ug
    share = f" ({(100 * total.received_dose_ug / prescribed):.1f} %)" if prescribed else ""
    counts = ", ".join(
        f"{total.counts[o]} {TERMS[o].label}" for o in SlotOutcome if total.counts[o]
    )
    return (
        '<div class="keys" id="keys">'
        f'<div class="key" id="adherence">adherence<b>{adherence}</b>'
        f"{total.full} of {total.due} due slots given in full</div>"
        f"{_dose_key(total, share)}"
        f'<div class="key" id="slots">slots<b>{total.scheduled}</b>{escape(counts) or "none"}'
        "</div></div>"
    )


def _dose_key(total: Tally, share: str) -> str:
    """Dose delivered by pulses; with unexplained flow (SR-26), what the subject received, the
    flow's part in red, since the gate counted it as delivered."""
    prescribed = f"of {escape(ug(total.prescribed_dose_ug))} prescribed for the due slots{share}"
    if not total.unexplained_flows:
        return (
            f'<div class="key" id="dose">dose delivered<b>{escape(ug(total.delivered_dose_ug))}'
            f"</b>{prescribed}</div>"
        )
    unknown = total.unexplained_flows_volume_unknown
    flows = count_words(total.unexplained_flows, "unexplained flow")
    of_unknown = f", {unknown} of unknown volume" if unknown else ""
    return (
        f'<div class="key" id="dose">dose received<b>{escape(ug(total.received_dose_ug))}</b>'
        f'<span class="flag">incl. {escape(ug(total.unexplained_flow_dose_ug))} in '
        f"{escape(flows)}{escape(of_unknown)}</span> {prescribed}</div>"
    )


def _identity(report: Report) -> str:
    p = report.prescription_in_force
    prescription = (
        f"<b>{escape(prescription_words(p))}</b><br>"
        f'<span class="small">{escape(prescription_details(p))}</span>'
        if p
        else NOT_RECORDED
    )
    changes = len(report.changes)
    rows = [
        ("subject", "subject", escape(subject_text(report))),
        ("pump", "pump", escape(pump_text(report))),
        ("period", "period", escape(period_text(report))),
        ("prescription", "prescription", prescription),
        (
            "limits",
            "safety limits",
            escape(limits_words(report.limits_in_force, limits_from(report.limits_in_force))),
        ),
        (
            "changes-count",
            "changes",
            "none in the period"
            if not changes
            else f'<a href="#changes">{count_words(changes, "change")}</a> of prescription or '
            "limits in the period (table below)",
        ),
    ]
    body = "".join(f'<tr id="{i}"><th>{escape(k)}</th><td>{v}</td></tr>' for i, k, v in rows)
    return f'<table id="identity" class="facts"><tbody>{body}</tbody></table>'


def _integrity(report: Report) -> str:
    integrity = report.integrity
    css = "ok" if integrity.ok else "tampered"
    warnings = "".join(f"<br>warning: {escape(w)}" for w in integrity.warnings)
    return (
        f'<div id="integrity" class="verdict {css}">Journal integrity: '
        f"{escape(integrity.verdict)}{warnings}</div>"
    )


def _glance(report: Report) -> list[str]:
    parts = [
        '<section class="glance" id="glance">',
        _integrity(report),
        _alert(report),
        f"<h1>{TITLE}</h1>",
        _identity(report),
    ]
    if not report.has_data:
        parts.append(
            '<div id="no-data" class="nodata">No data: the journal has no slots, '
            "alarms or suspensions in this period.</div>"
        )
    parts += [_keys(report), "<h2>Safety events</h2>", html_facts.safety(report), "</section>"]
    return parts


def _figures(report: Report) -> list[str]:
    drawn = figures.figures(report)
    if not drawn:
        return []
    return ["<h2>Figures</h2>"] + [
        f'<figure id="fig-{name}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'
        for name, caption, svg in drawn
    ]


def _foot(report: Report) -> str:
    return (
        '<p class="foot">Generated by pumpctl '
        f"{escape(__version__)} on {escape(local_time(report.generated, report.zone))} from "
        f"{escape(report.source)}"
        + (f" (journal {escape(report.journal_id)})" if report.journal_id else "")
        + f". Clinical numbers, limits and the exposure model: {SOURCES}, with their sources. "
        "Research software, not a medical device. Exposure is a model prediction, not a "
        "measurement.</p>"
    )


def render_html(report: Report) -> str:
    body = [
        *_glance(report),
        *_figures(report),
        *html_pituitary.section(report),
        *html_tables.tables(report),
        _foot(report),
    ]
    subject = _label(report.subject, "id") or NOT_RECORDED
    foot = f"pumpctl delivery report · subject {subject} · {period_short(report)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(TITLE)} · {escape(subject)}</title>"
        f"<style>{_PAGE.replace('FOOT', css_string(foot))}{_CSS}</style>"
        "</head><body>" + "\n".join(body) + "</body></html>\n"
    )


def write_html(report: Report, output: Path) -> None:
    output.write_text(render_html(report), encoding="utf-8")
