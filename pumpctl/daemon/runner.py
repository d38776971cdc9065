"""``pumpctl run``: wire configuration, lock, journal, driver, clock, control socket and signals.

Start-up order (SR-13, SR-18): lock the state directory, verify the journal, then the daemon
reconciles pending pulses and self-tests the pump; only then does it tell systemd it is ready.
Any failure before that is one clear line and a non-zero exit, with nothing delivered.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any, cast

import structlog

from pumpctl.config import Config, load_config
from pumpctl.config.sections import PumpSection
from pumpctl.core.clock import Clock, ScaledClock, SystemClock
from pumpctl.core.model import Limits, Prescription
from pumpctl.daemon import notify
from pumpctl.daemon.control import ControlServer
from pumpctl.daemon.lock import StateLock
from pumpctl.daemon.logging import configure_logging
from pumpctl.daemon.service import Daemon, DaemonOptions, limits_dict, prescription_dict
from pumpctl.daemon.waiting import RealWaker
from pumpctl.drivers.base import PumpDriver
from pumpctl.drivers.registry import get_driver_class
from pumpctl.errors import ConfigError, PumpctlError, PumpStateError
from pumpctl.journal import Journal
from pumpctl.journal.verify import verify

log = structlog.get_logger("pumpctl.daemon")

#: Heartbeats per safe-mode watchdog period: the pump hears from pumpctl three times per period.
HEARTBEATS_PER_WATCHDOG = 3


def make_driver(config: Config) -> PumpDriver:
    cls = get_driver_class(config.pump.driver)
    driver = cls(
        config.pump.url,
        baud=config.pump.baud,
        address=config.pump.address,
        safe_mode_timeout_s=config.pump.safe_mode_timeout_s,
    )
    return cast(PumpDriver, driver)


def config_identity(config: Config) -> dict[str, Any]:
    """Subject and pump labels for the journal's daemon.start record (read by reports)."""
    pump = config.pump
    return {
        "subject": {
            "id": config.subject.id,
            "pump_label": config.subject.pump_label,
            "note": config.subject.note,
        },
        "pump": {
            "label": config.subject.pump_label,
            "driver": pump.driver,
            "url": pump.url,
            "address": pump.address,
            "syringe_diameter_mm": str(pump.syringe_diameter_mm),
            "syringe_volume_ul": str(pump.syringe_volume_ul),
        },
    }


def simulator_clock(driver: PumpDriver, time_scale: float) -> tuple[ScaledClock, bool]:
    """The simulator's scaled clock, or a refusal: a scaled clock never drives a real pump.

    Also says whether the pump reported a power reset on this first connection: that alarm is
    evidence for reconciling a pulse left pending, and it is answered only once.
    """
    driver.connect()
    try:
        info = driver.simulator_handshake()
        reset_seen = "R" in driver.status().alarms
    finally:
        driver.close()
    if info is None:
        raise PumpStateError(
            f"--time-scale {time_scale:g} refused: the pump did not answer the simulator "
            "handshake, so it is not pumpsim; a scaled clock is only for the simulator"
        )
    if not math.isclose(info.time_scale, time_scale, rel_tol=1e-9):
        raise PumpStateError(
            f"--time-scale {time_scale:g} refused: pumpsim runs at {info.time_scale:g}; "
            "start both at the same scale"
        )
    return ScaledClock(time_scale, origin=info.now, boot_id="pumpsim"), reset_seen


def effective_prescription(config: Config, journal: Journal) -> Prescription:
    """A time-of-day anchor keeps the cadence the journal already follows across restarts."""
    p = config.prescription
    last = last_recorded(journal, "prescription.change")
    if config.anchor_time_of_day is None or last is None or not last.get("anchor"):
        return p
    if last == dict(prescription_dict(p), anchor=last["anchor"]):
        anchor = datetime.fromisoformat(str(last["anchor"]))
        if anchor.astimezone(p.zone).time() == config.anchor_time_of_day:
            return replace(p, anchor=anchor)
    return p


def last_recorded(journal: Journal, kind: str) -> dict[str, Any] | None:
    events = journal.events(kinds=(kind,))
    if not events:
        return None
    new = events[-1].payload.get("new")
    return dict(new) if isinstance(new, dict) else None


