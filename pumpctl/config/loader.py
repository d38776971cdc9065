"""Reads a configuration file safely and turns it into a :class:`Config` or a :class:`ConfigError`.

The file is opened once and checked on the open descriptor (regular file, not writable by group or
others, not huge), parsed with ``tomllib`` using ``Decimal`` for every non-integer number, validated
section by section, then checked across sections. Every problem found becomes one line.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from pumpctl.config.checks import (
    build_limits,
    build_prescription,
    driver_problems,
    prescription_problems,
    syringe_problems,
)
from pumpctl.config.fields import choice
from pumpctl.config.problems import problem_lines, render_value
from pumpctl.config.sections import (
    LOG_FORMATS,
    LOG_LEVELS,
    ConfigDocument,
    LimitsSection,
    PrescriptionSection,
)
from pumpctl.config.sendable import sendable_problems
from pumpctl.config.settings import (
    ENV_OVERRIDES,
    Config,
    ControlSettings,
    JournalSettings,
    LoggingSettings,
    MetricsSettings,
    NotifyCommand,
    NotifySettings,
)
from pumpctl.errors import ConfigError

MAX_FILE_BYTES = 1 << 20
#: Linux ``sun_path`` holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
JOURNAL_FILE = "journal.sqlite3"
SOCKET_FILE = "control.sock"

_log = structlog.get_logger()


def read_config_bytes(path: Path) -> bytes:
    """The file's bytes, refused with one line when missing, unreadable or writable by others."""
    try:
        # O_NONBLOCK: a FIFO or device given by mistake must not hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot open: {err.strerror}") from err
    try:
        return _read_checked(fd, path)
    finally:
        os.close(fd)


def _read_checked(fd: int, path: Path) -> bytes:
    """Checks on the open descriptor, so the file checked is the file read."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: not a regular file; allowed a TOML file")
    mode = stat.S_IMODE(info.st_mode)
    # Invariant: a file others can write could change a prescription without the owner.
    if mode & 0o022:
        raise ConfigError(
            f"{path}: mode {mode:04o} lets group or others write it; allowed only the "
            f"owner may write (chmod go-w {path})"
        )
    if info.st_size > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: {info.st_size} bytes; allowed <= {MAX_FILE_BYTES}")
    chunks: list[bytes] = []
    try:
        while chunk := os.read(fd, MAX_FILE_BYTES):
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_FILE_BYTES:  # grew after fstat
                raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    return b"".join(chunks)


def parse_toml(data: bytes, source: str) -> dict[str, Any]:
    """The TOML document, with ``Decimal`` for every non-integer number."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{source}: not UTF-8 text (bad byte at offset {err.start})") from err
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: TOML syntax error: {err}") from err
    except RecursionError as err:
        raise ConfigError(f"{source}: TOML nested too deeply") from err
    except ValueError as err:  # e.g. an integer literal longer than Python will convert
        raise ConfigError(f"{source}: TOML value not readable: {err}") from err


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The permitted overrides that are set (empty counts as unset), and their problems."""
    values: dict[str, str] = {}
    problems: list[str] = []
    checks = {
        "PUMPCTL_LOG_FORMAT": choice(LOG_FORMATS),
        "PUMPCTL_LOG_LEVEL": choice(LOG_LEVELS, fold_case=True),
    }
    for name in ENV_OVERRIDES:
        raw = environ.get(name, "")
        if not raw:
            continue
        check = checks.get(name)
        try:
            values[name] = check(raw) if check is not None else os.path.abspath(raw)
        except PydanticCustomError as err:
            problems.append(f"environment {name} = {render_value(raw)}: {err.message()}")
    safety_prefixes = tuple(f"PUMPCTL_{s.upper()}_" for s in ("prescription", "limits", "pump"))
    ignored = sorted(name for name in environ if name.startswith(safety_prefixes))
    if ignored:
        # Invariant: the environment never changes a safety field; say so instead of obeying.
        _log.warning("config.env_ignored", variables=ignored)
    return values, problems


def _under(base: Path, value: object | None, default: str) -> Path:
    # normpath: "config/../state" reads better in summaries and logs than the literal join.
    return Path(os.path.normpath(base / str(value if value is not None else default)))


def _validate(document: dict[str, Any], problems: list[str]) -> ConfigDocument | None:
    """The validated document; on failure the lines go to ``problems``."""
    try:
        return ConfigDocument.model_validate(document)
    except ValidationError as err:
        problems.extend(problem_lines(ConfigDocument, err))
    return None


def _cross_check_partial(document: dict[str, Any], now: datetime) -> list[str]:
    """Cross-checks for when another section is broken but prescription and limits are fine."""
    try:
        prescription = PrescriptionSection.model_validate(document.get("prescription"))
        limits = LimitsSection.model_validate(document.get("limits", {}))
    except ValidationError:
        return []
    return prescription_problems(build_prescription(prescription, now), build_limits(limits))


def build_config(
    document: dict[str, Any],
    *,
    source_path: Path | None,
    digest: str,
    environ: Mapping[str, str],
    now: datetime,
    base_dir: Path,
) -> Config:
    """A :class:`Config` from a parsed TOML document, or every problem in one ConfigError."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    overrides, problems = _env_overrides(environ)
    validated = _validate(document, problems)
    if validated is None:
        problems.extend(_cross_check_partial(document, now))
        raise ConfigError(problems)
    try:
        limits = build_limits(validated.limits)
    except ValueError as err:  # only if the field bounds and ceiling_violations disagree
        raise ConfigError([*problems, *str(err).split("; ")]) from err
    prescription = build_prescription(validated.prescription, now)
    problems.extend(prescription_problems(prescription, limits))
    problems.extend(syringe_problems(prescription, validated.pump))
    problems.extend(sendable_problems(prescription, limits, validated.pump))
    problems.extend(driver_problems(validated.pump))

    journal = validated.journal
    state_dir = Path(overrides.get("PUMPCTL_STATE_DIR") or _under(base_dir, journal.state_dir, ""))
    control = validated.control
    socket_path = _under(state_dir, control.socket_path, SOCKET_FILE)
    if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH_BYTES:
        problems.append(
            f"control.socket_path = {render_value(str(socket_path))}: "
            f"allowed at most {MAX_SOCKET_PATH_BYTES} bytes (a Unix socket path limit)"
        )
    if problems:
        raise ConfigError(problems)
    anchor = validated.prescription.anchor
    return Config(
        prescription=prescription,
        limits=limits,
        pump=validated.pump,
        journal=JournalSettings(
            state_dir=state_dir, path=_under(state_dir, journal.path, JOURNAL_FILE)
        ),
        control=ControlSettings(socket_path=socket_path, group=control.group, mode=control.mode),
        logging=LoggingSettings(
            format=overrides.get("PUMPCTL_LOG_FORMAT", validated.logging.format),
            level=overrides.get("PUMPCTL_LOG_LEVEL", validated.logging.level),
        ),
        subject=validated.subject,
        source_path=source_path,
        digest=digest,
        anchor_time_of_day=anchor if isinstance(anchor, time) else None,
        limits_set=frozenset(validated.limits.model_fields_set),
        env_overrides=tuple(sorted(overrides)),
        ship_to=validated.ship.to,
        notify=_notify_settings(validated),
        metrics=None
        if validated.metrics is None
        else MetricsSettings(
            textfile_dir=_under(base_dir, validated.metrics.textfile_dir, ""),
            interval_s=validated.metrics.interval_s,
        ),
    )


