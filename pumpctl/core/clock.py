"""Clocks: wall time (UTC) for records and schedules, elapsed time for measuring intervals.

The elapsed reading never goes backwards and keeps counting through suspend (``CLOCK_BOOTTIME``);
it restarts from an unknown origin at every boot, which is why each reading travels with the
boot id. The safety gate measures intervals on it within one boot and falls back to journaled wall
times, conservatively, across boots.
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

    @property
    def boot_id(self) -> str:
        """Identifies the boot the elapsed reading belongs to."""
        ...


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
        return time.clock_gettime(self._elapsed_clock)

    @property
    def boot_id(self) -> str:
        return self._boot_id


class VirtualClock:
    """A clock that only moves when a test (or ``pumpctl simulate``) moves it.

    ``advance`` moves both readings, as real time passing does. ``step_wall`` moves only the wall
    clock (NTP step, operator mistake). ``suspend`` moves both, as ``CLOCK_BOOTTIME`` does across a
    suspend. ``reboot`` starts a new boot with a fresh elapsed origin and, optionally, a wrong RTC.
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
        self._elapsed = float(elapsed_s)
        self._boot_id = boot_id
        self._boots = 1
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._wall

    def elapsed_s(self) -> float:
        with self._lock:
            return self._elapsed

    @property
    def boot_id(self) -> str:
        return self._boot_id

    def advance(self, seconds: float) -> None:
        """Real time passes: both clocks move forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time ({seconds} s)")
        with self._lock:
            self._wall += timedelta(seconds=seconds)
            self._elapsed += seconds

    def advance_to(self, when: datetime) -> None:
        """Advance until the wall clock reads ``when`` (no-op if it already reads later)."""
        delta = (when - self.now()).total_seconds()
        if delta > 0:
            self.advance(delta)

    def step_wall(self, seconds: float) -> None:
        """The wall clock is stepped (either way); elapsed time does not move."""
        with self._lock:
            self._wall += timedelta(seconds=seconds)

    def suspend(self, seconds: float) -> None:
        """The machine sleeps for ``seconds``: ``CLOCK_BOOTTIME`` counts it, as does the wall."""
        self.advance(seconds)

    def reboot(self, *, downtime_s: float = 60.0, wall_error_s: float = 0.0) -> None:
        """The machine restarts after ``downtime_s``; its RTC may be off by ``wall_error_s``."""
        with self._lock:
            self._boots += 1
            self._boot_id = f"virtual-boot-{self._boots}"
            self._wall += timedelta(seconds=downtime_s + wall_error_s)
            self._elapsed = 5.0


class ScaledClock:
    """N x faster than real time, from a fixed origin; for demos and long simulator runs only.

    A real pump cannot run faster than real time, so the daemon accepts a scaled clock only
    after the pump proves it is a simulator running at the same scale. The elapsed reading is the
    scaled wall time in seconds: when the origin comes from the simulator's own clock, a
    restarted daemon continues the same timeline (and ``boot_id`` names that timeline).
    """

    def __init__(
        self,
        scale: float,
        *,
        origin: datetime | None = None,
        base: Clock | None = None,
        boot_id: str | None = None,
    ) -> None:
        if not scale > 0:
            raise ValueError(f"time scale must be > 0, got {scale}")
        self._scale = float(scale)
        self._base: Clock = base or SystemClock()
        self._origin_wall = (origin or self._base.now()).astimezone(UTC)
        self._origin_elapsed = self._base.elapsed_s()
        self._boot_id = boot_id or f"scaled-{self._base.boot_id}"

    @property
    def scale(self) -> float:
        return self._scale

    def now(self) -> datetime:
        scaled_s = (self._base.elapsed_s() - self._origin_elapsed) * self._scale
        return self._origin_wall + timedelta(seconds=scaled_s)

    def elapsed_s(self) -> float:
        return self.now().timestamp()

    @property
    def boot_id(self) -> str:
        return self._boot_id
