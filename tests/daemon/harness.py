"""A daemon wired to the in-process simulator on one virtual clock: real wire bytes, no sleeping."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pumpctl.config import Config, parse_config_text
from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.assemble import assemble
from pumpctl.daemon.service import Daemon
from pumpctl.daemon.waiting import VirtualWaker
from pumpctl.journal import EventKind, Journal
from pumpctl.simulator.ledger import Ledger
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.personality import Simulator, make_simulator, model_for_driver

START = datetime(2026, 3, 2, 7, 55, tzinfo=UTC)
#: The bytes of the command that starts a bolus, per driver (what a crash test waits for).
RUN_COMMAND = {"ne1000": b"RUN", "harvard11": b"irun"}
OPERATOR = {"uid": 1000, "gid": 1000, "pid": 4242}

CONFIG = """
[prescription]
dose_ug = 10
concentration_ug_per_ml = 1000
interval_min = 90
pulse_duration_s = 60
anchor = "2026-03-02T08:00:00+00:00"
timezone = "UTC"

[pump]
driver = "ne1000"
url = "socket://127.0.0.1:7777"
syringe_diameter_mm = 4.78
syringe_volume_ul = 1000
safe_mode_timeout_s = 30

[journal]
state_dir = "/nonexistent"
"""


@dataclass
class Bench:
    clock: VirtualClock
    sim: Simulator
    ledger: Ledger
    journal: Journal
    daemon: Daemon
    config: Config

    def run_for(self, seconds: float) -> None:
        self.daemon.run(until=self.clock.now() + timedelta(seconds=seconds))

    def run_until(self, when: datetime) -> None:
        self.daemon.run(until=when)

    def starts(self) -> list[dict[str, Any]]:
        return [e for e in self.ledger.entries if e["event"] == "motion.start"]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.journal.events()]

    def ack(self, alarm_id: str, reason: str = "checked") -> dict[str, Any]:
        return self.daemon.handle({"cmd": "ack", "alarm_id": alarm_id, "reason": reason}, OPERATOR)


def config_text(driver: str = "ne1000", safe_mode_timeout_s: int = 30) -> str:
    """The bench's configuration file for ``driver`` (a reload of it with nothing else changed
    keeps the running [pump] section)."""
    watchdog = f"safe_mode_timeout_s = {safe_mode_timeout_s}"
    text = CONFIG.replace('driver = "ne1000"', f'driver = "{driver}"')
    return text.replace("safe_mode_timeout_s = 30", watchdog)


def make_bench(
    tmp_path: Path,
    *,
    faults: tuple[str, ...] = (),
    fill_ul: Decimal | None = Decimal(1000),
    clock: VirtualClock | None = None,
    journal_name: str = "journal.sqlite3",
    sim: Simulator | None = None,
    ledger: Ledger | None = None,
    extra_config: str = "",
    heartbeat_s: float = 10.0,
    safe_mode_timeout_s: int = 30,
    wire_time: bool = False,
    driver: str = "ne1000",
) -> Bench:
    """``wire_time``: the loopback moves the clock by each byte's time on the line;
    ``safe_mode_timeout_s`` replaces the configured watchdog period (the heartbeat must stay
    below it); ``driver`` names the pump's driver (the simulator speaks its protocol)."""
    config = parse_config_text(config_text(driver, safe_mode_timeout_s) + extra_config)
    clock = clock or VirtualClock(START, elapsed_s=5000.0)
    ledger = ledger if ledger is not None else Ledger()
    if sim is None:
        sim = make_simulator(model_for_driver(driver), clock, syringe_ul=1000.0, ledger=ledger)
    for fault in faults:
        sim.inject(fault)
    journal = Journal(tmp_path / journal_name, clock)
    if fill_ul is not None and not journal.events(kinds=(EventKind.RESERVOIR_CHANGED,)):
        journal.record_reservoir_change(fill_ul, "test", "syringe loaded")
    daemon = assemble(
        config,
        clock=clock,
        waker=VirtualWaker(clock),
        journal=journal,
        transport=LoopbackTransport(sim, advance=clock.advance if wire_time else None),
        heartbeat_s=heartbeat_s,
        record_first_fill=False,
    )
    return Bench(clock, sim, ledger, journal, daemon, config)
