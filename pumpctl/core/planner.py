"""The planner: which pulse slots a prescription produces, and which one is due now (SR-10).

Slots follow each other from the prescription's anchor, each at the interval in force at its
local time of day. A slot's id is derived from its UTC time, so the same prescription always
yields the same ids, across restarts. A slot that could not start within its grace window is
MISSED and never delivered late; the cadence continues with the next slot.
"""

from __future__ import annotations

import bisect
from datetime import datetime, time, timedelta

from pumpctl.core.model import Prescription, Slot
from pumpctl.core.timefmt import local_text


def describe_anchor(p: Prescription, time_of_day: time | None, *, from_journal: bool) -> str:
    """Where the slots start and what keeps them there, as a clinician should read it."""
    first = f"slots from {local_text(p.anchor, p.zone)} ({p.timezone})"
    if time_of_day is None:
        return first
    tod = f"{time_of_day:%H:%M}" + (f":{time_of_day:%S}" if time_of_day.second else "")
    if from_journal:
        return (
            f"{first}, the anchor the journal already follows for {tod}; the cadence runs on "
            "from there, it is not re-anchored daily"
        )
    return (
        f"{first}, the last {tod} before the configuration was loaded; the cadence runs on from "
        "there and is kept across restarts, it is not re-anchored daily"
    )


def slot_id_for(scheduled: datetime) -> str:
    """Stable id of the slot planned at ``scheduled`` (UTC, second resolution)."""
    return "S" + scheduled.strftime("%Y%m%dT%H%M%SZ")


class Planner:
    """Slots of one prescription, indexed from 0 at the anchor.

    With a fixed interval a slot's time is arithmetic; with a time-of-day profile each slot
    depends on the previous one, so the walked times are remembered and walking forward stays cheap.
    """

    def __init__(self, prescription: Prescription) -> None:
        self.prescription = prescription
        self._step = timedelta(minutes=prescription.interval_min)
        self._walked: list[datetime] = [prescription.anchor]
        self._slots: dict[int, Slot] = {}

    def _time(self, index: int) -> datetime:
        if not self.prescription.profile:
            return self.prescription.anchor + self._step * index
        while len(self._walked) <= index:
            last = self._walked[-1]
            self._walked.append(last + timedelta(minutes=self.prescription.interval_at(last)))
        return self._walked[index]

    def _index_at_or_before(self, when: datetime) -> int:
        """Index of the last slot scheduled at or before ``when``; -1 before the anchor."""
        if when < self.prescription.anchor:
            return -1
        if not self.prescription.profile:
            return int((when - self.prescription.anchor) // self._step)
        while self._walked[-1] <= when:
            self._time(len(self._walked))
        return bisect.bisect_right(self._walked, when) - 1

    def slot(self, index: int) -> Slot:
        cached = self._slots.get(index)
        if cached is not None:
            return cached
        p = self.prescription
        scheduled = self._time(index)
        slot = Slot(
            slot_id=slot_id_for(scheduled),
            scheduled=scheduled,
            interval_min=p.interval_at(scheduled),
            dose_ug=p.dose_ug,
            volume_ul=p.volume_ul,
            rate_ul_per_min=p.rate_ul_per_min,
            duration_s=p.effective_duration_s,
        )
        if len(self._slots) > 4096:
            self._slots.clear()  # the daemon walks forward: old slots are not asked again
        self._slots[index] = slot
        return slot

    def slots_between(self, start: datetime, end: datetime) -> list[Slot]:
        """Slots with ``start <= scheduled < end``, oldest first."""
        first = self._index_at_or_before(start)
        if first < 0 or self._time(first) < start:
            first += 1
        slots: list[Slot] = []
        index = first
        while self._time(index) < end:
            slots.append(self.slot(index))
            index += 1
        return slots

    def latest_at_or_before(self, when: datetime) -> Slot | None:
        """The most recent slot scheduled at or before ``when`` (None before the anchor)."""
        index = self._index_at_or_before(when)
        return self.slot(index) if index >= 0 else None

    def next_after(self, when: datetime) -> Slot:
        """The first slot scheduled strictly after ``when``."""
        return self.slot(self._index_at_or_before(when) + 1)

    def due(self, when: datetime, grace_min: int) -> Slot | None:
        """The slot whose window ``[scheduled, scheduled + grace]`` contains ``when``, if any."""
        slot = self.latest_at_or_before(when)
        if slot is None or when > slot.scheduled + timedelta(minutes=grace_min):
            return None
        return slot
