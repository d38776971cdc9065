"""Command-line times read the way journalctl reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pumpctl.cli.render import event_fields
from pumpctl.cli.timespec import parse_span, parse_time

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # the day Europe/Berlin moves to summer time
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("2h", NOW - timedelta(hours=2)),
        ("-2h", NOW - timedelta(hours=2)),
        ("+30min", NOW + timedelta(minutes=30)),
        ("2 hours ago", NOW - timedelta(hours=2)),
        ("1 day 3h ago", NOW - timedelta(days=1, hours=3)),
        ("1h left", NOW + timedelta(hours=1)),
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T08:00+01:00", datetime(2026, 3, 1, 7, 0, tzinfo=UTC)),
    ],
)
def test_times_and_spans(text: str, expected: datetime) -> None:
    """ISO times (UTC without a zone), now, and spans back or ahead of now."""
    assert parse_time(text, NOW, BERLIN) == expected


def test_day_words_are_local_midnights_across_a_dst_change() -> None:
    """today and yesterday are local midnights, each with its own UTC offset."""
    today = parse_time("today", NOW, BERLIN)
    yesterday = parse_time("yesterday", NOW, BERLIN)
    assert today == datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN)
    assert today.utcoffset() == timedelta(hours=1)
    assert yesterday == datetime(2026, 3, 28, 0, 0, tzinfo=BERLIN)
    assert parse_time("tomorrow", NOW, BERLIN).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize("text", ["", "soon", "2 fortnights", "h2", "last blue moon"])
def test_anything_else_is_refused_naming_the_allowed_forms(text: str) -> None:
    """A value that is no time is refused with the forms that are allowed."""
    with pytest.raises(ValueError, match="allowed ISO 8601"):
        parse_time(text, NOW)
    assert parse_span(text) is None or text == ""


def test_fields_are_flat_and_never_python_reprs() -> None:
    """Nested payloads become dotted keys; lists join; booleans and quotes read as words."""
    fields = dict(
        event_fields(
            {
                "peer": {"uid": 0, "pid": 7},
                "reasons": ["min-interval", "exposure"],
                "allowed": False,
                "detail": "line blocked",
                "empty": None,
                "nested": [{"a": 1}],
            }
        )
    )
    assert fields == {
        "allowed": "no",
        "detail": '"line blocked"',
        "nested[0].a": "1",
        "peer.pid": "7",
        "peer.uid": "root(uid=0)",
        "reasons": "min-interval,exposure",
    }
