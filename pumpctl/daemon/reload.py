"""Configuration reload (SIGHUP): a new prescription or new limits take effect only journaled.

The signal handler only leaves a loader for the loop; the loop applies it between ticks, so a
reload never changes the therapy under a running pulse. The configuration read again goes
through :func:`pumpctl.daemon.configuration.effective_prescription`, the same function start-up
uses, so a file that did not change changes nothing: no journaled change, no slot moved.

:meth:`Reload.apply_config` is the one place a reloaded configuration is judged and applied.
SR-27: a reload whose ``[pump]`` section differs from the running one is refused there as a whole
(nothing of it applies) and holds every pulse until the daemon restarts with a new self-test, or
the file's ``[pump]`` is put back and reloaded. Pump settings never change on a running daemon.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from pumpctl.config import Config
from pumpctl.config.sections import PumpSection
from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.model import Limits, Prescription
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.configuration import effective_prescription, limits_dict, prescription_dict
from pumpctl.daemon.state import DeliveryState, Therapy
from pumpctl.journal import Journal

log = structlog.get_logger("pumpctl.daemon")

#: Loads the configuration again: the new configuration, or None when it was rejected.
Loader = Callable[[], Config | None]


def changed_pump_keys(running: PumpSection, fresh: PumpSection) -> list[str]:
    """The [pump] keys whose values differ between two configurations."""
    return [
        name for name in PumpSection.model_fields if getattr(running, name) != getattr(fresh, name)
    ]


class Reload:
    """Applies reloaded configurations to the therapy in force."""

    def __init__(
        self,
        *,
        therapy: Therapy,
        journal: Journal,
        annunciator: Annunciator,
        state: DeliveryState,
        running_pump: PumpSection | None = None,
    ) -> None:
        self._therapy = therapy
        #: The [pump] section the daemon started (and self-tested) with; None only for rigs
        #: built without a configuration file.
        self._running_pump = running_pump
        self._state = state
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
        cadence in force), so an unchanged file is a no-op. SR-27: a changed ``[pump]`` refuses
        the whole file; one whose ``[pump]`` is back to the running one releases that hold.
        """
        if self._running_pump is not None:
            changed = changed_pump_keys(self._running_pump, config.pump)
            if changed:
                self.refuse_pump_change(changed)
                return False
            self.pump_unchanged()
        prescription = effective_prescription(config, self._journal)
        return self.apply(prescription, config.limits, who=who, why=why)

    def reject(self, why: str) -> None:
        """An invalid configuration was not applied; the old one stays in force."""
        self._annunciator.raise_alarm(AlarmKind.CONFIG_RELOAD_REJECTED, why)

    def refuse_pump_change(self, changed: list[str]) -> None:
        """SR-27: a reload that changes [pump] is refused whole and holds pulses until restart.

        Nothing of it is applied (no half-applied configuration); the running settings may no
        longer match the syringe, so no pulse is given until the daemon restarts with a new
        self-test, or the file's [pump] is put back and reloaded.
        """
        keys = ", ".join(f"pump.{key}" for key in changed)
        why = f"reload changed {keys}; restart the daemon to apply them (reload refused)"
        self._state.held_for_restart = why
        log.error("config.reload_refused", changed=changed)
        self._annunciator.raise_alarm(AlarmKind.PUMP_CONFIG_CHANGED, why)

    def pump_unchanged(self) -> None:
        """A reload found [pump] as running again: pulses are no longer held for a restart."""
        if self._state.held_for_restart is not None:
            self._state.held_for_restart = None
            self._annunciator.alarms.clear_cause(AlarmKind.PUMP_CONFIG_CHANGED)

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
