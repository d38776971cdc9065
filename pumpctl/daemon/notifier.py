"""Alarm notifications: operator-configured commands, run off the delivery loop, bounded in time.

The loop hands a :class:`Notification` to :meth:`Notifier.submit`, which never blocks: it puts
one job per configured command on a bounded queue and returns. One worker thread runs the jobs
as subprocesses, each in its own process group, killed (the whole group) at ``timeout_s``. A
failed attempt is retried after ``retry_backoff_s``, doubling each time, up to ``retries``
times. Every attempt's result goes back to the loop through :meth:`Notifier.drain`; the loop
journals it and raises ``notify-failed`` when a notification finally could not be sent, so the
journal and the alarms stay owned by the loop thread.

When the queue is full, a new notification replaces the least urgent queued job if that one is
less urgent than it (a reservoir warning gives way to a stall); otherwise the new one is
dropped. Either way the loss is reported as a ``dropped`` result. A hung command therefore
costs at most ``timeout_s`` per attempt and never reaches the delivery loop.

Invariant: nothing here touches the pump, the journal or the gate; a notifier that fails in any
way cannot delay or change a pulse.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from pumpctl.config.settings import NotifyCommand, NotifySettings

_log = structlog.get_logger("pumpctl.notify")

#: Priorities from the least to the most urgent, for ``min_priority`` and eviction.
_URGENCY = {"low": 0, "medium": 1, "high": 2}
#: Output of a command kept for the journal (its first bytes; the rest is noise).
_OUTPUT_CHARS = 300


def wanted(settings: NotifySettings, event: str, priority: str) -> bool:
    """Whether a transition ``event`` of an alarm of ``priority`` is to be sent."""
    if event == "test":
        return True
    return event in settings.events and _URGENCY.get(priority, 2) >= _URGENCY[settings.min_priority]


@dataclass(frozen=True)
class Notification:
    """What a person is told: which pump, which alarm, what happened, and when."""

    notification_id: str
    event: str
    alarm_id: str
    kind: str
    priority: str
    text: str
    at: datetime
    pump: str = ""
    subject: str = ""
    slot: str | None = None
    who: str | None = None
    count: int = 1
    #: The prescription's time zone (IANA name): ``local_time`` is ``at`` on its clock.
    timezone: str = ""

    @property
    def local_time(self) -> str:
        """``at`` in the prescription's zone with its UTC offset (empty without a zone)."""
        if not self.timezone:
            return ""
        from pumpctl.core.timefmt import local_text  # noqa: PLC0415

        try:
            return f"{local_text(self.at, self.timezone, seconds=True)} ({self.timezone})"
        except (ValueError, KeyError):
            return ""

    @property
    def summary(self) -> str:
        """A one-line subject: ``[pumpctl HIGH] pump-alarm-stall raised on NE-1000 #1``."""
        where = f" on {self.pump}" if self.pump else ""
        who = f" ({self.subject})" if self.subject else ""
        return f"[pumpctl {self.priority.upper()}] {self.alarm_id} {self.event}{where}{who}"

    def fields(self) -> dict[str, str]:
        """The values commands see, as ``{name}`` placeholders and ``PUMPCTL_NAME`` variables."""
        return {
            "id": self.notification_id,
            "event": self.event,
            "alarm": self.alarm_id,
            "kind": self.kind,
            "priority": self.priority,
            "text": self.text,
            "summary": self.summary,
            "time": self.at.isoformat(),
            "local_time": self.local_time,
            "pump": self.pump,
            "subject": self.subject,
            "slot": self.slot or "",
            "who": self.who or "",
            "count": str(self.count),
            "host": socket.gethostname(),
        }

    def to_json(self) -> str:
        return json.dumps(
            {"schema": "pumpctl.notification/1", **self.fields(), "count": self.count},
            ensure_ascii=False,
        )

    def body(self, form: str) -> bytes:
        """What the command reads on stdin in ``form`` (json, text, mail, none)."""
        f = self.fields()
        text = (
            f"{self.summary}\n\n{self.text}\n\n"
            f"event: {self.event}\nalarm: {self.alarm_id} ({self.priority})\n"
            f"time: {f['time']}"
            + (f" (local {f['local_time']})" if f["local_time"] else "")
            + f"\npump: {self.pump}\nsubject: {self.subject}\n"
            f"slot: {f['slot'] or '-'}\nhost: {f['host']}\nid: {self.notification_id}\n"
        )
        if form == "json":
            return (self.to_json() + "\n").encode()
        if form == "text":
            return text.encode()
        if form == "mail":
            # Header values are one line; the subject is ASCII-safe enough for sendmail -t.
            subject = " ".join(self.summary.splitlines())
            return (f"Subject: {subject}\nX-Pumpctl-Id: {self.notification_id}\n\n{text}").encode()
        return b""