def record_configuration(journal: Journal, prescription: Prescription, limits: Limits) -> None:
    """SR-21: a prescription or limits different from the journal's last takes effect journaled."""
    who = "configuration file"
    why = "configuration at daemon start differs from the journaled one"
    old_p = last_recorded(journal, "prescription.change")
    new_p = prescription_dict(prescription)
    if old_p != new_p:
        journal.record_prescription_change(who, old_p, new_p, why if old_p else "first start")
    old_l = last_recorded(journal, "limits.change")
    new_l = limits_dict(limits)
    if old_l != new_l:
        journal.record_limits_change(who, old_l, new_l, why if old_l else "first start")


def run_daemon(config_path: Path, *, time_scale: float | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    config = load_config(config_path)
    configure_logging(config.logging.format, config.logging.level)
    state_dir = config.journal.state_dir
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    with StateLock(state_dir):
        if config.journal.path.exists():
            verify(config.journal.path).raise_for_problem()
        driver = make_driver(config)
        clock: Clock = SystemClock()
        scale = 1.0
        reset_seen = False
        if time_scale is not None:
            clock, reset_seen = simulator_clock(driver, time_scale)
            scale = time_scale
        journal = Journal(config.journal.path, clock)
        prescription = effective_prescription(config, journal)
        record_configuration(journal, prescription, config.limits)
        if not journal.events(kinds=("reservoir.changed",)):
            # A new journal is a new therapy: the syringe is loaded as configured, on record.
            journal.record_reservoir_change(
                Decimal(config.pump.syringe_volume_ul),
                "configuration",
                "syringe loaded at first start",
            )
        heartbeat_s = config.pump.safe_mode_timeout_s / HEARTBEATS_PER_WATCHDOG
        daemon = Daemon(
            prescription=prescription,
            limits=config.limits,
            driver=driver,
            journal=journal,
            clock=clock,
            waker=RealWaker(clock, scale=scale),
            options=DaemonOptions(
                syringe_diameter_mm=Decimal(config.pump.syringe_diameter_mm),
                heartbeat_s=heartbeat_s,
                poll_interval_s=min(2.0, heartbeat_s),
                config_digest=config.digest,
                config_path=str(config.source_path),
                identity=config_identity(config),
                time_scale=scale,
            ),
        )
        daemon.reset_seen = reset_seen
        install_signals(daemon, config_path, config.pump)
        try:
            daemon.start()
        except PumpctlError:
            daemon.shutdown("start-up failed")
            raise
        control = ControlServer(
            config.control.socket_path,
            daemon.submit,
            mode=config.control.mode,
            group=config.control.group,
        )
        with control:
            notify.ready(f"ready; next pulse {daemon.planner.next_after(clock.now()).scheduled}")
            log.info("daemon.started", pid=os.getpid(), time_scale=scale)
            daemon.run()
            notify.stopping()
        daemon.shutdown("stopped by signal")
        journal.close()
    log.info("daemon.stopped")
    return 0


def changed_pump_keys(running: PumpSection, fresh: PumpSection) -> list[str]:
    """The [pump] keys whose values differ between two configurations."""
    return [
        name for name in PumpSection.model_fields if getattr(running, name) != getattr(fresh, name)
    ]


def reload_loader(
    daemon: Daemon, config_path: Path, running_pump: PumpSection
) -> Callable[[], tuple[Prescription, Limits] | None]:
    """What a SIGHUP runs on the loop thread: the new prescription and limits, or None.

    SR-27: a file whose [pump] differs from the running one is refused as a whole (nothing of
    it applies) and holds pulses until restart; pump settings change only with a new
    self-test, which only a restart performs. A file whose [pump] is back to the running one
    releases that hold.
    """

    def loader() -> tuple[Prescription, Limits] | None:
        try:
            fresh = load_config(config_path)
        except ConfigError as err:
            log.error("config.reload_rejected", problems=err.problems)
            daemon.reject_reload("; ".join(err.problems))
            return None
        changed = changed_pump_keys(running_pump, fresh.pump)
        if changed:
            daemon.refuse_pump_reload(changed)
            return None
        daemon.pump_reload_unchanged()
        return fresh.prescription, fresh.limits

    return loader


def install_signals(daemon: Daemon, config_path: Path, running_pump: PumpSection) -> None:
    """SIGTERM/SIGINT stop after the current tick (a running pulse finishes and is journaled);
    SIGHUP reloads the configuration as a journaled prescription change (SR-21, SR-27)."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        daemon.stopping = True
        daemon.waker.wake()

    def reload(_signum: int, _frame: FrameType | None) -> None:
        daemon.reload_requested = reload_loader(daemon, config_path, running_pump)
        daemon.waker.wake()

    handlers: dict[signal.Signals, Any] = {
        signal.SIGTERM: stop,
        signal.SIGINT: stop,
        signal.SIGHUP: reload,
    }
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
