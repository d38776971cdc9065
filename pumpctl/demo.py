"""``pumpctl demo``: pumpsim on a pty and the daemon against it, a day of therapy in a minute.

Both run as their own processes, exactly as on a bench: ``pumpsim serve --pty`` with a ground-
truth ledger, and ``pumpctl run --time-scale N``, which refuses to start unless the pump proves
it is pumpsim at the same scale. The demo streams the daemon's events readably, stops it with
SIGTERM after the simulated period, then verifies the journal and compares it with the ledger.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from pumpctl.core.gate import describe
from pumpctl.core.model import START_LATENCY_BOUND
from pumpctl.core.timefmt import local_text
from pumpctl.errors import PumpctlError
from pumpctl.invariants import check_intents_cover_starts, check_starts, commanded_starts

#: Events worth showing a newcomer, with how to phrase them.
SHOWN = {
    "daemon.ready": "daemon ready (journal verified, pump self-tested); next pulse {next_slot}",
    "pulse.intent": "pulse {slot_id}: intent journaled, {volume_ul} uL",
    "pulse.delivered": "pulse {slot_id}: DELIVERED {delivered_ul} uL",
    "pulse.partial": "pulse {slot_id}: PARTIAL {delivered_ul} uL ({detail})",
    "pulse.over_delivered": "pulse {slot_id}: OVER-DELIVERED {delivered_ul} uL ({detail})",
    "pulse.refused": "slot {slot_id}: not started ({detail})",
    "flow.unexplained": "UNEXPLAINED FLOW: {detail}",
    "pulse.not_delivered": "pulse {slot_id}: NOT DELIVERED ({detail})",
    "pulse.uncertain": "pulse {slot_id}: UNCERTAIN ({detail})",
    "gate.denied": "slot {slot_id}: denied by the safety gate ({reasons})",
    "slot.missed": "slot {slot_id}: MISSED ({detail})",
    "alarm.raised": "ALARM {kind}: {detail}",
    "pump.alarm": "pump alarm {alarm} ({name}) answered {command}; acknowledged",
    "daemon.stopping": "stopping on {signal}",
}


@dataclass(frozen=True)
class DemoResult:
    work_dir: Path
    journal_path: Path
    lines: list[str]
    ok: bool


def demo_config_text(pump_link: Path, state_dir: Path, safe_mode_timeout_s: int) -> str:
    """The embedded demo configuration, pointed at this run's pty and state directory."""
    text = files("pumpctl.examples").joinpath("demo.toml").read_text(encoding="utf-8")
    replacements = {
        "url": json.dumps(str(pump_link)),
        "state_dir": json.dumps(str(state_dir)),
        "safe_mode_timeout_s": str(safe_mode_timeout_s),
        "format": '"json"',
    }
    for key, value in replacements.items():
        text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        if count != 1:
            raise PumpctlError(f"embedded demo.toml: expected one '{key} = ' line, found {count}")
    return text


