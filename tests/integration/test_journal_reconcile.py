"""Reconciliation: intents without a final outcome are settled only on evidence (SR-09)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.journal import Journal

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def slot(slot_id: str) -> Slot:
    return Slot(slot_id, T0, 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A journal left by a daemon that crashed right after journaling an intent."""
    journal_path = tmp_path / "journal.db"
    with Journal(journal_path, VirtualClock(T0)) as j:
        j.record_intent(slot("done"))
        j.record_outcome("done", Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
        j.record_intent(slot("crashed"))
    return journal_path


@pytest.fixture
def journal(path: Path) -> Iterator[Journal]:
    clock = VirtualClock(T0 + timedelta(minutes=5), boot_id="after-crash")
    with Journal(path, clock) as j:
        yield j


def test_intent_without_outcome_is_pending_after_restart(journal: Journal) -> None:
    """SR-08: after a crash, an intent without outcome is listed as pending, never as failed."""
    [pending] = journal.pending_pulses()
    assert pending.slot_id == "crashed"
    assert pending.outcome is None and pending.pending


def test_pending_pulse_counts_as_fully_delivered_for_the_gate(journal: Journal) -> None:
    """SR-09: until settled, the gate's history shows the pulse pending and at its full dose."""
    history = journal.pulse_history(T0 - timedelta(hours=24))
    crashed = next(p for p in history if p.slot_id == "crashed")
    assert crashed.pending and crashed.counts_as_start
    assert crashed.counted_dose_ug == Decimal(5)


@pytest.mark.parametrize(
    ("measured", "expected"),
    [("50", Outcome.DELIVERED), ("20", Outcome.PARTIAL), ("0", Outcome.NOT_DELIVERED)],
)
def test_pump_evidence_settles_the_pulse(
    journal: Journal, measured: str, expected: Outcome
) -> None:
    """SR-09: the pump's measured volume settles the pulse with the outcome it proves."""
    outcome = journal.resolve_from_pump(
        "crashed", Decimal(measured), pump_status="stopped", evidence={"DIS": f"I{measured}W0"}
    )
    assert outcome is expected
    assert journal.pending_pulses() == []
    settled = next(p for p in journal.pulse_history(T0) if p.slot_id == "crashed")
    assert (settled.outcome, settled.delivered_volume_ul) == (expected, Decimal(measured))


def test_pump_still_moving_does_not_settle_the_pulse(journal: Journal) -> None:
    """SR-09: totals read while the pump still infuses are not evidence; the pulse stays pending."""
    with pytest.raises(ValueError, match="still moving"):
        journal.resolve_from_pump("crashed", Decimal(10), pump_status="infusing")
    assert [p.slot_id for p in journal.pending_pulses()] == ["crashed"]


def test_operator_acknowledgement_settles_as_delivered_by_default(journal: Journal) -> None:
    """SR-09: an operator's journaled acknowledgement settles the pulse, as delivered."""
    journal.acknowledge_uncertain("crashed", "op:alice", "pump replaced, totals lost")
    assert journal.pending_pulses() == []
    settled = next(p for p in journal.pulse_history(T0) if p.slot_id == "crashed")
    assert (settled.outcome, settled.delivered_volume_ul) == (Outcome.DELIVERED, Decimal(50))


@pytest.mark.parametrize(
    ("who", "reason", "outcome"),
    [
        ("", "checked", Outcome.DELIVERED),
        ("op:a", "", Outcome.DELIVERED),
        ("op:a", "x", Outcome.UNCERTAIN),
    ],
)
def test_acknowledgement_needs_who_why_and_a_final_outcome(
    journal: Journal, who: str, reason: str, outcome: Outcome
) -> None:
    """SR-09: an acknowledgement without who, why, or a final outcome is refused."""
    with pytest.raises(ValueError, match=r"allowed|names who"):
        journal.acknowledge_uncertain("crashed", who, reason, outcome=outcome)
    assert [p.slot_id for p in journal.pending_pulses()] == ["crashed"]


def test_uncertain_outcome_keeps_the_pulse_pending(journal: Journal) -> None:
    """SR-09: an UNCERTAIN outcome does not settle a pulse; it stays pending for reconciliation."""
    journal.record_outcome("crashed", Outcome.UNCERTAIN, delivered_volume_ul=None, detail="link")
    [pending] = journal.pending_pulses()
    assert pending.outcome is Outcome.UNCERTAIN and pending.pending


def test_settled_pulse_cannot_be_settled_again(journal: Journal) -> None:
    """A pulse already settled is not pending, so a second resolution is refused."""
    journal.resolve_from_pump("crashed", Decimal(50), pump_status="stopped")
    with pytest.raises(ValueError, match="no pending pulse"):
        journal.acknowledge_uncertain("crashed", "op:alice", "again")
