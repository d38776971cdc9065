"""Reservoir bookkeeping (SR-17): the recorded fill minus what the pump's totals say went out.

Pending (UNCERTAIN) pulses count with their full volume, like every other limit (SR-09), so the
estimate errs towards empty.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pumpctl.core.model import PulseRecord
from pumpctl.journal import EventKind, Journal


class Reservoir:
    """Remaining volume, or ``None`` while no fill has been recorded (then the gate denies)."""

    def __init__(self, fill_ul: Decimal | None = None, used_ul: Decimal = Decimal(0)) -> None:
        self.fill_ul = fill_ul
        self.used_ul = used_ul

    @property
    def remaining_ul(self) -> Decimal | None:
        if self.fill_ul is None:
            return None
        return self.fill_ul - self.used_ul

    def fill(self, volume_ul: Decimal) -> None:
        if volume_ul <= 0:
            raise ValueError(f"volume_ul = {volume_ul}: allowed a volume > 0 uL")
        self.fill_ul = volume_ul
        self.used_ul = Decimal(0)

    def used(self, volume_ul: Decimal) -> None:
        self.used_ul += volume_ul

    @classmethod
    def from_records(cls, fill_ul: Decimal | None, pulses: list[PulseRecord]) -> Reservoir:
        used = Decimal(0)
        for record in pulses:
            if record.pending or record.delivered_volume_ul is None:
                used += record.volume_ul
            else:
                used += record.delivered_volume_ul
        return cls(fill_ul, used)


def load_reservoir(journal: Journal) -> Reservoir:
    """The last recorded fill and every pulse since it, from the journal."""
    fill: Decimal | None = None
    since: datetime | None = None
    for event in journal.events(kinds=(EventKind.RESERVOIR_CHANGED,)):
        fill, since = Decimal(str(event.payload["volume_ul"])), event.wall
    if fill is None or since is None:
        return Reservoir()
    return Reservoir.from_records(fill, journal.pulse_history(since))
