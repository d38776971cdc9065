"""Times on the command line as ``journalctl --since`` reads them (systemd.time(7), a subset).

Accepted: ISO 8601 (``2026-03-01``, ``2026-03-01T08:00``, ``2026-03-01 08:00+01:00``; without a
zone a time is read as UTC, the journal's own zone), the words ``now``, ``today``,
``yesterday`` and ``tomorrow`` (local midnight), and spans relative to now: ``-2h``, ``+30min``,
``"2h ago"``, ``"1 day 3 hours ago"``. A bare span (``2h``) means that long ago, as a ``--since``
usually does. Pure: the caller passes the current time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

_UNITS_S = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_PART = re.compile(r"\s*(\d+)\s*([a-z]+)")
_DAY_WORDS = {"today": 0, "yesterday": -1, "tomorrow": 1}

ALLOWED = (
    "allowed ISO 8601 (2026-03-01T08:00, UTC if no zone; 2026-03-01T08:00+01:00), now, "
    "today, yesterday, tomorrow, or a span such as 2h, -30min, '1 day ago'"
)


def parse_span(text: str) -> timedelta | None:
    """``1h 30min`` as a timedelta, or None when ``text`` is not a span."""
    position, total_s = 0, 0
    text = text.strip().lower()
    if not text:
        return None
    while position < len(text):
        match = _PART.match(text, position)
        if match is None or match.group(2) not in _UNITS_S:
            return None
        total_s += int(match.group(1)) * _UNITS_S[match.group(2)]
        position = match.end()
    return timedelta(seconds=total_s)


def parse_time(text: str, now: datetime, local: tzinfo | None = None) -> datetime:
    """An aware datetime for ``text``; raises ``ValueError`` naming what is allowed."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    word = text.strip().lower()
    if word == "now":
        return now
    if word in _DAY_WORDS:
        # journalctl's day words are local midnights; `local` None means this host's zone.
        here = now.astimezone(local)
        midnight = here.replace(hour=0, minute=0, second=0, microsecond=0)
        day = midnight + timedelta(days=_DAY_WORDS[word])
        # Re-attach the zone at the new date, so a DST change in between gives the right offset.
        return day.replace(tzinfo=None).astimezone(local) if local is None else day
    sign = -1
    body = word
    if body.endswith(" ago"):
        body = body[: -len(" ago")]
    elif body.endswith(" left"):
        body, sign = body[: -len(" left")], 1
    elif body[:1] in ("+", "-"):
        sign = 1 if body[0] == "+" else -1
        body = body[1:]
    span = parse_span(body)
    if span is not None:
        return now + sign * span
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a time: {ALLOWED}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
