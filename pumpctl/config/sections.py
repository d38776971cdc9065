"""The configuration file's shape: one pydantic model per TOML section, unknown keys forbidden.

Every field goes through a validator from :mod:`pumpctl.config.fields`, so pydantic never coerces
a value on its own. Limits are bounded by :class:`pumpctl.core.model.HardCeiling`: a file can
narrow them, never widen them (SR-03). The descriptions are what a user sees when a field is
missing.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator

from pumpctl.config.fields import (
    choice,
    decimal,
    fail,
    fraction,
    parse_anchor,
    parse_group,
    parse_path,
    parse_serial_url,
    parse_socket_mode,
    parse_text,
    parse_time_of_day,
    parse_timezone,
    whole,
)
from pumpctl.core.model import HardCeiling, Limits

_C = HardCeiling
_DEFAULT = Limits()
_ZERO = Decimal(0)
MINUTES_PER_DAY = 24 * 60
MAX_PROFILE_WINDOWS = 24

#: Pump drivers a configuration may name: the NE-1000 family, and the Harvard Apparatus
#: Protocol 11 family (Pump 11 Elite, PHD Ultra).
DRIVER_NAMES = ("ne1000", "harvard11")
#: Baud rates each pump family supports.
DRIVER_BAUD_RATES = {
    "ne1000": (300, 1200, 2400, 9600, 19200),
    "harvard11": (9600, 19200, 38400, 57600, 115200),
}
#: Baud rates any configured driver may use (checked per driver across the section).
BAUD_RATES = tuple(sorted({rate for rates in DRIVER_BAUD_RATES.values() for rate in rates}))
LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _baud(value: object) -> int:
    allowed = ", ".join(str(rate) for rate in BAUD_RATES)
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"expected a baud rate, one of {allowed}")
    if value not in BAUD_RATES:
        raise fail(f"allowed {allowed}")
    return value


def parse_dsn(value: object) -> str:
    """A PostgreSQL URI without a password (a configuration file is no place for one)."""
    if not isinstance(value, str) or not value.startswith(("postgresql://", "postgres://")):
        raise fail("expected a PostgreSQL URI like postgresql://ship@fleet.example/study")
    if _CONTROL.search(value):
        raise fail("expected one line without control characters")
    authority = value.split("://", 1)[1].split("/", 1)[0]
    if "@" in authority and ":" in authority.rsplit("@", 1)[0]:
        raise fail(
            "a password in the URI; allowed none: keep it in a password file "
            "(?passfile=/etc/pumpctl/pgpass, mode 0600)"
        )
    if "password=" in value:
        raise fail("a password parameter in the URI; allowed none: use passfile=")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Interval = Annotated[int, PlainValidator(whole(_C.MIN_INTERVAL_MIN, MINUTES_PER_DAY, unit="min"))]
TimeOfDay = Annotated[time, PlainValidator(parse_time_of_day)]
Text = Annotated[str, PlainValidator(parse_text)]
PathValue = Annotated[PurePosixPath, PlainValidator(parse_path)]


class ProfileWindowSection(_Section):
    """``[[prescription.profile]]``: a local time-of-day window with its own interval."""

    start: TimeOfDay = Field(description="local start time HH:MM")
    end: TimeOfDay = Field(description="local end time HH:MM (may be past midnight)")
    interval_min: Interval = Field(description=f"whole minutes >= {_C.MIN_INTERVAL_MIN}")


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _spans(window: ProfileWindowSection) -> list[tuple[int, int]]:
    """The window as half-open second ranges within one day (two when it wraps midnight)."""
    start, end = _seconds(window.start), _seconds(window.end)
    if start < end:
        return [(start, end)]
    return [(start, MINUTES_PER_DAY * 60), (0, end)]


def _check_profile(windows: list[ProfileWindowSection]) -> list[ProfileWindowSection]:
    """Invariant: at most one window applies at any time of day, so no interval is ambiguous."""
    for index, window in enumerate(windows):
        if window.start == window.end:
            raise fail(
                f"window [{index}] starts and ends at {window.start:%H:%M}: it has no length"
            )
    for first in range(len(windows)):
        for second in range(first + 1, len(windows)):
            overlap = any(
                a_start < b_end and b_start < a_end
                for a_start, a_end in _spans(windows[first])
                for b_start, b_end in _spans(windows[second])
            )
            if overlap:
                raise fail(f"windows [{first}] and [{second}] overlap; allowed disjoint windows")
    return windows


class PrescriptionSection(_Section):
    """``[prescription]``: what the clinician prescribed."""

    dose_ug: Annotated[
        Decimal, PlainValidator(decimal(_ZERO, _C.MAX_DOSE_PER_PULSE_UG, places=3, unit="ug"))
    ] = Field(description=f"dose per pulse in micrograms, > 0 and <= {_C.MAX_DOSE_PER_PULSE_UG}")
    concentration_ug_per_ml: Annotated[
        Decimal, PlainValidator(decimal(_ZERO, Decimal(100_000), places=3, unit="ug_per_ml"))
    ] = Field(description="drug concentration in the syringe, ug/mL (1 ug/uL = 1000)")
    interval_min: Interval = Field(
        description=f"minutes between pulse starts, a whole number >= {_C.MIN_INTERVAL_MIN}"
    )
    pulse_duration_s: Annotated[
        int, PlainValidator(whole(1, _C.MAX_PULSE_DURATION_S, unit="s"))
    ] = Field(description=f"length of one pulse in seconds, 1..{_C.MAX_PULSE_DURATION_S}")
    anchor: Annotated[datetime | time, PlainValidator(parse_anchor)] = Field(
        description="first-pulse time: 2026-03-01T08:00:00+01:00 or a local time of day 08:00"
    )
    timezone: Annotated[str, PlainValidator(parse_timezone)] = Field(
        description="IANA time zone for local times (Europe/Berlin, UTC)"
    )
    profile: Annotated[list[ProfileWindowSection], AfterValidator(_check_profile)] = Field(
        default_factory=list, max_length=MAX_PROFILE_WINDOWS
    )


class LimitsSection(_Section):
    """``[limits]``: each limit defaults to the safe value and can only be narrowed (SR-03)."""

    min_interval_min: Interval = _DEFAULT.min_interval_min
    max_pulses_24h: Annotated[int, PlainValidator(whole(1, _C.MAX_PULSES_24H, unit="24h"))] = (
        _DEFAULT.max_pulses_24h
    )
    max_dose_per_pulse_ug: Annotated[
        Decimal, PlainValidator(decimal(_ZERO, _C.MAX_DOSE_PER_PULSE_UG, places=3, unit="ug"))
    ] = _DEFAULT.max_dose_per_pulse_ug
    max_dose_24h_ug: Annotated[
        Decimal, PlainValidator(decimal(_ZERO, _C.MAX_DOSE_24H_UG, places=3, unit="ug"))
    ] = _DEFAULT.max_dose_24h_ug
    max_pulse_volume_ul: Annotated[
        Decimal, PlainValidator(decimal(_ZERO, _C.MAX_PULSE_VOLUME_UL, places=3, unit="ul"))
    ] = _DEFAULT.max_pulse_volume_ul
    max_pulse_duration_s: Annotated[
        int, PlainValidator(whole(1, _C.MAX_PULSE_DURATION_S, unit="s"))
    ] = _DEFAULT.max_pulse_duration_s
    exposure_threshold: Annotated[
        float | None,
        PlainValidator(fraction(_ZERO, Decimal(str(_C.MAX_EXPOSURE_FRACTION)))),
    ] = _DEFAULT.exposure_threshold
    grace_min: Annotated[int, PlainValidator(whole(1, _C.MAX_GRACE_MIN, unit="min"))] = (
        _DEFAULT.grace_min
    )
    missed_alarm_min: Annotated[int, PlainValidator(whole(1, 60, unit="min"))] = (
        _DEFAULT.missed_alarm_min
    )
    reservoir_low_pulses: Annotated[int, PlainValidator(whole(1, 100))] = (
        _DEFAULT.reservoir_low_pulses
    )


class PumpSection(_Section):
    """``[pump]``: which pump, on which port, with which syringe."""

    driver: Annotated[str, PlainValidator(choice(DRIVER_NAMES))] = Field(
        description="pump driver: " + ", ".join(DRIVER_NAMES)
    )
    url: Annotated[str, PlainValidator(parse_serial_url)] = Field(
        description="serial port: /dev/serial/by-id/... or socket://HOST:PORT"
    )
    baud: Annotated[int, PlainValidator(_baud)] = 19200
    address: Annotated[int, PlainValidator(whole(0, 99))] = 0
    syringe_diameter_mm: Annotated[
        Decimal,
        PlainValidator(decimal(Decimal("0.1"), Decimal(50), places=3, unit="mm", low_open=False)),
    ] = Field(description="syringe inside diameter in mm, 0.1..50 (from the syringe maker)")
    syringe_volume_ul: Annotated[
        Decimal, PlainValidator(decimal(_ZERO, Decimal(60_000), places=3, unit="ul"))
    ] = Field(description="syringe capacity in uL, > 0 and <= 60000")
    safe_mode_timeout_s: Annotated[int, PlainValidator(whole(1, 255, unit="s"))] = 10
    arm_lead_s: Annotated[
        Decimal,
        PlainValidator(decimal(Decimal("0.1"), Decimal(10), places=3, unit="s", low_open=False)),
    ] = Field(
        default=Decimal(2),
        description="seconds before its slot a pulse is programmed and read back, 0.1..10",
    )


class JournalSection(_Section):
    """``[journal]``: where durable state lives; a relative ``path`` is inside ``state_dir``."""

    state_dir: PathValue = PurePosixPath("/var/lib/pumpctl")
    path: PathValue | None = None


class ControlSection(_Section):
    """``[control]``: the local control socket (SR-23)."""

    socket_path: PathValue | None = None
    group: Annotated[str | None, PlainValidator(parse_group)] = None
    mode: Annotated[int, PlainValidator(parse_socket_mode)] = 0o660


class LoggingSection(_Section):
    """``[logging]``: log rendering; ``auto`` means JSON without a terminal, console with one."""

    format: Annotated[str, PlainValidator(choice(LOG_FORMATS))] = "auto"
    level: Annotated[str, PlainValidator(choice(LOG_LEVELS, fold_case=True))] = "info"


#: Alarm transitions, priorities and stdin forms a ``[notify]`` section may name
#: (pumpctl.daemon.notifier keeps the same lists; a test holds them equal).
NOTIFY_EVENTS = ("raised", "escalated", "acknowledged", "cleared")
NOTIFY_PRIORITIES = ("low", "medium", "high")
NOTIFY_STDIN = ("json", "text", "mail", "none")
MAX_NOTIFY_COMMANDS = 8
MAX_ARGV = 64


def _argv(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise fail('expected a non-empty list of strings, e.g. ["/usr/sbin/sendmail", "-i", "a@b"]')
    if len(value) > MAX_ARGV:
        raise fail(f"at most {MAX_ARGV} arguments allowed")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item or "\x00" in item:
            raise fail(f"argument [{index}]: expected a non-empty string without NUL")
    return tuple(value)


def _events(value: object) -> tuple[str, ...]:
    check = choice(NOTIFY_EVENTS)
    if not isinstance(value, list) or not value:
        raise fail(f"expected a non-empty list of {', '.join(NOTIFY_EVENTS)}")
    return tuple(check(item) for item in value)


class NotifyCommandSection(_Section):
    """``[[notify.command]]``: one command run for every notification."""

    argv: Annotated[tuple[str, ...], PlainValidator(_argv)] = Field(
        description='the command and its arguments, e.g. ["/usr/sbin/sendmail", "-i", "a@b"]'
    )
    name: Text = ""
    stdin: Annotated[str, PlainValidator(choice(NOTIFY_STDIN))] = "json"


class NotifySection(_Section):
    """``[notify]``: who is told about alarms, and how hard to try."""

    command: list[NotifyCommandSection] = Field(
        min_length=1,
        max_length=MAX_NOTIFY_COMMANDS,
        description="one or more [[notify.command]] tables with argv = [...]",
    )
    timeout_s: Annotated[int, PlainValidator(whole(1, 300, unit="s"))] = 20
    retries: Annotated[int, PlainValidator(whole(0, 10))] = 3
    retry_backoff_s: Annotated[int, PlainValidator(whole(1, 3600, unit="s"))] = 30
    queue_size: Annotated[int, PlainValidator(whole(1, 1000))] = 64
    events: Annotated[tuple[str, ...], PlainValidator(_events)] = NOTIFY_EVENTS
    min_priority: Annotated[str, PlainValidator(choice(NOTIFY_PRIORITIES))] = "low"


class MetricsSection(_Section):
    """``[metrics]``: Prometheus metrics in node-exporter's textfile form."""

    textfile_dir: PathValue = Field(
        description="folder node-exporter's textfile collector reads, e.g. "
        "/var/lib/prometheus/node-exporter"
    )
    interval_s: Annotated[int, PlainValidator(whole(1, 3600, unit="s"))] = 15


class SubjectSection(_Section):
    """``[subject]``: free-text labels printed on reports; never used for a decision."""

    id: Text = ""
    pump_label: Text = ""
    note: Text = ""
    study: Text = ""


class ShipSection(_Section):
    """``[ship]``: where ``pumpctl ship`` copies the journal (docs/fleet.md)."""

    to: Annotated[str | None, PlainValidator(parse_dsn)] = None


class ConfigDocument(_Section):
    """The whole file."""

    prescription: PrescriptionSection = Field(
        description="section [prescription] with dose_ug, concentration_ug_per_ml, "
        "interval_min, pulse_duration_s, anchor, timezone"
    )
    pump: PumpSection = Field(
        description="section [pump] with driver, url, syringe_diameter_mm, syringe_volume_ul"
    )
    limits: LimitsSection = LimitsSection()
    journal: JournalSection = JournalSection()
    control: ControlSection = ControlSection()
    logging: LoggingSection = LoggingSection()
    subject: SubjectSection = SubjectSection()
    ship: ShipSection = ShipSection()
    notify: NotifySection | None = None
    metrics: MetricsSection | None = None
