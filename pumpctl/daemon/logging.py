"""The daemon's operator log: structlog events and stdlib records through one pipeline.

JSON lines on stdout (journald stores them; ``jq`` reads them), or readable console rendering
when stdout is a terminal. Timestamps are UTC ISO 8601. Records from stdlib loggers (APScheduler,
pyserial users) get the same fields: their dotted logger name becomes the ``event`` and their text
the ``message``. The journal, not this log, is the clinical record.

Under systemd (stdout is the stream ``$JOURNAL_STREAM`` names) every line starts with its syslog
priority, ``<4>`` for a warning (sd-daemon(3)), so ``journalctl -p warning -u pumpctl`` finds
warnings and alarms. APScheduler's routine INFO records (job added, job executed) are demoted to
debug: they say nothing an operator acts on.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from pumpctl.errors import ConfigError

LogFormat = Literal["auto", "json", "console"]
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

# Marks the handler this module installs so a second configure_logging replaces, not adds.
_HANDLER_NAME = "pumpctl"


def _foreign_event(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A stdlib record's dotted logger name becomes its event; its text becomes ``message``."""
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        event_dict["message"] = event_dict.get("event")
        event_dict["event"] = record.name
    return event_dict


#: syslog priorities (sd-daemon(3) prefixes) for the stdlib levels.
_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def syslog_priority(levelno: int) -> int:
    """The syslog priority for a stdlib level (levels between two map to the less urgent)."""
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= threshold:
            return _SYSLOG_PRIORITY[threshold]
    return _SYSLOG_PRIORITY[logging.DEBUG]


def is_journal_stream(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` is systemd's journal stream (``$JOURNAL_STREAM`` is its device:inode)."""
    env = os.environ if environ is None else environ
    device, _, inode = env.get("JOURNAL_STREAM", "").partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))


class _PriorityPrefix(logging.Formatter):
    """Prefix each line with ``<N>``, its syslog priority, for journald (sd-daemon(3))."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self._inner.format(record).splitlines())


class _DemoteChatter(logging.Filter):
    """APScheduler's INFO records become DEBUG, and pass only when debug output is wanted."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self._level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("apscheduler") and record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self._level


def _resolve_level(level: str | int) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str) and level.lower() in LOG_LEVELS:
        return int(logging.getLevelName(level.upper()))
    raise ConfigError(f"log level: {level!r} is not one of {', '.join(LOG_LEVELS)}")


def _use_console(log_format: str, stream: TextIO) -> bool:
    if log_format == "json":
        return False
    if log_format == "console":
        return True
    if log_format == "auto":
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())
    raise ConfigError(f"log format: {log_format!r} is not one of {', '.join(LOG_FORMATS)}")


def configure_logging(
    log_format: LogFormat | str = "auto",
    level: str | int = "info",
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    color: bool | None = None,
) -> None:
    """Route structlog and stdlib logging (APScheduler included) to ``stream`` (default stdout).

    ``color`` None colours a terminal unless ``NO_COLOR`` is set. Safe to call again (e.g.
    after a configuration reload): it replaces its own handler.
    """
    out = stream if stream is not None else sys.stdout
    env = os.environ if environ is None else environ
    numeric_level = _resolve_level(level)
    journald = is_journal_stream(out, env)
    console = _use_console(log_format, out) and not (journald and log_format == "auto")

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if console:
        wanted = _colors_wanted(out, env) if color is None else color
        renderer = structlog.dev.ConsoleRenderer(colors=wanted)
    else:
        final.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer(default=str)
    final.append(renderer)

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _foreign_event],
        processors=final,
    )
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_PriorityPrefix(formatter) if journald else formatter)
    handler.addFilter(_DemoteChatter(numeric_level))

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # APScheduler logs each job run at INFO; it goes through the same pipeline, where the
    # handler's filter demotes that chatter to debug.
    logging.getLogger("apscheduler").setLevel(logging.NOTSET)
    logging.captureWarnings(True)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Modules hold loggers from import time; without caching they follow a reconfiguration.
        cache_logger_on_first_use=False,
    )


def _colors_wanted(stream: TextIO, environ: Mapping[str, str]) -> bool:
    if environ.get("NO_COLOR", ""):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
