"""The daemon's operator log: structlog events and stdlib records through one pipeline.

JSON lines on stdout (journald stores them; ``jq`` reads them), or readable console rendering
when stdout is a terminal. Timestamps are UTC ISO 8601. Records from stdlib loggers (APScheduler,
pyserial users) get the same fields: their dotted logger name becomes the ``event`` and their text
the ``message``. The journal, not this log, is the clinical record.
"""

from __future__ import annotations

import logging
import sys
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
) -> None:
    """Route structlog and stdlib logging (APScheduler included) to ``stream`` (default stdout).

    Safe to call again (e.g. after a configuration reload): it replaces its own handler.
    """
    out = stream if stream is not None else sys.stdout
    numeric_level = _resolve_level(level)
    console = _use_console(log_format, out)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if console:
        renderer = structlog.dev.ConsoleRenderer(colors=_colors_wanted(out))
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
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # APScheduler logs each job run at INFO; it goes through the same pipeline and level.
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


def _colors_wanted(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
