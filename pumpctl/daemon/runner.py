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
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from pumpctl.config import Config, load_config
from pumpctl.core.clock import Clock, ScaledClock, SystemClock
from pumpctl.daemon import notify
from pumpctl.daemon.assemble import assemble, make_driver
from pumpctl.daemon.control import ControlServer
from pumpctl.daemon.lock import StateLock
from pumpctl.daemon.logging import configure_logging
from pumpctl.daemon.service import Daemon
from pumpctl.daemon.waiting import RealWaker
from pumpctl.drivers.base import PumpAlarm, PumpDriver
from pumpctl.errors import ConfigError, PumpctlError, PumpStateError
from pumpctl.journal import Journal
from pumpctl.journal.keyfile import attach_key
from pumpctl.journal.verify import verify
from pumpctl.statefiles import check_inside, check_state_dir

log = structlog.get_logger("pumpctl.daemon")

#: What systemd is asked to add to its start-up timeout while the journal is verified.
VERIFY_ALLOWANCE_S = 300.0


def simulator_clock(
    driver: PumpDriver, time_scale: float, *, base: Clock | None = None
) -> tuple[ScaledClock, tuple[PumpAlarm, ...]]:
    """The simulator's scaled clock, or a refusal: a scaled clock never drives a real pump.

    The clock is anchored on the handshake's own timing: pumpsim read its clock while answering
    XSIM, so its ``NOW`` is paired with the midpoint of the two readings of ``base`` taken right
    before the question and right after the answer (the error is at most half that round trip).
    Nothing done afterwards, such as closing the port (pyserial's ``socket://`` close sleeps
    0.3 s), shifts the daemon's clock against the simulator's.

    Also returns the alarms the pump reported on this first connection (a power reset, say):
    they are evidence for reconciling a pulse left pending, and the pump reports each only once.
    """
    base = base or SystemClock()
    driver.connect()
    try:
        asked_us = base.elapsed_us()
        info = driver.simulator_handshake()
        answered_us = base.elapsed_us()
        alarms = driver.status().alarms
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
    clock = ScaledClock(
        time_scale,
        origin=info.now,
        base=base,
        boot_id="pumpsim",
        origin_elapsed_us=(asked_us + answered_us) // 2,
        sync_error_us=-(-(answered_us - asked_us) // 2),
    )
    return clock, alarms


def run_daemon(config_path: Path, *, time_scale: float | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    config = load_config(config_path)
    configure_logging(config.logging.format, config.logging.level)
    state_dir = config.journal.state_dir
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    # Invariant: nobody but the daemon's user can plant or replace a state file.
    check_state_dir(state_dir)
    check_inside(state_dir, config.journal.path, "journal")
    with StateLock(state_dir):
        if config.journal.path.exists():
            # Verification reads the whole journal; a large one may take a while.
            notify.extend_timeout(VERIFY_ALLOWANCE_S)
            verify(config.journal.path).raise_for_problem()
        driver = make_driver(config)
        clock: Clock = SystemClock()
        scale = 1.0
        alarms_at_handshake: tuple[PumpAlarm, ...] = ()
        if time_scale is not None:
            clock, alarms_at_handshake = simulator_clock(driver, time_scale)
            scale = time_scale
        journal = Journal(config.journal.path, clock)
        # Every head this daemon publishes is signed with its own key (made at first start).
        attach_key(journal, state_dir)
        daemon = assemble(
            config,
            clock=clock,
            waker=RealWaker(clock, scale=scale),
            journal=journal,
            driver=driver,
            alarms_before_start=alarms_at_handshake,
            time_scale=scale,
        )
        install_signals(daemon, config_path)
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


def reload_loader(daemon: Daemon, config_path: Path) -> Callable[[], Config | None]:
    """What a SIGHUP runs on the loop thread: the configuration read again, or None.

    An invalid file raises the reload-rejected alarm and changes nothing. A valid one is judged
    and applied by :meth:`pumpctl.daemon.reload.Reload.apply_config`, the one place that
    resolves the prescription as start-up does and refuses a changed ``[pump]`` (SR-27).
    """

    def loader() -> Config | None:
        try:
            return load_config(config_path)
        except ConfigError as err:
            log.error("config.reload_rejected", problems=err.problems)
            daemon.reject_reload("; ".join(err.problems))
            return None

    return loader


def install_signals(daemon: Daemon, config_path: Path) -> None:
    """SIGTERM/SIGINT stop after the current tick (a running pulse finishes and is journaled);
    SIGHUP reloads the configuration as a journaled prescription change (SR-21, SR-27)."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        daemon.stopping = True
        daemon.waker.wake()

    def reload(_signum: int, _frame: FrameType | None) -> None:
        daemon.reload_requested = reload_loader(daemon, config_path)
        daemon.waker.wake()

    handlers: dict[signal.Signals, Any] = {
        signal.SIGTERM: stop,
        signal.SIGINT: stop,
        signal.SIGHUP: reload,
    }
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
