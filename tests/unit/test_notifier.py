"""The notifier: bounded in time and queue, retried with back-off, never blocking its caller."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from pumpctl.config.settings import NotifyCommand, NotifySettings
from pumpctl.daemon.notifier import Attempt, Notification, Notifier, expand, run_command

AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _note(alarm: str = "pump-alarm-stall", priority: str = "high") -> Notification:
    return Notification(
        notification_id=f"{alarm}/raised/1",
        event="raised",
        alarm_id=alarm,
        kind=alarm,
        priority=priority,
        text="stalled at 5 uL",
        at=AT,
        pump="bench1",
        subject="S-001",
        slot="S20260302T080000Z",
    )


def _settings(*commands: NotifyCommand, **kwargs: int) -> NotifySettings:
    return NotifySettings(commands=commands or (NotifyCommand("c", ("true",)),), **kwargs)  # type: ignore[arg-type]


def _wait_results(notifier: Notifier, count: int, timeout_s: float = 10.0) -> list[Attempt]:
    found: list[Attempt] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < count and time.monotonic() < deadline:
        found += notifier.drain()
        time.sleep(0.01)
    return found


def test_argv_and_environment_carry_the_alarm(tmp_path: Path) -> None:
    """Placeholders fill the argv and PUMPCTL_* variables carry every field to the command."""
    out = tmp_path / "out"
    command = NotifyCommand(
        "sh",
        ("/bin/sh", "-c", f'echo "$1 $PUMPCTL_PRIORITY $PUMPCTL_SLOT" > {out}', "-", "{alarm}"),
    )
    result = run_command(command, _note(), 5.0)
    assert result.outcome == "sent"
    assert out.read_text().split() == ["pump-alarm-stall", "high", "S20260302T080000Z"]
    assert expand(["{alarm}", "{nope}", "x{pump}"], _note().fields()) == [
        "pump-alarm-stall",
        "{nope}",
        "xbench1",
    ]


def test_a_notification_gives_its_time_in_the_prescriptions_zone_too(tmp_path: Path) -> None:
    """SR-11: a person paged at night reads the local time with its offset beside the UTC one."""
    note = dataclasses.replace(
        _note(), at=datetime(2026, 10, 25, 1, 30, tzinfo=UTC), timezone="Europe/Berlin"
    )
    assert note.fields()["local_time"] == "2026-10-25 02:30:00+01:00 (Europe/Berlin)"
    assert expand(["{local_time}"], note.fields()) == [note.local_time]
    body = note.body("text").decode()
    assert (
        "time: 2026-10-25T01:30:00+00:00 (local 2026-10-25 02:30:00+01:00 (Europe/Berlin))" in body
    )
    out = tmp_path / "out"
    command = NotifyCommand("sh", ("/bin/sh", "-c", f'echo "$PUMPCTL_LOCAL_TIME" > {out}'))
    assert run_command(command, note, 5.0).outcome == "sent"
    assert out.read_text().strip() == note.local_time
    # Without a zone (an older caller) the field is empty and the body shows UTC only.
    assert _note().fields()["local_time"] == ""
    assert "(local" not in _note().body("text").decode()


def test_a_hung_command_and_its_children_are_killed_at_the_time_limit(tmp_path: Path) -> None:
    """A command that hangs is killed with everything it started once timeout_s has passed."""
    marker = tmp_path / "child-survived"
    command = NotifyCommand("hang", ("/bin/sh", "-c", f"(sleep 3; touch {marker}) & sleep 30"))
    started = time.monotonic()
    result = run_command(command, _note(), 0.5)
    assert result.outcome == "timeout"
    assert time.monotonic() - started < 5
    time.sleep(3.5)
    assert not marker.exists()


def test_failures_are_retried_with_doubling_backoff_then_final() -> None:
    """A failing command is tried 1 + retries times, each spaced by a doubling back-off."""
    times: list[float] = []

    def runner(command: NotifyCommand, n: Notification, timeout_s: float) -> Attempt:
        times.append(time.monotonic())
        return Attempt(n, command.name, 0, "failed", True, exit_code=1)

    notifier = Notifier(_settings(retries=2, retry_backoff_s=1), runner=runner)
    notifier.start()
    notifier.submit(_note())
    results = _wait_results(notifier, 3, timeout_s=8)
    notifier.close(0)
    assert [(r.attempt, r.final) for r in results] == [(1, False), (2, False), (3, True)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Lower bounds only: a loaded host may run a retry late, never early.
    assert gaps[0] >= 0.95 and gaps[1] >= 1.95


def test_submit_never_waits_for_a_running_command() -> None:
    """Submitting while a command runs returns at once; a full queue drops the least urgent."""
    release = threading.Event()

    def runner(command: NotifyCommand, n: Notification, timeout_s: float) -> Attempt:
        release.wait(5)
        return Attempt(n, command.name, 0, "sent", True)

    notifier = Notifier(_settings(queue_size=2), runner=runner)
    notifier.start()
    notifier.submit(_note("first"))
    time.sleep(0.2)  # the worker is now inside the first command
    started = time.monotonic()
    assert notifier.submit(_note("reservoir-low", "low"))
    assert notifier.submit(_note("link-fault", "medium"))
    assert notifier.submit(_note("pump-alarm-stall", "high"))  # evicts the low one
    assert not notifier.submit(_note("reservoir-low", "low"))  # nothing less urgent to evict
    assert time.monotonic() - started < 0.1
    dropped = [r.notification.alarm_id for r in notifier.drain() if r.outcome == "dropped"]
    assert dropped == ["reservoir-low", "reservoir-low"]
    release.set()
    sent = _wait_results(notifier, 3)
    notifier.close(1)
    assert [r.notification.alarm_id for r in sent] == ["first", "link-fault", "pump-alarm-stall"]


def test_min_priority_and_events_filter_what_is_sent() -> None:
    """Only the configured transitions of alarms at or above min_priority are queued."""
    notifier = Notifier(
        NotifySettings(
            commands=(NotifyCommand("c", ("true",)),), events=("raised",), min_priority="medium"
        )
    )
    assert not notifier.submit(_note("reservoir-low", "low"))
    assert notifier.submit(_note("link-fault", "medium"))
    cleared = Notification("x", "cleared", "link-fault", "link-fault", "medium", "", AT)
    assert not notifier.submit(cleared)
    notifier.close(0)
