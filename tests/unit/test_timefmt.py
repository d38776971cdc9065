"""Local times in the prescription's zone carry their UTC offset."""

from datetime import UTC, datetime, timedelta

import pytest

from pumpctl.core.timefmt import local_text, offset_text


def test_two_slots_across_the_autumn_change_read_their_true_distance() -> None:
    """SR-11: 120 min apart across the change read 02:30+02:00 then 03:30+01:00, not 60 min."""
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    shown = [local_text(t, "Europe/Berlin") for t in (first, first + timedelta(minutes=120))]
    assert shown == ["2026-10-25 02:30+02:00", "2026-10-25 03:30+01:00"]


def test_offsets_of_every_shape() -> None:
    """Negative, half-hour, quarter-hour and historical second offsets are all written out."""
    assert offset_text(None) == "+00:00"
    assert offset_text(timedelta(hours=-3, minutes=-30)) == "-03:30"
    assert (
        local_text(datetime(2026, 1, 1, tzinfo=UTC), "Asia/Kathmandu") == "2026-01-01 05:45+05:45"
    )
    assert offset_text(timedelta(minutes=53, seconds=28)) == "+00:53:28"
    assert local_text(datetime(2026, 1, 1, tzinfo=UTC), "UTC", seconds=True) == (
        "2026-01-01 00:00:00+00:00"
    )


def test_a_naive_time_is_refused() -> None:
    """A time without a zone cannot be shown as local time anywhere."""
    with pytest.raises(ValueError, match="naive"):
        local_text(datetime(2026, 1, 1), "UTC")
