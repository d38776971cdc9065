"""The demo's event lines give slot times in the prescription's zone, with the UTC offset."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pumpctl.demo import render

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_pulse_line_gives_its_slot_in_local_time_with_the_offset() -> None:
    """SR-11: the slot id (UTC) is followed by its local time, across the autumn change too."""
    event = {
        "event": "pulse.delivered",
        "timestamp": "2026-10-25T00:49:45.123456Z",
        "slot_id": "S20261025T010000Z",
        "delivered_ul": "10.00",
    }
    assert render(event, BERLIN) == (
        "00:49:45  pulse S20261025T010000Z (2026-10-25 02:00+01:00): DELIVERED 10.00 uL"
    )
    event["slot_id"] = "S20261025T003000Z"
    assert "(2026-10-25 02:30+02:00)" in str(render(event, BERLIN))


def test_the_next_pulse_of_daemon_ready_is_local_with_the_offset() -> None:
    event = {
        "event": "daemon.ready",
        "timestamp": "2026-12-01T00:49:43Z",
        "next_slot": "2026-12-01T04:00:00+00:00",
    }
    assert str(render(event, BERLIN)).endswith("next pulse 2026-12-01 05:00+01:00")


def test_odd_fields_are_shown_as_they_came() -> None:
    """A slot id or time that does not parse is shown unchanged, never a traceback."""
    event = {"event": "pulse.intent", "timestamp": "x", "slot_id": "manual-1", "volume_ul": 10}
    assert render(event, BERLIN) == "  pulse manual-1: intent journaled, 10 uL"
    ready = {"event": "daemon.ready", "timestamp": "", "next_slot": "soon"}
    assert str(render(ready, BERLIN)).endswith("next pulse soon")
