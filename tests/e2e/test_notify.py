"""Alarm notifications and metrics end to end: pumpsim, ``pumpctl run`` and a webhook receiver.

The receiver is a small HTTP server on 127.0.0.1; the daemon reaches it through the documented
curl webhook command. The metrics textfile the same daemon writes is parsed back with
``prometheus_client.parser``.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import DaemonProcess, bench, journal_events, wait_until

SCALE = 480.0
LEAD = timedelta(minutes=40)
#: Real seconds an alarm may take from the daemon's log line to the receiver.
DELIVERY_BOUND_S = 10.0
pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.skipif(shutil.which("curl") is None, reason="the webhook example uses curl"),
]


class Receiver:
    """Records every POSTed JSON body with the real time it arrived."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                owner.received.append((time.time(), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def bodies(self, alarm: str, event: str) -> list[dict[str, Any]]:
        return [b for _, b in self.received if b["alarm"] == alarm and b["event"] == event]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _webhook(url: str) -> dict[str, object]:
    """The webhook example of docs/operating.md, pointed at the local receiver."""
    return {
        "timeout_s": 5,
        "retries": 2,
        "retry_backoff_s": 1,
        "command": [
            {
                "name": "webhook",
                "argv": ["curl", "-fsS", "-m", "4", "-H", "Content-Type: application/json",
                         "--data-binary", "@-", url],
                "stdin": "json",
            }
        ],
    }  # fmt: skip


def _metrics(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_a_stall_reaches_the_webhook_once_and_shows_in_metrics(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A pump stall's alarm reaches a webhook within seconds, once, and not again after a
    restart; each attempt is journaled, and the metrics file shows the alarm and the pulse."""
    prom = tmp_path / "prom"
    prom.mkdir()
    sections = {
        "notify": _webhook(receiver.url),
        "metrics": {"textfile_dir": str(prom), "interval_s": 1},
        "subject": {"id": "S-001", "pump_label": "bench1"},
    }
    with bench(
        tmp_path, scale=SCALE, lead=LEAD, faults=("stall@run:1:0.5",), sections=sections
    ) as (_, daemon, _):
        raised = daemon.wait_event("alarm.raised", 30, lambda e: e["kind"] == "pump-alarm-stall")
        wait_until(
            lambda: receiver.bodies("pump-alarm-stall", "raised"),
            DELIVERY_BOUND_S,
            "the stall notification at the webhook",
        )
        arrived, body = next(
            (t, b) for t, b in receiver.received if b["alarm"] == "pump-alarm-stall"
        )
        logged = datetime.fromisoformat(raised["timestamp"].replace("Z", "+00:00")).timestamp()
        assert arrived - logged < DELIVERY_BOUND_S
        assert (body["priority"], body["pump"], body["subject"]) == ("high", "bench1", "S-001")
        assert body["slot"].startswith("S2026")
        assert "occlusion" in body["text"]  # the catalogue's meaning travels with it
        textfile = prom / "pumpctl-bench1.prom"
        wait_until(
            lambda: (
                textfile.exists()
                and _metrics(textfile).get(
                    ("pumpctl_alarms_active", (("priority", "high"), ("pump", "bench1")))
                )
                == 1.0
            ),
            10,
            "the stall in the metrics file",
        )
        metrics = _metrics(textfile)
        assert metrics[("pumpctl_pulses", (("outcome", "PARTIAL"), ("pump", "bench1")))] == 1.0
        assert metrics[("pumpctl_pump_link_up", (("pump", "bench1"),))] == 1.0
        assert metrics[("pumpctl_journal_head_seq", (("pump", "bench1"),))] > 0
        assert ("pumpctl_next_slot_timestamp_seconds", (("pump", "bench1"),)) in metrics
        # Restart with the stall still unacknowledged: it was sent, so it is not sent again.
        assert daemon.stop() == 0
        again = DaemonProcess(daemon.config, scale=SCALE, log_name="daemon2.log")
        try:
            again.wait_ready()
            time.sleep(3)
        finally:
            again.stop()
            again.close()
    assert len(receiver.bodies("pump-alarm-stall", "raised")) == 1
    attempts = [e["payload"] for e in journal_events(daemon.journal_path, "notify.attempt")]
    stall = [a for a in attempts if a["alarm_id"] == "pump-alarm-stall"]
    assert [(a["outcome"], a["command"], a["final"]) for a in stall] == [("sent", "webhook", True)]


def test_an_unreachable_receiver_raises_notify_failed(tmp_path: Path) -> None:
    """A webhook that cannot be reached is retried, journaled per attempt, and then raises the
    notify-failed alarm on the daemon's status."""
    # Bound and never listening: connections are refused for the whole test, and no test
    # running in parallel can start listening on the port meanwhile.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    with (
        closed,
        bench(
            tmp_path,
            scale=SCALE,
            lead=LEAD,
            faults=("stall@run:1:0.5",),
            sections={"notify": _webhook(dead)},
        ) as (_, daemon, _),
    ):
        daemon.wait_event("alarm.raised", 30, lambda e: e["kind"] == "pump-alarm-stall")
        wait_until(
            lambda: any(
                a["id"] == "notify-failed" for a in daemon.control.request("status")["alarms"]
            ),
            20,
            "notify-failed on the status",
        )
    attempts = [e["payload"] for e in journal_events(daemon.journal_path, "notify.attempt")]
    stall = [a for a in attempts if a["alarm_id"] == "pump-alarm-stall"]
    assert [a["attempt"] for a in stall][:3] == [1, 2, 3]
    assert all(a["outcome"] == "failed" for a in stall)
    assert stall[2]["final"] is True
