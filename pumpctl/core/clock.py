"""Clocks: wall time (UTC) for records and schedules, elapsed time for measuring intervals.

The elapsed reading never goes backwards and keeps counting through suspend (``CLOCK_BOOTTIME``);
it restarts from an unknown origin at every boot, which is why each reading travels with the
boot id. The safety gate measures intervals on it within one boot and falls back to journaled wall
times, conservatively, across boots.

Time is exact here: ``elapsed_us`` is an integer number of microseconds, the same resolution as
``datetime``, so an interval that equals its limit compares equal, never 89.999… minutes.
``elapsed_s`` is the same reading in seconds for sleeping and polling, never for a limit.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

_BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


@runtime_checkable
class Clock(Protocol):
    """What the core needs to know about time."""

    def now(self) -> datetime:
        """Wall time, timezone-aware UTC. May step backwards or forwards (NTP, operator)."""
        ...

    def elapsed_s(self) -> float:
        """Seconds since an arbitrary origin within this boot; never decreases, counts suspend."""
        ...

    def elapsed_us(self) -> int:
        """The same reading in whole microseconds: what every limit is compared on."""
        ...

    @property
    def scale(self) -> float:
        """How many clock seconds pass per real second (1 except for a simulator's clock)."""
        ...

    @property
    def boot_id(self) -> str:
        """Identifies the boot the elapsed reading belongs to."""
        ...


def seconds_to_us(seconds: float) -> int:
    """A reading in seconds (a journaled ``elapsed_s``) as whole microseconds, exactly.

    Readings are written from whole microseconds, and a float holds those exactly to well below
    half a microsecond for any reading under 2**31 s, so rounding recovers the integer.
    """
    return round(seconds * 1_000_000)


def read_boot_id() -> str:
    """The kernel's boot id, or a per-process random id where the kernel does not expose one."""
    try:
        with open(_BOOT_ID_PATH, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return f"process-{uuid.uuid4()}"


class SystemClock:
    """The real clock: ``time.time`` for wall time, ``CLOCK_BOOTTIME`` for elapsed time."""

    def __init__(self) -> None:
        self._boot_id = read_boot_id()
        self._elapsed_clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def elapsed_s(self) -> float:
        return self.elapsed_us() / 1_000_000

    def elapsed_us(self) -> int:
        return time.clock_gettime_ns(self._elapsed_clock) // 1000

    @property
    def scale(self) -> float:
        return 1.0

    @property
    def boot_id(self) -> str:
        return self._boot_id


def _to_us(seconds: float | timedelta) -> int:
    """A duration as whole microseconds, rounded as ``timedelta`` rounds it."""
    if isinstance(seconds, timedelta):
        return (seconds.days * 86_400 + seconds.seconds) * 1_000_000 + seconds.microseconds
    return _to_us(timedelta(seconds=seconds))


class VirtualClock:
    """A clock that only moves when a test (or ``pumpctl simulate``) moves it.

    ``advance`` moves both readings, as real time passing does. ``step_wall`` moves only the wall
    clock (NTP step, operator mistake). ``suspend`` moves both, as ``CLOCK_BOOTTIME`` does across a
    suspend. ``reboot`` starts a new boot with a fresh elapsed origin and, optionally, a wrong RTC.
    Both readings are kept in whole microseconds, so they move in exact lock-step however many
    times the clock is advanced (a year of simulation is millions of small steps).
    """

    def __init__(
        self,
        start: datetime | None = None,
        *,
        elapsed_s: float = 1000.0,
        boot_id: str = "virtual-boot-1",
    ) -> None:
        start = start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("VirtualClock start must be timezone-aware")
        self._wall = start.astimezone(UTC)
        self._elapsed_us = _to_us(elapsed_s)
        self._boot_id = boot_id
        self._boots = 1
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._wall

    def elapsed_s(self) -> float:
        return self.elapsed_us() / 1_000_000

    def elapsed_us(self) -> int:
        with self._lock:
            return self._elapsed_us

    @property
    def scale(self) -> float:
        return 1.0

    @property
    def boot_id(self) -> str:
        return self._boot_id

    def advance(self, seconds: float | timedelta) -> None:
        """Real time passes: both clocks move forward by ``seconds`` (>= 0), to the microsecond."""
        step_us = _to_us(seconds)
        if step_us < 0:
            raise ValueError(f"cannot advance by a negative time ({seconds} s)")
        with self._lock:
            self._wall += timedelta(microseconds=step_us)
            self._elapsed_us += step_us

    def advance_to(self, when: datetime) -> None:
        """Advance until the wall clock reads exactly ``when`` (no-op if it already reads later)."""
        delta = when - self.now()
        if delta > timedelta(0):
            self.advance(delta)

    def step_wall(self, seconds: float | timedelta) -> None:
        """The wall clock is stepped (either way); elapsed time does not move."""
        with self._lock:
            self._wall += timedelta(microseconds=_to_us(seconds))

    def suspend(self, seconds: float | timedelta) -> None:
        """The machine sleeps for ``seconds``: ``CLOCK_BOOTTIME`` counts it, as does the wall."""
        self.advance(seconds)

    def reboot(self, *, downtime_s: float = 60.0, wall_error_s: float = 0.0) -> None:
        """The machine restarts after ``downtime_s``; its RTC may be off by ``wall_error_s``."""
        with self._lock:
            self._boots += 1
            self._boot_id = f"virtual-boot-{self._boots}"
            self._wall += timedelta(microseconds=_to_us(downtime_s) + _to_us(wall_error_s))
            self._elapsed_us = 5_000_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ScaledClock:
    """N x faster than real time, from a fixed origin; for demos and long simulator runs only.

    A real pump cannot run faster than real time, so the daemon accepts a scaled clock only
    after the pump proves it is a simulator running at the same scale. The elapsed reading is the
    scaled wall time: when the origin comes from the simulator's own clock, a restarted daemon
    continues the same timeline (and ``boot_id`` names that timeline).

    ``origin_elapsed_us`` is the base clock's reading at the instant the scaled clock read
    ``origin``; without it, the base is read now. A caller that took ``origin`` from a message
    passes the reading taken when the message arrived, so nothing done in between (closing a
    port, say) shifts the timeline. ``sync_error_us`` is how far off that pairing can be (real
    time), recorded for whoever judges times on this clock.
    """

    def __init__(
        self,
        scale: float,
        *,
        origin: datetime | None = None,
        base: Clock | None = None,
        boot_id: str | None = None,
        origin_elapsed_us: int | None = None,
        sync_error_us: int = 0,
    ) -> None:
        if not scale > 0:
            raise ValueError(f"time scale must be > 0, got {scale}")
        self._scale = float(scale)
        self._base: Clock = base or SystemClock()
        self._origin_elapsed_us = (
            self._base.elapsed_us() if origin_elapsed_us is None else origin_elapsed_us
        )
        self._origin_wall = (origin or self._base.now()).astimezone(UTC)
        self._boot_id = boot_id or f"scaled-{self._base.boot_id}"
        self._sync_error_us = sync_error_us

    @property
    def scale(self) -> float:
        return self._scale

    @property
    def sync_error_s(self) -> float:
        """The most, in real seconds, this clock can be off the one it was anchored on (half the
        handshake's round trip); zero when anchored on the base clock itself."""
        return self._sync_error_us / 1_000_000

    def now(self) -> datetime:
        real_us = self._base.elapsed_us() - self._origin_elapsed_us
        return self._origin_wall + timedelta(microseconds=round(real_us * self._scale))

    def elapsed_s(self) -> float:
        return self.elapsed_us() / 1_000_000

    def elapsed_us(self) -> int:
        return _to_us(self.now() - _EPOCH)

    @property
    def boot_id(self) -> str:
        return self._boot_id
