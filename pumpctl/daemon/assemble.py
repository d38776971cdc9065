"""One way to build a ready-to-start daemon from a configuration: used by ``pumpctl run``,
``pumpctl simulate``, ``pumpctl demo`` (through ``run``) and the test rigs, so they cannot drift.

What comes from the configuration is always taken from it: the driver and its link settings
(driver name, URL, baud, address, safe-mode period), the syringe diameter for the self-test,
the effective prescription (a time-of-day anchor keeps the journaled cadence), the limits, the
heartbeat derived from the safe-mode period, the journal's path, and the outputs: alarm
notifications (``[notify]``) and the metrics textfile (``[metrics]``) where configured. What
differs between environments is a parameter, each documented on :func:`assemble`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

import structlog

from pumpctl.config import Config
from pumpctl.core.clock import Clock
from pumpctl.daemon.configuration import (
    config_identity,
    effective_prescription,
    record_configuration,
)
from pumpctl.daemon.outputs import DaemonOutputs
from pumpctl.daemon.service import Daemon, DaemonOptions
from pumpctl.daemon.waiting import Waker
from pumpctl.drivers.base import PumpAlarm, PumpDriver
from pumpctl.drivers.registry import get_driver_class
from pumpctl.drivers.transport import Transport
from pumpctl.errors import ConfigError
from pumpctl.journal import EventKind, Journal

log = structlog.get_logger("pumpctl.daemon")

#: Heartbeats per safe-mode watchdog period on a real host: the pump hears from pumpctl three
#: times per period, so two late ticks on a busy host still do not trip it.
HEARTBEATS_PER_WATCHDOG = 3
#: The longest wait between two status polls of a running pulse.
MAX_POLL_INTERVAL_S = 2.0


def make_driver(config: Config, *, transport: Transport | None = None) -> PumpDriver:
    """The configured driver; ``transport`` replaces the configured URL's port (in process)."""
    cls = get_driver_class(config.pump.driver)
    extra = {} if transport is None else {"transport": transport}
    driver = cls(
        config.pump.url,
        baud=config.pump.baud,
        address=config.pump.address,
        safe_mode_timeout_s=config.pump.safe_mode_timeout_s,
        **extra,
    )
    return cast(PumpDriver, driver)


#: What pumpctl does instead when the pump has no communications watchdog (SR-14 degraded).
NO_WATCHDOG_COMPENSATION = (
    "the pump has no communications watchdog: every bolus is bounded by the pump's own target "
    "volume, set and read back before the run; heartbeats keep polling for unexpected motion; "
    "a pump that runs away while pumpctl is down is not stopped by the pump"
)


def pump_watchdog(driver: PumpDriver) -> bool:
    """Whether the pump stops itself when pumpctl goes quiet; said out loud when it does not."""
    watchdog = bool(getattr(driver, "has_watchdog", True))
    if not watchdog:
        log.warning("pump.no_watchdog", compensation=NO_WATCHDOG_COMPENSATION)
    return watchdog


def heartbeat_for(config: Config, heartbeat_s: float | None = None) -> float:
    """The loop's heartbeat: a third of the safe-mode period, or ``heartbeat_s`` if shorter
    than the period.

    Invariant (SR-14): the pump hears from the daemon more often than its watchdog period,
    so the watchdog stops the pump only when the daemon is really gone.
    """
    period_s = config.pump.safe_mode_timeout_s
    if heartbeat_s is None:
        return period_s / HEARTBEATS_PER_WATCHDOG
    if not 0 < heartbeat_s < period_s:
        raise ConfigError(
            f"heartbeat_s={heartbeat_s:g} refused: allowed more than 0 and less than the pump's "
            f"safe-mode period (safe_mode_timeout_s={period_s})"
        )
    return heartbeat_s


