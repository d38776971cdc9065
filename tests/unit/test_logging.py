"""Tests for the operator log pipeline: JSON lines, console rendering, stdlib records."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from pumpctl.daemon.logging import configure_logging
from pumpctl.errors import ConfigError


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_event_is_a_json_line_with_utc_timestamp() -> None:
    """A structlog event comes out as one JSON object with event, level, logger and UTC time."""
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    structlog.get_logger("pumpctl.delivery").info("pulse.delivered", slot_id="s1", volume_ul=50)
    (line,) = _lines(out)
    assert line["event"] == "pulse.delivered"
    assert line["level"] == "info"
    assert line["logger"] == "pumpctl.delivery"
    assert line["timestamp"].endswith("Z")
    assert (line["slot_id"], line["volume_ul"]) == ("s1", 50)


def test_apscheduler_record_has_the_same_fields() -> None:
    """A stdlib APScheduler record comes out as JSON with the same fields and a dotted event."""
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    structlog.get_logger("pumpctl.daemon").info("daemon.ready")
    logging.getLogger("apscheduler.executors.default").warning(
        "Run time of job %s was missed", "j1"
    )
    ours, theirs = _lines(out)
    assert theirs["event"] == "apscheduler.executors.default"
    assert theirs["message"] == "Run time of job j1 was missed"
    assert theirs["level"] == "warning"
    assert set(ours) <= set(theirs), "stdlib records carry every field our events carry"


def test_level_filters_both_sources() -> None:
    """Records below the configured level are dropped for structlog and stdlib alike."""
    out = io.StringIO()
    configure_logging("json", "warning", stream=out)
    structlog.get_logger().info("control.request")
    logging.getLogger("apscheduler.scheduler").info("Added job")
    structlog.get_logger().warning("pump.alarm", code="S")
    assert [line["event"] for line in _lines(out)] == ["pump.alarm"]


def test_exception_is_rendered_into_the_json_line() -> None:
    """A logged exception becomes a traceback string inside the same JSON line."""
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    try:
        raise ValueError("bad frame")
    except ValueError:
        structlog.get_logger().exception("control.handler_failed")
    (line,) = _lines(out)
    assert "ValueError: bad frame" in line["exception"]


def test_auto_uses_console_on_a_tty_and_json_otherwise() -> None:
    """Format auto renders for humans on a terminal and JSON lines elsewhere."""
    tty = _TTY()
    configure_logging("auto", "info", stream=tty)
    structlog.get_logger().info("daemon.ready", next_slot="08:00")
    text = tty.getvalue()
    assert "daemon.ready" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    pipe = io.StringIO()
    configure_logging("auto", "info", stream=pipe)
    structlog.get_logger().info("daemon.ready")
    assert _lines(pipe)[0]["event"] == "daemon.ready"


def test_reconfiguring_replaces_the_handler() -> None:
    """Configuring twice sends each event once, to the latest stream only."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "info", stream=first)
    configure_logging("json", "info", stream=second)
    logging.getLogger("serial").info("once")
    assert first.getvalue() == ""
    assert len(_lines(second)) == 1


@pytest.mark.parametrize(("fmt", "level"), [("xml", "info"), ("json", "loud")])
def test_bad_format_or_level_is_a_config_error(fmt: str, level: str) -> None:
    """An unknown format or level is refused naming the value and what is allowed."""
    with pytest.raises(ConfigError, match="is not one of"):
        configure_logging(fmt, level, stream=io.StringIO())


class _Pipe(io.StringIO):
    """A stream with a real file descriptor, like the journal's stream socket."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def fileno(self) -> int:
        return self._fd


def test_journal_stream_lines_carry_their_syslog_priority(tmp_path: Path) -> None:
    """Under systemd (JOURNAL_STREAM names stdout) each line starts with <N>, its priority."""
    with (tmp_path / "stream").open("w") as target:
        info = os.fstat(target.fileno())
        out = _Pipe(target.fileno())
        env = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        configure_logging("auto", "debug", stream=out, environ=env)
        log = structlog.get_logger("pumpctl.daemon")
        log.error("alarm.raised", kind="pump-alarm-stall")
        log.warning("slot.missed")
        log.info("daemon.ready")
        log.debug("journal.appended")
    lines = out.getvalue().splitlines()
    assert [line[:3] for line in lines] == ["<3>", "<4>", "<6>", "<7>"]
    assert json.loads(lines[0][3:])["event"] == "alarm.raised"


def test_other_streams_get_no_prefix() -> None:
    """A JOURNAL_STREAM naming another file (a child's inherited variable) adds no prefix."""
    out = io.StringIO()
    configure_logging("json", "info", stream=out, environ={"JOURNAL_STREAM": "1:2"})
    structlog.get_logger().warning("slot.missed")
    assert _lines(out)[0]["event"] == "slot.missed"


def test_scheduler_chatter_is_debug() -> None:
    """APScheduler's INFO job chatter is dropped at info and shown as debug at debug."""
    quiet, loud = io.StringIO(), io.StringIO()
    configure_logging("json", "info", stream=quiet)
    logging.getLogger("apscheduler.executors.default").info('Job "wake" executed successfully')
    logging.getLogger("apscheduler.scheduler").warning("Run time of job missed")
    assert [line["level"] for line in _lines(quiet)] == ["warning"]
    configure_logging("json", "debug", stream=loud)
    logging.getLogger("apscheduler.executors.default").info('Job "wake" executed successfully')
    assert _lines(loud)[0]["level"] == "debug"


def test_no_color_turns_console_colours_off() -> None:
    """NO_COLOR keeps ANSI escapes out of console rendering on a terminal."""
    tty = _TTY()
    configure_logging("console", "info", stream=tty, environ={"NO_COLOR": "1"})
    structlog.get_logger().warning("slot.missed", slot_id="s1")
    assert "\033[" not in tty.getvalue()
    coloured = _TTY()
    configure_logging("console", "info", stream=coloured, environ={})
    structlog.get_logger().warning("slot.missed", slot_id="s1")
    assert "\033[" in coloured.getvalue()
