"""The motor and plunger of the simulated pump: linear motion in time, bounded by its target.

``Drive`` knows nothing about commands. The pump starts, pauses and stops it and asks, before every
step in time, when the next physical event is due (target reached, end of travel, a volume
threshold a fault waits for); the ledger hears of every motion that starts and ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .ledger import Ledger

#: Volumes closer than this (uL) count as equal: float motion must stop exactly at its target.
EPSILON_UL = 1e-9


@dataclass
class Motion:
    """One uninterrupted movement of the plunger."""

    direction: str  # 'INF' or 'WDR'
    rate_ul_per_s: float
    started_s: float
    moved_ul: float = 0.0


class Drive:
    """Plunger position, totalizers and the motion in progress."""

    def __init__(
        self, syringe_ul: float, ledger: Ledger, wall_at: Callable[[float], datetime]
    ) -> None:
        self.syringe_ul = syringe_ul
        #: Volume left in the syringe in front of the plunger.
        self.reservoir_ul = syringe_ul
        self.infused_ul = 0.0
        self.withdrawn_ul = 0.0
        #: Volume moved since the current bolus (phase) started; survives a pause.
        self.progress_ul = 0.0
        #: None means continuous (VOL 0), which pumps until stopped or end of travel.
        self.target_ul: float | None = None
        #: Runaway fault: the motor ignores its target.
        self.runaway = False
        self.motion: Motion | None = None
        self._ledger = ledger
        self._wall_at = wall_at
        self._at_s = 0.0

    @property
    def moving(self) -> bool:
        return self.motion is not None

    def begin_bolus(self, target_ul: float | None) -> None:
        """A new phase starts: progress counts from zero towards ``target_ul``."""
        self.progress_ul = 0.0
        self.target_ul = target_ul

    def start(self, direction: str, rate_ul_per_s: float, now_s: float, cause: str) -> None:
        """The motor starts moving at ``now_s``."""
        self._at_s = now_s
        self.motion = Motion(direction, rate_ul_per_s, now_s)
        self._ledger.record(
            "motion.start",
            at=self._wall_at(now_s).isoformat(),
            elapsed_s=round(now_s, 6),
            direction=direction,
            rate_ul_per_min=round(rate_ul_per_s * 60.0, 6),
            target_ul=self.target_ul,
            cause=cause,
        )

    def halt(self, now_s: float, cause: str) -> None:
        """The motor stops at ``now_s`` (call ``move_to(now_s)`` first)."""
        motion = self.motion
        if motion is None:
            return
        self.motion = None
        self._ledger.record(
            "motion.end",
            started=self._wall_at(motion.started_s).isoformat(),
            ended=self._wall_at(now_s).isoformat(),
            elapsed_start_s=round(motion.started_s, 6),
            elapsed_end_s=round(now_s, 6),
            direction=motion.direction,
            volume_ul=round(motion.moved_ul, 6),
            cause=cause,
        )

    def set_rate(self, rate_ul_per_s: float, now_s: float) -> None:
        """A rate change while pumping takes effect at once."""
        self.move_to(now_s)
        if self.motion is not None:
            self.motion.rate_ul_per_s = rate_ul_per_s

    def _room_ul(self, motion: Motion) -> float:
        if motion.direction == "INF":
            return self.reservoir_ul
        return self.syringe_ul - self.reservoir_ul

    def remaining_ul(self) -> float | None:
        """Volume left until the target (None: no target applies)."""
        if self.target_ul is None or self.runaway:
            return None
        return max(self.target_ul - self.progress_ul, 0.0)

    def next_event_s(self, thresholds_ul: list[float]) -> float | None:
        """When the motion next needs attention: target, end of travel or a progress threshold."""
        motion = self.motion
        if motion is None:
            return None
        if motion.rate_ul_per_s <= 0:
            return None
        # The nearest of the end of travel, the target and the thresholds still ahead.
        limit = self._room_ul(motion)
        remaining = self.remaining_ul()
        if remaining is not None and remaining < limit:
            limit = remaining
        progress = self.progress_ul
        for threshold in thresholds_ul:
            if threshold >= progress and threshold - progress < limit:
                limit = threshold - progress
        return self._at_s + max(limit, 0.0) / motion.rate_ul_per_s

    def move_to(self, now_s: float, thresholds_ul: list[float] | None = None) -> None:
        """Advance the plunger to ``now_s`` (never past the target or the end of travel).

        Invariant: a limit or threshold whose time (as ``next_event_s`` computes it) has come is
        reached exactly. At large clock readings the float time step cannot resolve the last
        nanolitres, and without this snap the pump would wait forever for an event that is due.
        """
        motion = self.motion
        if motion is None or now_s <= self._at_s or motion.rate_ul_per_s <= 0:
            self._at_s = max(self._at_s, now_s)
            return
        rate = motion.rate_ul_per_s
        step = rate * (now_s - self._at_s)
        for threshold in thresholds_ul or []:
            distance = threshold - self.progress_ul
            if distance >= 0 and self._at_s + distance / rate <= now_s:
                step = max(step, distance)
        caps = [c for c in (self._room_ul(motion), self.remaining_ul()) if c is not None]
        due = [c for c in caps if self._at_s + c / rate <= now_s]
        if due:
            step = max(step, min(due))
        step = max(min([step, *caps]), 0.0)
        self._at_s = now_s
        motion.moved_ul += step
        self.progress_ul += step
        if motion.direction == "INF":
            self.infused_ul += step
            self.reservoir_ul -= step
        else:
            self.withdrawn_ul += step
            self.reservoir_ul += step

    def target_reached(self) -> bool:
        remaining = self.remaining_ul()
        return remaining is not None and remaining <= EPSILON_UL

    def end_of_travel(self) -> bool:
        return self.motion is not None and self._room_ul(self.motion) <= EPSILON_UL