def assemble(
    config: Config,
    *,
    clock: Clock,
    waker: Waker,
    journal: Journal | None = None,
    transport: Transport | None = None,
    driver: PumpDriver | None = None,
    heartbeat_s: float | None = None,
    alarms_before_start: tuple[PumpAlarm, ...] = (),
    record_first_fill: bool = True,
    simulated: bool = False,
    time_scale: float = 1.0,
    flow_watch_s: float | None = None,
) -> Daemon:
    """Build the daemon for ``config``; call :meth:`Daemon.start` on the result.

    Journals the effective configuration (SR-21) and, on a journal with no fill yet, the
    configured syringe volume as loaded. Notifications and metrics are attached when the
    configuration has ``[notify]`` or ``[metrics]``; they run off the delivery path (see
    :mod:`pumpctl.daemon.outputs`).

    :param clock: the daemon's clock: system, scaled (pumpsim only) or virtual.
    :param waker: how the loop sleeps and is woken, matching ``clock``.
    :param journal: an open journal; by default the configured path is opened on ``clock``.
        Simulations journal to scratch storage, test rigs to their own folders.
    :param transport: an in-process transport handed to the configured driver instead of its
        URL's port (the simulator's loopback).
    :param driver: a driver built elsewhere (a test double); excludes ``transport``.
    :param heartbeat_s: the loop's heartbeat; by default a third of the configured safe-mode
        period. A virtual clock never runs late, so simulations may heartbeat less often, but
        always within the period.
    :param alarms_before_start: pump alarms another connection consumed before this daemon
        connected (the simulator handshake of ``run --time-scale``): evidence for reconciling.
    :param record_first_fill: record the configured syringe volume as loaded when the journal
        has no fill yet; test rigs that set their own fill pass False.
    :param simulated: the daemon drives a simulated pump (``pumpctl simulate``): configured
        notifications and metrics are labelled as a simulation's, never taken for the real pump's.
    :param time_scale: clock seconds per real second of ``clock`` (a scaled clock drives only
        pumpsim): SR-25 judges the link in real seconds, and SR-26's watch is not asked for
        more often than the host can answer.
    :param flow_watch_s: clock seconds between two between-pulse readings of the pump's
        totals; by default SR-26's 5 s. Only simulations on a virtual clock pass more (their
        heartbeat): the reading before every clear still journals any flow, later.
    """
    if driver is not None and transport is not None:
        raise ValueError("driver and transport: give one or the other, not both")
    beat_s = heartbeat_for(config, heartbeat_s)
    if journal is None:
        journal = Journal(config.journal.path, clock)
    prescription = effective_prescription(config, journal)
    record_configuration(journal, prescription, config.limits)
    if record_first_fill and not journal.events(kinds=(EventKind.RESERVOIR_CHANGED,)):
        # A new journal is a new therapy: the syringe is loaded as configured, on record.
        journal.record_reservoir_change(
            Decimal(config.pump.syringe_volume_ul),
            "configuration",
            "syringe loaded at first start",
        )
    if driver is None:
        driver = make_driver(config, transport=transport)
    identity = config_identity(config)
    identity["pump"]["watchdog"] = pump_watchdog(driver)
    daemon = Daemon(
        prescription=prescription,
        limits=config.limits,
        driver=driver,
        journal=journal,
        clock=clock,
        waker=waker,
        options=DaemonOptions(
            syringe_diameter_mm=Decimal(config.pump.syringe_diameter_mm),
            syringe_volume_ul=Decimal(config.pump.syringe_volume_ul),
            pump=config.pump,
            heartbeat_s=beat_s,
            poll_interval_s=min(MAX_POLL_INTERVAL_S, beat_s),
            config_digest=config.digest,
            config_path=None if config.source_path is None else str(config.source_path),
            identity=identity,
            time_scale=time_scale,
            flow_watch_s=flow_watch_s,
            arm_lead_s=float(config.pump.arm_lead_s),
            # An in-process transport or driver opens no device file.
            device_url=config.pump.url if transport is None and driver is None else "",
        ),
        alarms_before_start=alarms_before_start,
    )
    DaemonOutputs.from_config(config, simulated=simulated).attach(daemon)
    return daemon
