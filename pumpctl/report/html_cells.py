"""Small HTML building blocks shared by the report's tables: escaped cells, local times, flags.

Every cell is escaped HTML; every time is the prescription's local time with its UTC offset.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from html import escape

from pumpctl.report.model import Report
from pumpctl.report.words import local_time

Cell = str  # already-escaped HTML


def table(
    element_id: str,
    head: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[Cell]],
    *,
    numeric: Collection[int] = (),
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


def text_cell(value: object) -> Cell:
    return "—" if value is None or value == "" else escape(str(value))


def when_text(report: Report, when: datetime | None) -> Cell:
    return "—" if when is None else escape(local_time(when, report.zone))


def slot_link(report: Report, slot_id: str, when: datetime | None) -> Cell:
    label = when_text(report, when) if when else escape(slot_id)
    return f'<a href="#slot-{escape(slot_id)}" title="{escape(slot_id)}">{label}</a>'


def flag(n: int, text: str) -> Cell:
    return f'<span class="flag">{escape(text)}</span>' if n else '<span class="none">none</span>'


def count_cell(n: int, *, alert: bool = False) -> Cell:
    """A count in a table; red when an alert outcome happened at all."""
    return f'<span class="flag">{n}</span>' if n and alert else str(n)


def reasons_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} ×{n}" for reason, n in sorted(counts.items()))