_PLACEHOLDER = re.compile(
    r"\{(id|event|alarm|kind|priority|text|summary|time|local_time|pump|subject|slot|who|count"
    r"|host)\}"
)


def expand(argv: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """``{name}`` placeholders replaced in each argument; any other brace is left as written."""
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in argv]


def environment(
    notification: Notification, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The daemon's environment plus ``PUMPCTL_*`` variables for every field."""
    env = dict(os.environ if base is None else base)
    # A notifier is not the supervised service: it must not ping systemd's watchdog.
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"):
        env.pop(name, None)
    env.update({f"PUMPCTL_{key.upper()}": value for key, value in notification.fields().items()})
    env["PUMPCTL_JSON"] = notification.to_json()
    return env


@dataclass(frozen=True)
class Attempt:
    """One try of one command for one notification, as the loop journals it.

    ``outcome`` is sent, failed, timeout or dropped; ``final`` says no further try follows.
    """

    notification: Notification
    command: str
    attempt: int
    outcome: str
    final: bool
    duration_s: float = 0.0
    exit_code: int | None = None
    error: str = ""


def run_command(command: NotifyCommand, notification: Notification, timeout_s: float) -> Attempt:
    """Run ``command`` once for ``notification``; never raises, always within ``timeout_s``."""
    argv = expand(command.argv, notification.fields())
    started = time.monotonic()
    try:
        proc = subprocess.Popen(  # noqa: S603 - the operator's configured command, no shell
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=environment(notification),
            start_new_session=True,
            close_fds=True,
        )
    except OSError as err:
        return _attempt(notification, command, "failed", started, error=f"cannot start: {err}")
    try:
        output, _ = proc.communicate(notification.body(command.stdin), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return _attempt(
            notification, command, "timeout", started, error=f"killed after {timeout_s:g} s"
        )
    except OSError as err:  # the child closed stdin early and more was to be written
        _kill_group(proc)
        return _attempt(notification, command, "failed", started, error=str(err))
    text = output.decode("utf-8", "replace").strip()[:_OUTPUT_CHARS]
    if proc.returncode == 0:
        return _attempt(notification, command, "sent", started, exit_code=0)
    return _attempt(notification, command, "failed", started, exit_code=proc.returncode, error=text)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and anything it started (curl under a shell), then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        proc.communicate(timeout=5)


def _attempt(
    notification: Notification,
    command: NotifyCommand,
    outcome: str,
    started: float,
    *,
    exit_code: int | None = None,
    error: str = "",
) -> Attempt:
    # ``attempt`` and ``final`` are filled in by the worker, which knows the retry count.
    return Attempt(
        notification,
        command.name,
        0,
        outcome,
        True,
        round(time.monotonic() - started, 3),
        exit_code,
        error,
    )


@dataclass(order=True)
class _Job:
    due: float
    order: int
    notification: Notification = field(compare=False)
    command: NotifyCommand = field(compare=False)
    attempt: int = field(compare=False, default=1)

    @property
    def urgency(self) -> int:
        return _URGENCY.get(self.notification.priority, 2)


Runner = Callable[[NotifyCommand, Notification, float], Attempt]


class Notifier:
    """A bounded queue of notification jobs and the one worker thread that runs them."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        runner: Runner = run_command,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._runner = runner
        self._monotonic = monotonic
        self._jobs: list[_Job] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._results: queue.SimpleQueue[Attempt] = queue.SimpleQueue()
        self._stopping = False
        self._running = 0
        self._thread = threading.Thread(target=self._work, name="pumpctl-notify", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def submit(self, notification: Notification) -> bool:
        """Queue ``notification`` for every command; never blocks. False if it was dropped."""
        if not wanted(self.settings, notification.event, notification.priority):
            return False
        accepted = True
        with self._cond:
            for command in self.settings.commands:
                job = _Job(self._monotonic(), next(self._order), notification, command)
                if self._stopping or not self._make_room(job):
                    accepted = False
                    self._results.put(_dropped(job, "the notification queue is full"))
                    continue
                heapq.heappush(self._jobs, job)
            self._cond.notify()
        return accepted

    def _make_room(self, job: _Job) -> bool:
        if len(self._jobs) < self.settings.queue_size:
            return True
        # The least urgent queued job, the newest among equals, gives way to a more urgent one.
        victim = min(self._jobs, key=lambda j: (j.urgency, -j.order))
        if victim.urgency >= job.urgency:
            return False
        self._jobs.remove(victim)
        heapq.heapify(self._jobs)
        self._results.put(
            _dropped(victim, f"replaced by the more urgent {job.notification.alarm_id}")
        )
        return True

    def drain(self) -> list[Attempt]:
        """Results since the last call, oldest first (called by the delivery loop)."""
        found: list[Attempt] = []
        while True:
            try:
                found.append(self._results.get_nowait())
            except queue.Empty:
                return found

    def pending(self) -> int:
        """Jobs queued or running (status and metrics)."""
        with self._cond:
            return len(self._jobs) + self._running

    def close(self, grace_s: float) -> None:
        """Stop taking work; run what is due within ``grace_s``, then give up on the rest."""
        deadline = self._monotonic() + grace_s
        with self._cond:
            while (self._jobs or self._running) and self._started:
                due_now = any(job.due <= self._monotonic() for job in self._jobs)
                remaining = deadline - self._monotonic()
                if remaining <= 0 or not (due_now or self._running):
                    break
                self._cond.wait(min(remaining, 0.1))
            self._stopping = True
            for job in self._jobs:
                self._results.put(_dropped(job, "the daemon stopped before it could be sent"))
            self._jobs.clear()
            self._cond.notify_all()
        if self._started:
            self._thread.join(timeout=max(0.0, deadline - self._monotonic()) + 1.0)

    def _work(self) -> None:
        while True:
            with self._cond:
                job = self._next_due()
                if job is None:
                    return
                self._running += 1
            try:
                result = self._runner(job.command, job.notification, float(self.settings.timeout_s))
            except Exception as err:
                # A bug in a runner must not kill the worker: later alarms still go out.
                result = Attempt(
                    job.notification, job.command.name, 0, "failed", True, error=repr(err)
                )
            retry = result.outcome != "sent" and job.attempt <= self.settings.retries
            result = Attempt(
                job.notification,
                job.command.name,
                job.attempt,
                result.outcome,
                not retry,
                result.duration_s,
                result.exit_code,
                result.error,
            )
            self._results.put(result)
            level = _log.info if result.outcome == "sent" else _log.warning
            level(
                "notify.attempt",
                alarm_id=job.notification.alarm_id,
                notify_event=job.notification.event,
                command=job.command.name,
                attempt=job.attempt,
                outcome=result.outcome,
                error=result.error or None,
            )
            with self._cond:
                self._running -= 1
                if retry and not self._stopping:
                    backoff = self.settings.retry_backoff_s * 2 ** (job.attempt - 1)
                    heapq.heappush(
                        self._jobs,
                        _Job(
                            self._monotonic() + backoff,
                            next(self._order),
                            job.notification,
                            job.command,
                            job.attempt + 1,
                        ),
                    )
                self._cond.notify_all()

    def _next_due(self) -> _Job | None:
        """Wait (holding the condition) for a due job; None once stopping."""
        while not self._stopping:
            if self._jobs:
                wait_s = self._jobs[0].due - self._monotonic()
                if wait_s <= 0:
                    return heapq.heappop(self._jobs)
                self._cond.wait(min(wait_s, 1.0))
            else:
                self._cond.wait(1.0)
        return None


def _dropped(job: _Job, why: str) -> Attempt:
    return Attempt(job.notification, job.command.name, job.attempt, "dropped", True, error=why)
