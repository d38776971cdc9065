"""The operator subcommands against a real control socket served by a bench handler."""

from __future__ import annotations

import io
import json
import socket
import sys
import tempfile
import types
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

from pumpctl.cli import main
from pumpctl.cli.control import (
    discover_socket,
    render_alarms,
    render_status,
    resolve_socket_path,
)
from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.alarms import AlarmKind, AlarmSet
from pumpctl.daemon.control import ControlServer, PeerCred
from pumpctl.daemon.state import json_number
from pumpctl.errors import ControlError


class Bench:
    """A stand-in for the daemon's handler: real alarms, a suspension flag, a reservoir."""

    def __init__(self) -> None:
        self.alarms = AlarmSet(VirtualClock())
        self.suspended_reason: str | None = None
        self.reservoir_ul = "0"
        self.requests: list[tuple[dict[str, Any], PeerCred]] = []

    def handle(self, request: dict[str, Any], peer: PeerCred) -> dict[str, Any]:  # noqa: PLR0911 -- one return per command
        self.requests.append((request, peer))
        cmd = request["cmd"]
        who = str(peer)
        if cmd == "status":
            return {
                "state": "suspended" if self.suspended_reason else "running",
                "suspended_reason": self.suspended_reason,
                "next_slot": {"slot_id": "s-0930", "scheduled_utc": "2026-01-05T09:30:00+00:00"},
                "reservoir_ul": json_number(Decimal(self.reservoir_ul)),
                "pump_ready": True,
                "last_delivered_utc": "2026-01-05T08:00:01+00:00",
                "counts": {},
                "alarms": [a.to_dict() for a in self.alarms.active()],
            }
        if cmd == "alarms":
            return {"alarms": [a.to_dict() for a in self.alarms.active()]}
        if cmd == "suspend":
            self.suspended_reason = request["reason"]
            return {}
        if cmd == "resume":
            self.suspended_reason = None
            return {}
        if cmd == "ack":
            self.alarms.acknowledge(request["alarm_id"], reason=request["reason"], who=who)
            return {}
        if cmd == "silence":
            alarm = self.alarms.silence(request["alarm_id"], who=who, minutes=request["minutes"])
            return {"message": f"Silenced until {alarm.silenced_until:%H:%M} UTC."}
        if cmd == "reservoir_fill":
            self.reservoir_ul = str(request["volume_ul"])
            return {}
        raise AssertionError(f"unexpected command {cmd}")


