"""Local times as people should read them: in the prescription's zone, with the UTC offset beside.

Without the offset, the autumn DST change makes two slots 120 min apart look 60 min apart
(``02:30`` then ``02:30``); with it they read ``02:30+02:00`` and ``02:30+01:00``. Every local
time pumpctl prints (plan, status, log show, reports) goes through :func:`local_text`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def offset_text(offset: timedelta | None) -> str:
    """A UTC offset as ``+02:00``, ``-03:30``, ``+05:45`` (``+00:00`` for UTC)."""
    total = int((offset or timedelta(0)).total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def local_text(when: datetime, zone: ZoneInfo | str, *, seconds: bool = False) -> str:
    """``2026-10-25 02:30+02:00``: ``when`` (aware) as the clock in ``zone`` showed it."""
    if when.tzinfo is None:
        raise ValueError(f"time {when.isoformat()} is naive: allowed timezone-aware times only")
    local = when.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return shown + offset_text(local.utcoffset())