def _notify_settings(validated: ConfigDocument) -> NotifySettings | None:
    section = validated.notify
    if section is None:
        return None
    commands = tuple(
        NotifyCommand(
            name=c.name or f"{index + 1}:{os.path.basename(c.argv[0])}",
            argv=c.argv,
            stdin=c.stdin,
        )
        for index, c in enumerate(section.command)
    )
    return NotifySettings(
        commands=commands,
        timeout_s=section.timeout_s,
        retries=section.retries,
        retry_backoff_s=section.retry_backoff_s,
        queue_size=section.queue_size,
        events=section.events,
        min_priority=section.min_priority,
    )


def load_config(
    path: Path, *, environ: Mapping[str, str] | None = None, now: datetime | None = None
) -> Config:
    """Load and validate the configuration file at ``path``.

    ``environ`` defaults to the process environment; only :data:`ENV_OVERRIDES` are read from
    it. ``now`` (aware) places a time-of-day anchor; it defaults to the current time.
    Relative paths in the file are relative to the file's own directory.
    """
    source = Path(path).absolute()
    data = read_config_bytes(source)
    return build_config(
        parse_toml(data, str(source)),
        source_path=source,
        digest=hashlib.sha256(data).hexdigest(),
        environ=os.environ if environ is None else environ,
        now=now or datetime.now(UTC),
        base_dir=source.parent,
    )


def parse_config_text(
    text: str,
    *,
    source: str = "<string>",
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Config:
    """Validate configuration text (tests, tools); the environment is empty unless given.

    Relative paths are relative to the current directory.
    """
    data = text.encode("utf-8", errors="surrogatepass")
    return build_config(
        parse_toml(data, source),
        source_path=None,
        digest=hashlib.sha256(data).hexdigest(),
        environ={} if environ is None else environ,
        now=now or datetime.now(UTC),
        base_dir=Path.cwd(),
    )
