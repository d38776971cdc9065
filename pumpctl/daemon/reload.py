"""Configuration reload (SIGHUP): a new prescription or new limits take effect only journaled.

The signal handler only leaves a loader for the loop; the loop applies it between ticks, so a
reload never changes the therapy under a running pulse.

SR-27: a reload whose ``[pump]`` section differs from the running one is refused as a whole
(nothing of it applies) and holds every pulse until the daemon restarts with a new self-test, or
the file's ``[pump]`` is put back and reloaded. Pump settings never change on a running daemon.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.model import Limits, Prescription
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.configuration import limits_dict, prescription_dict
from pumpctl.daemon.state import DeliveryState, Therapy
from pumpctl.journal import Journal

log = structlog.get_logger("pumpctl.daemon")

#: Loads the configuration again: the new prescription and limits, or None when it was rejected.
Loader = Callable[[], tuple[Prescription, Limits] | None]


class Reload:
    """Applies reloaded configurations to the therapy in force."""

    def __init__(
        self,
        *,
        therapy: Therapy,
        journal: Journal,
        annunciator: Annunciator,
        state: DeliveryState,
    ) -> None:
        self._therapy = therapy
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
        loaded = loader()
        if loaded is None:
            return
        prescription, limits = loaded
        self.apply(prescription, limits, who="operator (SIGHUP)", why="configuration reloaded")

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

    def apply(self, prescription: Prescription, limits: Limits, *, who: str, why: str) -> None:
        """SR-21: a new prescription takes effect only through this journaled action."""
        therapy = self._therapy
        if prescription != therapy.prescription:
            self._journal.record_prescription_change(
                who, prescription_dict(therapy.prescription), prescription_dict(prescription), why
            )
        if limits != therapy.limits:
            self._journal.record_limits_change(
                who, limits_dict(therapy.limits), limits_dict(limits), why
            )
        therapy.replace(prescription, limits)
        log.info("config.reloaded", who=who)
