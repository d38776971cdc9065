"""Figure helpers: long periods become one staircase with empty days as zero."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from pumpctl.report import plots


def test_daily_steps_fill_days_without_slots_with_zero() -> None:
    """Day edges are contiguous and a day absent from the table is drawn as zero µg."""
    first = datetime(2026, 1, 1, tzinfo=UTC)
    starts = [first, first + timedelta(days=2)]
    edges, got, want = plots._daily_steps(starts, [100.0, 90.0], [150.0, 150.0])
    assert got == [100.0, 0.0, 90.0]
    assert want == [150.0, 0.0, 150.0]
    assert len(edges) == 4
    assert [b - a for a, b in itertools.pairwise(edges)] == [1.0, 1.0, 1.0]


def test_date_numbers_match_matplotlib() -> None:
    """The fast date conversion gives matplotlib's own date numbers."""
    import matplotlib.dates as mdates  # noqa: PLC0415  (plots has chosen the backend)

    when = datetime(2026, 3, 2, 9, 32, tzinfo=UTC)
    assert plots._x([when]) == [float(mdates.date2num(when))]  # type: ignore[no-untyped-call]
