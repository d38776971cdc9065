"""Free text never drives the terminal: refused at the socket, escaped when printed (SR-29)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.cli.control import render_status
from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.control_protocol import RequestError, parse_request
from pumpctl.journal import Journal
from pumpctl.text import printable, printable_tree

FAKE = "site change\r\x1b[2KState:             ready\u202e"


def test_printable_escapes_every_control_character() -> None:
    """ESC, CR, LF, C1 controls and bidi overrides come out as visible escapes."""
    shown = printable(FAKE + "\n\x85\x7f")
    assert shown == "site change\\x0d\\x1b[2KState:             ready\\u202e\\x0a\\x85\\x7f"
    assert printable("plain text, µL and ä stay") == "plain text, µL and ä stay"


@pytest.mark.parametrize("cmd", ["suspend", "ack"])
def test_the_socket_refuses_free_text_with_control_characters(cmd: str) -> None:
    """SR-29: a reason with ESC or CR is refused naming the characters; nothing is stored."""
    body = {"cmd": cmd, "reason": FAKE}
    if cmd == "ack":
        body["alarm_id"] = "missed-pulse"
    with pytest.raises(RequestError, match=r"control characters .*\\x0d, \\x1b"):
        parse_request(json.dumps(body))


def test_status_rendering_cannot_be_faked_by_a_reason() -> None:
    """SR-29: a suspension reason with CR/ESC shows as one escaped line in `pumpctl status`."""
    text = render_status(
        printable_tree({"ok": True, "state": "suspended", "suspended_reason": FAKE})
    )
    assert "\x1b" not in text and "\r" not in text
    assert len(text.splitlines()) == 3  # state, reason, alarms


def test_log_show_escapes_journaled_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-29: text already in a journal (an older one) is printed escaped by `log show`."""
    path = tmp_path / "j.db"
    with Journal(path, VirtualClock(datetime(2026, 3, 1, tzinfo=UTC))) as journal:
        journal.record_suspend("op", FAKE)
    capsys.readouterr()  # the journal's own log line
    assert main(["log", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\\u001b[2K" in out
    assert len(out.splitlines()) == 1
