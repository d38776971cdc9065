"""Configuration reload (SIGHUP): a new prescription or new limits take effect only journaled.

The signal handler only leaves a loader for the loop; the loop applies it between ticks, so a
reload never changes the therapy under a running pulse. The configuration read again goes
through :func:`pumpctl.daemon.configuration.effective_prescription`, the same function start-up
uses, so a file that did not change changes nothing: no journaled change, no slot moved.

:meth:`Reload.apply_config` is the one place a reloaded configuration is judged and applied;
checks on other sections (for example what a changed ``[pump]`` means) belong there.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from pumpctl.config import Config
from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.model import Limits, Prescription
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.configuration import effective_prescription, limits_dict, prescription_dict
from pumpctl.daemon.state import Therapy
from pumpctl.journal import Journal

log = structlog.get_logger("pumpctl.daemon")

#: Loads the configuration again: the new configuration, or None when it was rejected.
Loader = Callable[[], Config | None]


class Reload:
    """Applies reloaded configurations to the therapy in force."""

    def __init__(self, *, therapy: Therapy, journal: Journal, annunciator: Annunciator) -> None:
        self._therapy = therapy
        self._journal = journal
        self._annunciator = annunciator
        #: Set by the signal handler; taken by the loop at its next tick.
        self.requested: Loader | None = None

    def apply_requested(self) -> None:
        loader = self.requested
        if loader is None:
            return
        self.requested = None
        config = loader()
        if config is not None:
            self.apply_config(config, who="operator (SIGHUP)", why="configuration reloaded")

    def apply_config(self, config: Config, *, who: str, why: str) -> bool:
        """Apply a configuration read again; returns whether anything changed.

        The prescription is resolved exactly as at start-up (a time-of-day anchor keeps the
        cadence in force), so an unchanged file is a no-op.
        """
        prescription = effective_prescription(config, self._journal)
        return self.apply(prescription, config.limits, who=who, why=why)

    def reject(self, why: str) -> None:
        """An invalid configuration was not applied; the old one stays in force."""
        self._annunciator.raise_alarm(AlarmKind.CONFIG_RELOAD_REJECTED, why)

    def apply(self, prescription: Prescription, limits: Limits, *, who: str, why: str) -> bool:
        """SR-21: a new prescription takes effect only through this journaled action.

        Returns whether anything changed; nothing is journaled or replaced otherwise.
        """
        therapy = self._therapy
        changed_p = prescription != therapy.prescription
        changed_l = limits != therapy.limits
        if not (changed_p or changed_l):
            log.info("config.reload_unchanged", who=who)
            return False
        if changed_p:
            self._journal.record_prescription_change(
                who, prescription_dict(therapy.prescription), prescription_dict(prescription), why
            )
        if changed_l:
            self._journal.record_limits_change(
                who, limits_dict(therapy.limits), limits_dict(limits), why
            )
        therapy.replace(prescription, limits)
        log.info("config.reloaded", who=who)
        return True