def _slot_local(slot_id: Any, zone: ZoneInfo) -> str:
    """``S20261201T040000Z`` as ``S20261201T040000Z (2026-12-01 05:00+01:00)``; else as it is."""
    try:
        scheduled = datetime.strptime(str(slot_id), "S%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return str(slot_id)
    return f"{slot_id} ({local_text(scheduled, zone)})"


def _time_local(text: Any, zone: ZoneInfo) -> str:
    """An ISO 8601 time as the prescription's clock shows it, with the offset; else as it is."""
    try:
        return local_text(datetime.fromisoformat(str(text)), zone)
    except ValueError:
        return str(text)


def render(event: dict[str, Any], zone: ZoneInfo | None = None) -> str | None:
    """One daemon event as the demo shows it: this computer's time (UTC), then the event.

    With ``zone``, slot and pulse times (on the simulated clock) are also given in the
    prescription's zone with their UTC offset.
    """
    template = SHOWN.get(str(event.get("event")))
    if template is None:
        return None
    fields = {k: (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in event.items()}
    if zone is not None:
        if "slot_id" in fields:
            fields["slot_id"] = _slot_local(fields["slot_id"], zone)
        if "next_slot" in fields:
            fields["next_slot"] = _time_local(fields["next_slot"], zone)
    try:
        text = template.format(**fields)
    except (KeyError, IndexError):
        text = str(event.get("event"))
    return f"{str(event.get('timestamp', ''))[11:19]}  {text}"


def wait_for(path: Path, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if process.poll() is not None:
            raise PumpctlError(f"pumpsim exited with code {process.returncode} before serving")
        if time.monotonic() > deadline:
            raise PumpctlError(f"pumpsim did not create {path} within {timeout_s:g} s")
        time.sleep(0.05)


def run_demo(
    work_dir: Path,
    *,
    hours: float = 24.0,
    time_scale: float = 1440.0,
    out: Callable[[str], None] = print,
) -> DemoResult:
    """Run the demo in ``work_dir`` (created); returns what happened."""
    work_dir.mkdir(parents=True, exist_ok=True)
    state_dir = work_dir / "state"
    link = work_dir / "pump"
    ledger = work_dir / "ledger.jsonl"
    config_path = work_dir / "demo.toml"
    # At N x the pump's watchdog period shrinks N-fold in real time: take the longest one.
    config_path.write_text(demo_config_text(link, state_dir, 255), encoding="utf-8")
    os.chmod(config_path, 0o600)
    start = datetime.now(UTC).replace(microsecond=0)
    # Our own interpreter and modules, with arguments built here: nothing untrusted.
    sim = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "pumpctl.simulator.cli",
            "serve",
            "--pty",
            "--link",
            str(link),
            "--time-scale",
            f"{time_scale:g}",
            "--ledger",
            str(ledger),
            "--start",
            start.isoformat(),
            "--seed",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(work_dir / "pumpsim.log").open("wb"),
    )
    daemon: subprocess.Popen[bytes] | None = None
    try:
        wait_for(link, 10.0, sim)
        daemon = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "pumpctl",
                "run",
                "-c",
                str(config_path),
                "--time-scale",
                f"{time_scale:g}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out(
            f"pumpsim on {link} at {time_scale:g}x; daemon pid {daemon.pid}; "
            f"{hours:g} h of therapy in about {hours * 3600 / time_scale:.0f} s"
        )
        from pumpctl.config import load_config  # noqa: PLC0415 - pydantic only once running

        zone = load_config(config_path).prescription.zone
        out(
            "left: this computer's clock (UTC); slot times: the simulated therapy clock, in "
            f"{zone.key} with the UTC offset"
        )
        stream_events(daemon, hours * 3600 / time_scale + 5.0, out, zone)
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()
    journal_path = state_dir / "journal.sqlite3"
    lines, ok = summarize(journal_path, ledger, config_path, time_scale)
    if journal_path.exists():
        from pumpctl.report import write_report  # noqa: PLC0415 - loaded only when needed

        report = write_report(journal_path, "html", work_dir / "report.html")
        lines.append(f"clinician report: {report}")
    if daemon is not None and daemon.returncode not in (0, None):
        ok = False
        lines.append(f"daemon exited with code {daemon.returncode}; see its events above")
    return DemoResult(work_dir, journal_path, lines, ok)


def stream_events(
    daemon: subprocess.Popen[bytes],
    duration_s: float,
    out: Callable[[str], None],
    zone: ZoneInfo | None = None,
) -> None:
    """Show the daemon's events until ``duration_s`` has passed (or it exits)."""
    assert daemon.stdout is not None  # noqa: S101 - Popen was given stdout=PIPE
    stdout: IO[bytes] = daemon.stdout
    os.set_blocking(stdout.fileno(), False)
    deadline = time.monotonic() + duration_s
    buffer = b""
    while time.monotonic() < deadline and daemon.poll() is None:
        chunk = stdout.read() or b""
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            show_line(raw, out, zone)
        if not chunk:
            time.sleep(0.05)
    daemon.send_signal(signal.SIGTERM)
    os.set_blocking(stdout.fileno(), True)
    for raw in (buffer + stdout.read()).split(b"\n"):
        show_line(raw, out, zone)


def show_line(raw: bytes, out: Callable[[str], None], zone: ZoneInfo | None = None) -> None:
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return
    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        out(text)  # an error line, shown as it is
        return
    if isinstance(event, dict):
        shown = render(event, zone)
        if shown is not None:
            out(shown)


def summarize(
    journal_path: Path, ledger_path: Path, config_path: Path, time_scale: float
) -> tuple[list[str], bool]:
    """Counts from the journal, its chain verdict, and the ledger held against it."""
    from pumpctl.config import load_config  # noqa: PLC0415 - after the run, not at import
    from pumpctl.core.clock import SystemClock  # noqa: PLC0415
    from pumpctl.journal import EventKind, Journal  # noqa: PLC0415
    from pumpctl.journal.verify import verify  # noqa: PLC0415

    if not journal_path.exists():
        return ["no journal was written (the daemon did not start)"], False
    outcomes: Counter[str] = Counter()
    intents = []
    with Journal(journal_path, SystemClock()) as journal:
        for event in journal.events(
            kinds=(
                EventKind.PULSE_INTENT,
                EventKind.PULSE_OUTCOME,
                EventKind.PULSE_RECONCILED,
                EventKind.SLOT_MISSED,
                EventKind.ALARM_RAISED,
            )
        ):
            if event.kind == EventKind.PULSE_INTENT:
                intents.append(event.wall)
            elif event.kind == EventKind.SLOT_MISSED:
                outcomes.update(["MISSED"])
            elif event.kind == EventKind.ALARM_RAISED:
                outcomes.update(["alarms"])
            else:
                outcomes.update([str(event.payload["outcome"])])
    result = verify(journal_path)
    entries = [json.loads(line) for line in ledger_path.read_text().splitlines() if line.strip()]
    starts = commanded_starts(entries)
    infused = sum(
        Decimal(str(e["volume_ul"]))
        for e in entries
        if e.get("event") == "motion.end" and e.get("direction") == "INF"
    )
    limits = load_config(config_path).limits
    # At N x every real latency (wake-up, fsync, serial round trips) is N x longer in simulated
    # time: the gate's start-latency allowance scales the same way, and so does the check.
    tolerance = START_LATENCY_BOUND * time_scale
    violations = check_starts(starts, limits, tolerance=tolerance) + check_intents_cover_starts(
        starts, intents, slack_s=max(120.0, tolerance.total_seconds())
    )
    lines = [
        "summary: "
        + ", ".join(
            f"{k.lower()} {outcomes.get(k, 0)}"
            for k in (
                "DELIVERED",
                "PARTIAL",
                "OVER_DELIVERED",
                "UNCERTAIN",
                "NOT_DELIVERED",
                "MISSED",
                "alarms",
            )
        ),
        f"ledger (what the plunger did): {len(starts)} pulse starts, {infused} uL infused",
        f"journal {journal_path}: "
        + (
            f"chain verified, head {result.head.seq}:{result.head.hash[:16]}…"
            if result.ok and result.head
            else f"NOT verified: {result.problem}"
        ),
        f"safety invariants against the ledger (tolerance {describe(tolerance)}: the "
        f"{describe(START_LATENCY_BOUND)} start-latency bound x {time_scale:g}): "
        + ("all held" if not violations else "; ".join(violations)),
    ]
    return lines, result.ok and not violations
