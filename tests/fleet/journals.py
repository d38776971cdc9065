"""Signed host journals for the fleet tests, written through the real journal API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.journal import Journal
from pumpctl.journal.keyfile import SigningKey, attach_key

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Host:
    """One bench host: a state directory with its key and its signed journal."""

    def __init__(
        self,
        state_dir: Path,
        *,
        subject: str = "SUBJ-1",
        pump: str = "pump A",
        study: str = "STUDY-X",
        clock: VirtualClock | None = None,
        start: bool = True,
    ) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.path = state_dir / "journal.sqlite3"
        self.clock = clock or VirtualClock(T0, elapsed_s=100.0)
        self.journal = Journal(self.path, self.clock)
        self.key: SigningKey = attach_key(self.journal, state_dir)
        self.pulses = 0
        if not start:
            return
        self.journal.record_daemon_start(
            "0.1.0",
            "digest",
            identity={
                "subject": {"id": subject, "study": study},
                "pump": {"label": pump},
            },
        )

    @classmethod
    def reopen(cls, state_dir: Path) -> Host:
        """The host again after its daemon stopped, its clock an hour after the last record."""
        with Journal(state_dir / "journal.sqlite3", VirtualClock(T0)) as journal:
            last = journal.max_event_wall()
        assert last is not None
        return cls(state_dir, clock=VirtualClock(last + timedelta(hours=1)), start=False)

    def deliver(self, count: int) -> None:
        """``count`` delivered pulses, 90 minutes apart."""
        for _ in range(count):
            when = self.clock.now()
            slot = Slot(
                f"S{when:%Y%m%dT%H%M%SZ}",
                when,
                90,
                Decimal(10),
                Decimal(10),
                Decimal(10),
                Decimal(60),
            )
            self.journal.record_intent(slot)
            self.clock.advance(60)
            self.journal.record_outcome(
                slot.slot_id, Outcome.DELIVERED, delivered_volume_ul=Decimal(10)
            )
            self.clock.advance(90 * 60 - 60)
            self.pulses += 1

    def close(self) -> None:
        self.journal.close()
