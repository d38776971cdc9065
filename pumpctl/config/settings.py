"""The loaded configuration: frozen domain objects plus the resolved paths, and its summary.

Other layers take a :class:`Config` from :func:`pumpctl.config.load_config` and read
``.prescription`` and ``.limits`` (the core's own types), ``.pump``, ``.journal``, ``.control``,
``.logging``, ``.subject``; ``.digest`` identifies the exact file bytes for the journal.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import time
from pathlib import Path
from typing import Any

from pumpctl.config.sections import PumpSection, SubjectSection
from pumpctl.core.model import PUMP_RESOLUTION, Limits, Prescription
from pumpctl.core.planner import describe_anchor

#: Environment variables that may override the file; nothing else is ever read from the
#: environment, and none of these touches prescription, limits or pump.
ENV_OVERRIDES = ("PUMPCTL_STATE_DIR", "PUMPCTL_LOG_FORMAT", "PUMPCTL_LOG_LEVEL")


@dataclass(frozen=True)
class JournalSettings:
    """Where the daemon keeps durable state; ``path`` is the journal database."""

    state_dir: Path
    path: Path


@dataclass(frozen=True)
class ControlSettings:
    """The local control socket (SR-23); ``group`` None keeps the daemon's own group."""

    socket_path: Path
    group: str | None
    mode: int


@dataclass(frozen=True)
class LoggingSettings:
    """``format`` is auto, json or console; ``level`` a lower-case level name."""

    format: str
    level: str


@dataclass(frozen=True)
class NotifyCommand:
    """One configured notification command: argv (with ``{placeholders}``) and its stdin form."""

    name: str
    argv: tuple[str, ...]
    stdin: str = "json"


@dataclass(frozen=True)
class NotifySettings:
    """``[notify]``: the commands, and how hard to try each (pumpctl.daemon.notifier)."""

    commands: tuple[NotifyCommand, ...]
    timeout_s: int = 20
    retries: int = 3
    retry_backoff_s: int = 30
    queue_size: int = 64
    events: tuple[str, ...] = ("raised", "escalated", "acknowledged", "cleared")
    min_priority: str = "low"

    def to_dict(self) -> dict[str, Any]:
        return {
            "commands": [
                {"name": c.name, "argv": list(c.argv), "stdin": c.stdin} for c in self.commands
            ],
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "retry_backoff_s": self.retry_backoff_s,
            "queue_size": self.queue_size,
            "events": list(self.events),
            "min_priority": self.min_priority,
        }


@dataclass(frozen=True)
class MetricsSettings:
    """``[metrics]``: where the Prometheus textfile is written, and how often."""

    textfile_dir: Path
    interval_s: int = 15

    def to_dict(self) -> dict[str, Any]:
        return {"textfile_dir": str(self.textfile_dir), "interval_s": self.interval_s}


@dataclass(frozen=True)
class Config:
    """A validated configuration; every field is immutable."""

    prescription: Prescription
    limits: Limits
    pump: PumpSection
    journal: JournalSettings
    control: ControlSettings
    logging: LoggingSettings
    subject: SubjectSection
    source_path: Path | None
    digest: str
    anchor_time_of_day: time | None = None
    limits_set: frozenset[str] = frozenset()
    env_overrides: tuple[str, ...] = ()
    #: ``[ship] to``: the fleet server's PostgreSQL URI (None: not configured).
    ship_to: str | None = None
    notify: NotifySettings | None = None
    metrics: MetricsSettings | None = None

    def summary_lines(self, *, anchor_from_journal: bool = False) -> list[str]:
        """The effective prescription, derived pump settings and limits, for people to check.

        ``anchor_from_journal``: the prescription's anchor is the one a journal already follows
        (see :mod:`pumpctl.cadence`), not the one placed when this file was loaded.
        """
        p, pump = self.prescription, self.pump
        source = str(self.source_path) if self.source_path is not None else "<string>"
        lines = [f"configuration {source} (sha256 {self.digest})", "prescription:"]
        lines.append(
            f"  dose {p.dose_ug} ug per pulse at {p.concentration_ug_per_ml} ug/mL "
            f"= {p.volume_ul.quantize(PUMP_RESOLUTION)} uL per pulse"
        )
        lines.append(
            f"  pump rate {p.rate_ul_per_min} uL/min; pulse lasts "
            f"{p.effective_duration_s.quantize(PUMP_RESOLUTION)} s "
            f"(prescribed {p.pulse_duration_s} s)"
        )
        anchor_text = describe_anchor(p, self.anchor_time_of_day, from_journal=anchor_from_journal)
        lines.append(f"  every {p.interval_min} min, {anchor_text}")
        lines.extend(
            f"  {w.start:%H:%M}-{w.end:%H:%M} local: every {w.interval_min} min" for w in p.profile
        )
        lines.append(
            f"  at most {p.max_pulses_per_24h} pulses and {p.max_daily_dose_ug} ug per 24 h"
        )
        lines.append("limits:")
        for item in fields(Limits):
            value = getattr(self.limits, item.name)
            shown = "derived from the prescription" if value is None else str(value)
            origin = "" if item.name in self.limits_set else " (default)"
            lines.append(f"  {item.name} = {shown}{origin}")
        lines.append(
            f"pump: {pump.driver} at {pump.url}, {pump.baud} baud, address {pump.address}, "
            f"syringe {pump.syringe_diameter_mm} mm / {pump.syringe_volume_ul} uL, "
            f"safe mode {pump.safe_mode_timeout_s} s"
        )
        lines.append(f"journal: {self.journal.path} (state dir {self.journal.state_dir})")
        group = self.control.group or "the daemon's group"
        lines.append(
            f"control: {self.control.socket_path} mode {self.control.mode:04o}, group {group}"
        )
        lines.append(f"logging: format {self.logging.format}, level {self.logging.level}")
        subject = self.subject
        labels = [
            f"{name} {value}"
            for name, value in (
                ("id", subject.id),
                ("pump", subject.pump_label),
                ("note", subject.note),
                ("study", subject.study),
            )
            if value
        ]
        if labels:
            lines.append("subject: " + "; ".join(labels))
        if self.ship_to:
            lines.append(f"ship: to {self.ship_to}")
        if self.notify is not None:
            names = ", ".join(c.name for c in self.notify.commands)
            lines.append(
                f"notify: {names} on {', '.join(self.notify.events)} "
                f"(priority >= {self.notify.min_priority}), timeout {self.notify.timeout_s} s, "
                f"{self.notify.retries} retries from {self.notify.retry_backoff_s} s"
            )
        if self.metrics is not None:
            lines.append(
                f"metrics: {self.metrics.textfile_dir}/pumpctl*.prom every "
                f"{self.metrics.interval_s} s"
            )
        if self.env_overrides:
            lines.append("overridden from the environment: " + ", ".join(self.env_overrides))
        return lines
