"""What the daemon tells the world beyond its journal: alarm notifications and metrics.

Built from the configuration's ``[notify]`` and ``[metrics]`` sections by
:func:`pumpctl.daemon.assemble.assemble` and attached to the daemon's hooks, so ``pumpctl run``,
``pumpctl simulate`` and the test rigs get the same outputs from the same configuration: the
notifier listens to its alarms and starts before start-up, once per tick the loop journals
finished notification attempts and, when due, rewrites the metrics textfile, and on shutdown
due notifications get a short grace before the daemon's stop is journaled. Either may be absent.

The metrics file is paced on the host's monotonic clock, whatever clock the daemon runs on:
node-exporter reads it in real time, and a simulation on a virtual clock would otherwise rewrite
it at every tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from pumpctl.daemon.notifications import AlarmNotifications
from pumpctl.daemon.notifier import Notifier

if TYPE_CHECKING:
    from pumpctl.config import Config
    from pumpctl.daemon.metrics import TextfileWriter
    from pumpctl.daemon.service import Daemon

_log = structlog.get_logger("pumpctl.daemon")

#: On stop, how long notifications already due may still take (never longer than a command's
#: own time limit): enough for a mail to leave, short of systemd's stop timeout.
STOP_GRACE_S = 10.0


class DaemonOutputs:
    """Notifications and metrics of one daemon."""

    def __init__(
        self,
        notifications: AlarmNotifications | None = None,
        metrics: TextfileWriter | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifications = notifications
        self.metrics = metrics
        self._monotonic = monotonic
        self._metrics_failed = False

    @classmethod
    def from_config(cls, config: Config, *, simulated: bool = False) -> DaemonOutputs:
        """The outputs ``config`` asks for; ``simulated`` marks them as a simulation's.

        A simulation run with a real pump's configuration must not page someone about the real
        pump nor overwrite its metrics file: its notifications say "(simulated)" after the pump,
        and its metrics go to their own file under their own ``pump`` label.
        """
        pump = config.subject.pump_label or config.pump.url
        notifications = None
        if config.notify is not None:
            label = f"{pump} (simulated)" if simulated else pump
            notifications = AlarmNotifications(
                Notifier(config.notify),
                pump=label,
                subject=config.subject.id,
                timezone=config.prescription.timezone,
            )
        metrics = None
        if config.metrics is not None:
            # prometheus-client is loaded only by a daemon that writes metrics.
            from pumpctl.daemon.metrics import TextfileWriter  # noqa: PLC0415

            name = config.subject.pump_label or config.journal.state_dir.name
            if simulated:
                name = f"{name}-simulated"
            metrics = TextfileWriter(config.metrics.textfile_dir, name, config.metrics.interval_s)
        return cls(notifications, metrics)

    def attach(self, daemon: Daemon) -> None:
        """Listen to the daemon's alarms and hook into its start, ticks and shutdown."""
        if self.notifications is None and self.metrics is None:
            return
        if self.notifications is not None:
            daemon.alarms.add_listener(self.notifications)
            daemon.status_extras.append(self._notify_status)
        daemon.before_start.append(lambda: self.started(daemon))
        daemon.after_tick.append(lambda: self.after_tick(daemon))
        daemon.before_shutdown.append(lambda: self.stopping(daemon))

    def started(self, daemon: Daemon) -> None:
        """The daemon is ready: start sending, first what a stopped daemon left unsent."""
        if self.notifications is not None:
            self.notifications.notifier.start()
            resent = self.notifications.resend_unsent(daemon.journal)
            if resent:
                _log.info("notify.resend_after_restart", notifications=resent)

    def after_tick(self, daemon: Daemon) -> None:
        if self.notifications is not None:
            self.notifications.settle(daemon.journal, daemon.alarms)
        if self.metrics is not None and self.metrics.due(self._monotonic()):
            self.write_metrics(daemon)

    def write_metrics(self, daemon: Daemon) -> None:
        if self.metrics is None:
            return
        try:
            self.metrics.write(daemon.snapshot(), daemon.clock.now(), self._monotonic())
        except OSError as err:
            # Metrics are for watching, never a reason to stop: say it once per outage.
            if not self._metrics_failed:
                _log.warning("metrics.write_failed", path=str(self.metrics.path), error=str(err))
            self._metrics_failed = True
        else:
            self._metrics_failed = False

    def stopping(self, daemon: Daemon) -> None:
        """Give due notifications a moment, journal what came of them, write metrics last."""
        if self.notifications is not None:
            grace = min(STOP_GRACE_S, float(self.notifications.notifier.settings.timeout_s))
            self.notifications.notifier.close(grace)
            self.notifications.settle(daemon.journal, daemon.alarms)
            # The last snapshot (and the metrics written from it) counts what was just settled.
            daemon.status.update()
        self.write_metrics(daemon)

    def _notify_status(self) -> dict[str, Any]:
        assert self.notifications is not None  # noqa: S101 - attached only with notifications
        n = self.notifications
        return {"notify": {"pending": n.notifier.pending(), "sent": n.sent, "failed": n.failed}}