@pytest.fixture(autouse=True)
def _server_logs_aside() -> Iterator[None]:
    """The server thread's log lines go to a buffer, not into the CLI output under test."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()))
    yield
    structlog.reset_defaults()


@pytest.fixture
def bench() -> Iterator[tuple[Bench, Path]]:
    with tempfile.TemporaryDirectory(prefix="pc") as tmp:
        path = Path(tmp) / "control.sock"
        bench = Bench()
        with ControlServer(path, bench.handle):
            yield bench, path


def test_status_is_readable(bench: tuple[Bench, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """`pumpctl status` prints labelled lines for state, next slot, reservoir and alarms."""
    state, path = bench
    state.alarms.raise_alarm(AlarmKind.RESERVOIR_LOW, "300 ul left")
    assert main(["status", "--socket", str(path)]) == 0
    out = capsys.readouterr().out
    assert "State:             running" in out
    assert "Next slot:         s-0930 at 2026-01-05T09:30:00+00:00" in out
    assert "Reservoir:         0 uL" in out
    assert "Last delivered:    2026-01-05T08:00:01+00:00" in out
    assert "Pump ready:        yes" in out
    assert "Counts:            -" in out
    assert "LOW    reservoir-low" in out and "[UNACKNOWLEDGED] - 300 ul left" in out


def test_alarms_show_guidance(
    bench: tuple[Bench, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`pumpctl alarms` shows each alarm with its meaning and what to do."""
    state, path = bench
    state.alarms.raise_alarm(AlarmKind.PUMP_ALARM_STALL)
    assert main(["alarms", "--socket", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("HIGH   pump-alarm-stall")
    assert "do:      Inspect the line" in out


def test_ack_carries_reason_and_peer(bench: tuple[Bench, Path]) -> None:
    """SR-23: `pumpctl ack` delivers the reason, and the daemon sees who acknowledged."""
    state, path = bench
    state.alarms.raise_alarm(AlarmKind.PARTIAL_DELIVERY)
    assert main(["ack", "partial-delivery", "--reason", "line fixed", "--socket", str(path)]) == 0
    assert state.alarms.active() == []
    request, peer = state.requests[-1]
    assert request == {"cmd": "ack", "alarm_id": "partial-delivery", "reason": "line fixed"}
    assert peer.pid > 0


def test_suspend_resume_and_fill(
    bench: tuple[Bench, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Suspend, resume and reservoir fill reach the daemon with their typed arguments."""
    state, path = bench
    sock = ["--socket", str(path)]
    assert main(["suspend", "--reason", "line change", *sock]) == 0
    assert state.suspended_reason == "line change"
    assert main(["resume", *sock]) == 0
    assert state.suspended_reason is None
    assert main(["reservoir", "fill", "--volume-ul", "2500.5", *sock]) == 0
    assert state.reservoir_ul == "2500.5"
    assert capsys.readouterr().out.splitlines() == [
        "Delivery suspended.",
        "Delivery resumed.",
        "Reservoir fill recorded.",
    ]


def test_silence_prints_daemon_message(
    bench: tuple[Bench, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A daemon-supplied message replaces the default confirmation."""
    state, path = bench
    state.alarms.raise_alarm(AlarmKind.MISSED_PULSE)
    assert main(["silence", "missed-pulse", "--minutes", "30", "--socket", str(path)]) == 0
    assert capsys.readouterr().out == "Silenced until 08:30 UTC.\n"


def test_invalid_arguments_are_usage_errors_not_sent(
    bench: tuple[Bench, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-24: out-of-range silence is a usage error (exit 2) and never reaches the daemon."""
    state, path = bench
    assert main(["silence", "missed-pulse", "--minutes", "90", "--socket", str(path)]) == 2
    assert "minutes" in capsys.readouterr().err
    assert main(["reservoir", "fill", "--volume-ul", "-5", "--socket", str(path)]) == 2
    assert state.requests == []


def test_refusal_is_one_line_and_exit_1(
    bench: tuple[Bench, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused request prints the daemon's reason on one stderr line and exits 1."""
    _, path = bench
    assert main(["ack", "nope", "--reason", "x", "--socket", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pumpctl: error: ack: alarm_id: no alarm 'nope'")
    assert err.count("\n") == 1


def test_json_output(bench: tuple[Bench, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the reply object as one line, for success and refusal alike."""
    _, path = bench
    assert main(["alarms", "--json", "--socket", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "alarms": []}
    assert main(["ack", "nope", "--reason", "x", "--json", "--socket", str(path)]) == 1
    assert json.loads(capsys.readouterr().out)["code"] == "refused"


def test_no_daemon_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a running daemon the command says so on one line and exits 1."""
    assert main(["status", "--socket", str(tmp_path / "none.sock")]) == 1
    assert "is the pumpctl daemon running?" in capsys.readouterr().err


def test_socket_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--socket wins over -c; -c reads control.socket_path from the configuration."""
    configured = tmp_path / "from-config.sock"
    fake = types.ModuleType("pumpctl.config")
    fake.load_config = lambda path: types.SimpleNamespace(  # type: ignore[attr-defined]
        control=types.SimpleNamespace(socket_path=configured)
    )
    monkeypatch.setitem(sys.modules, "pumpctl.config", fake)
    explicit = tmp_path / "explicit.sock"
    assert resolve_socket_path(explicit, tmp_path / "pumpctl.toml") == explicit
    assert resolve_socket_path(None, tmp_path / "pumpctl.toml") == configured


def _bind_socket(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))


def test_discovery_finds_the_single_daemon(tmp_path: Path) -> None:
    """Without --socket or -c, the one socket under the searched places is used."""
    _bind_socket(tmp_path / "run" / "ne1000.sock")
    (tmp_path / "run" / "notes.sock").write_text("a regular file is not a socket")
    patterns = (f"{tmp_path}/run/*.sock", f"{tmp_path}/run/*/*.sock")
    assert discover_socket(patterns) == tmp_path / "run" / "ne1000.sock"


def test_discovery_refuses_to_guess_between_daemons(tmp_path: Path) -> None:
    """With several daemons (template instances) the command names them and asks to choose."""
    _bind_socket(tmp_path / "run" / "bench1" / "control.sock")
    _bind_socket(tmp_path / "run" / "bench2" / "control.sock")
    with pytest.raises(ControlError, match=r"several pumpctl daemons.*bench1.*bench2"):
        discover_socket((f"{tmp_path}/run/*/*.sock",))
    with pytest.raises(ControlError, match="no control socket found"):
        discover_socket((f"{tmp_path}/none/*.sock",))


def test_status_shows_times_in_the_prescriptions_zone_with_offsets() -> None:
    """SR-11: status times read in the prescription's zone, with their UTC offset, across DST.

    The reply has the daemon's typed shape (``*_utc`` fields, objects for the next slot and the
    last pulse); only the human rendering moves the times into the zone.
    """
    text = render_status(
        {
            "state": "ready",
            "last_pulse": {
                "slot_id": "S20261024T230000Z",
                "outcome": "delivered",
                "delivered_volume_ul": 50,
                "started_utc": "2026-10-24T23:00:00.120000+00:00",
            },
            "next_slot": {
                "slot_id": "S20261025T003000Z",
                "scheduled_utc": "2026-10-25T00:30:00+00:00",
            },
            "last_delivered_utc": "2026-10-24T23:00:00.120000+00:00",
            "now_utc": "2026-10-25T00:05:00.250000+00:00",
            "timezone": "Europe/Berlin",
            "alarms": [
                {"id": "link-fault", "priority": "high", "raised_at": "2026-10-25T02:30:00+00:00"}
            ],
        }
    )
    # 23:00Z is 01:00 summer time; 00:30Z is 02:30 summer time; 02:30Z is 03:30 winter time.
    assert "at 2026-10-25 01:00:00+02:00" in text
    assert "Next slot:         S20261025T003000Z at 2026-10-25 02:30:00+02:00" in text
    assert "Last delivered:    2026-10-25 01:00:00+02:00" in text
    assert "Daemon time:       2026-10-25 02:05:00+02:00" in text
    assert "Timezone:          Europe/Berlin" in text
    assert "since 2026-10-25 03:30:00+01:00" in text
    assert "+00:00" not in text


def test_alarms_show_times_in_the_prescriptions_zone_with_offsets() -> None:
    """SR-11: `pumpctl alarms` reads its times as `status` does: the prescription's zone, offset."""
    alarm = {
        "id": "missed-pulse",
        "priority": "medium",
        "raised_at": "2026-03-29T00:30:00+00:00",
        "silenced": True,
        "silenced_until": "2026-03-29T01:30:00+00:00",
    }
    text = render_alarms({"alarms": [alarm], "timezone": "Europe/Berlin"})
    # Across the spring change: 01:30 winter time, then 03:30 summer time.
    assert "since 2026-03-29 01:30:00+01:00" in text
    assert "silenced until 2026-03-29 03:30:00+02:00" in text
    # Without a zone (an older daemon) the UTC times are shown as they came, offset and all.
    assert "since 2026-03-29T00:30:00+00:00" in render_alarms({"alarms": [alarm]})
