"""The metrics textfile: parsed back with prometheus_client's own parser."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from pumpctl.daemon.metrics import TextfileWriter, textfile_path

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SNAPSHOT = {
    "state": "ready",
    "pump_ready": True,
    "last_delivered_utc": "2026-03-02T08:00:00+00:00",
    "next_slot": {"slot_id": "S20260302T093000Z", "scheduled_utc": "2026-03-02T09:30:00+00:00"},
    "reservoir_ul": 962.5,
    "journal_head": {"seq": 412, "hash": "ab"},
    "counts": {"DELIVERED": 7, "MISSED": 1},
    "alarms": [
        {"id": "pump-alarm-stall", "priority": "high", "acknowledged": False},
        {"id": "reservoir-low", "priority": "low", "acknowledged": True},
    ],
    "notify": {"pending": 0, "sent": 3, "failed": 1},
}


def _parse(path: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = path.read_text(encoding="utf-8")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_textfile_parses_back_with_every_figure(tmp_path: Path) -> None:
    """Pulses by outcome, alarms by priority, reservoir, ages, head and link state parse back."""
    writer = TextfileWriter(tmp_path, "bench 1", 15)
    writer.write(SNAPSHOT, NOW, elapsed_s=100.0)
    assert writer.path == tmp_path / "pumpctl-bench_1.prom"
    m = _parse(writer.path)

    def get(name: str, **labels: str) -> float:
        return m[(name, frozenset({"pump": "bench 1", **labels}.items()))]

    assert get("pumpctl_pulses", outcome="DELIVERED") == 7
    assert get("pumpctl_pulses", outcome="MISSED") == 1
    assert get("pumpctl_pulses", outcome="UNCERTAIN") == 0
    assert get("pumpctl_alarms_active", priority="high") == 1
    assert get("pumpctl_alarms_active", priority="low") == 1
    assert get("pumpctl_alarms_unacknowledged", priority="low") == 0
    assert get("pumpctl_reservoir_microlitres") == 962.5
    assert get("pumpctl_seconds_since_last_delivered_pulse") == 3600
    assert (
        get("pumpctl_next_slot_timestamp_seconds")
        == datetime(2026, 3, 2, 9, 30, tzinfo=UTC).timestamp()
    )
    assert get("pumpctl_journal_head_seq") == 412
    assert get("pumpctl_pump_link_up") == 1
    assert get("pumpctl_state", state="ready") == 1
    assert get("pumpctl_state", state="suspended") == 0
    assert get("pumpctl_notifications", outcome="failed") == 1


def test_unknown_values_are_left_out_not_zero(tmp_path: Path) -> None:
    """An unknown reservoir or a daemon that never delivered exports no made-up number."""
    writer = TextfileWriter(tmp_path, "", 15)
    writer.write({"state": "pump-not-ready", "pump_ready": False}, NOW, elapsed_s=0.0)
    assert writer.path == textfile_path(tmp_path, "") == tmp_path / "pumpctl.prom"
    names = {name for name, _ in _parse(writer.path)}
    assert "pumpctl_reservoir_microlitres" not in names
    assert "pumpctl_seconds_since_last_delivered_pulse" not in names
    assert _parse(writer.path)[("pumpctl_pump_link_up", frozenset({("pump", "pumpctl")}))] == 0


def test_writes_are_spaced_by_the_interval_and_leave_no_temporary(tmp_path: Path) -> None:
    """The writer is due once per interval of elapsed time and leaves only its one file."""
    writer = TextfileWriter(tmp_path, "p", 15)
    assert writer.due(0.0)
    writer.write(SNAPSHOT, NOW, elapsed_s=0.0)
    assert not writer.due(14.9)
    assert writer.due(15.0)
    assert [p.name for p in tmp_path.iterdir()] == ["pumpctl-p.prom"]
