"""How the daemon lets time pass and gets woken: real, scaled (simulator only) or virtual.

APScheduler 3.x, in UTC, holds one job for the next slot; its only effect is to wake the
delivery loop, which then asks the planner and the gate. The loop also wakes on its own at the
heartbeat interval, so a lost or late scheduler job costs a wake-up, never a safety check.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from pumpctl.core.clock import Clock, VirtualClock
from pumpctl.daemon import notify

SLOT_JOB_ID = "next-slot"


class Waker(Protocol):
    """Sleep in clock time, interruptibly; schedule a wake-up at a wall time."""

    def sleep(self, seconds: float) -> None: ...

    def wake(self) -> None: ...

    def schedule(self, when: datetime, grace_s: float) -> None: ...

    def close(self) -> None: ...


class RealWaker:
    """Sleeps on a ``threading.Event``; APScheduler sets it at the next slot's time.

    ``scale`` > 1 only with the simulator's scaled clock: clock seconds pass ``scale`` times faster
    than real seconds, so sleeps and the scheduler's run dates are converted.
    """

    def __init__(self, clock: Clock, *, scale: float = 1.0) -> None:
        self._clock = clock
        self._scale = scale
        self._event = threading.Event()
        self._scheduled: datetime | None = None
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.start()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of clock time, or until woken, keeping systemd's watchdog fed.

        Invariant (SR-15): the keep-alive comes from the delivery loop's own thread, here and in
        every poll of a running pulse, at least twice per WatchdogSec; a hung loop stops them.
        """
        remaining_s = max(0.0, seconds) / self._scale
        interval_s = notify.watchdog_interval_s()  # half of WatchdogSec, or None outside systemd
        chunk_s = remaining_s if interval_s is None else min(remaining_s, interval_s)
        while True:
            notify.watchdog()
            if self._event.wait(chunk_s) or remaining_s <= chunk_s:
                break
            remaining_s -= chunk_s
            chunk_s = min(chunk_s, remaining_s)
        self._event.clear()

    def wake(self) -> None:
        self._event.set()

    def schedule(self, when: datetime, grace_s: float) -> None:
        if when == self._scheduled:
            # The loop asks on every tick; the job for this slot already exists. Re-adding it
            # would cost CPU and an APScheduler log line per heartbeat for nothing.
            return
        self._scheduled = when
        real_delay_s = max(0.0, (when - self._clock.now()).total_seconds()) / self._scale
        run_date = datetime.now(UTC) + timedelta(seconds=real_delay_s)
        self._scheduler.add_job(
            self.wake,
            trigger="date",
            run_date=run_date,
            id=SLOT_JOB_ID,
            replace_existing=True,
            misfire_grace_time=max(1, int(grace_s / self._scale)),
            coalesce=True,
            max_instances=1,
        )

    def close(self) -> None:
        self._scheduler.shutdown(wait=False)


class VirtualWaker:
    """Advances a virtual clock instead of sleeping: days of therapy run as fast as the CPU can."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def sleep(self, seconds: float) -> None:
        self._clock.advance(max(0.0, seconds))

    def wake(self) -> None:
        """Nothing to interrupt: a virtual sleep returns at once."""

    def schedule(self, when: datetime, grace_s: float) -> None:
        """The loop's own sleep lands exactly on the slot; no scheduler is needed."""

    def close(self) -> None:
        """Nothing to release."""
