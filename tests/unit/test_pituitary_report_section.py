"""The report's optional predicted-pituitary section, from pulses as the journal records them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pumpctl.physiology.reported import DeliveredPulse, pituitary_section

START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def test_section_is_labelled_as_a_model_and_has_a_row_per_local_day() -> None:
    """Two days of 90-min pulses: the title and caveat say model, not measurement; one table
    row per local day; the figure is inline SVG; no pulse is blunted."""
    pulses = [
        DeliveredPulse(
            START + timedelta(minutes=90 * k), START + timedelta(minutes=90 * k + 1), 10.0
        )
        for k in range(32)
    ]
    section = pituitary_section(pulses, START, START + timedelta(days=2), "UTC", 10.0)
    assert "model, not a measurement" in section.title
    assert "not a measurement of this patient" in section.caveat
    assert section.svg.startswith("<svg")
    assert [str(d.day) for d in section.days] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert sum(d.pulses for d in section.days) == 32
    assert "0 blunted" in section.summary
    assert len(section.day_lines) == 3


def test_a_missing_end_counts_as_a_one_minute_bolus() -> None:
    """A pulse the journal has no end for is predicted as the reference 1-min bolus."""
    ended = [DeliveredPulse(START, START + timedelta(minutes=1), 10.0)]
    open_ = [DeliveredPulse(START, None, 10.0)]
    end = START + timedelta(hours=3)
    assert pituitary_section(ended, START, end, "UTC", 10.0).summary == (
        pituitary_section(open_, START, end, "UTC", 10.0).summary
    )
