"""Crash recovery: ``pumpctl run`` killed with SIGKILL in the middle of a pulse, then restarted.

The pump (pumpsim, on a real pty) finishes the bounded bolus on its own; the restarted daemon
verifies its journal, reconciles the interrupted pulse from the pump's totals before anything
else, and never sends it again. The ledger is the judge.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.journal.verify import verify
from tests.e2e.harness import (
    DaemonProcess,
    Pumpsim,
    journal_events,
    slot_time,
    wait_until,
    write_config,
)

# Slow enough that a 60 s bolus lasts half a real second: time to kill the daemon inside it.
SCALE = 120.0
pytestmark = pytest.mark.timeout(120)


def test_sigkill_mid_pulse_then_restart_reconciles_without_second_delivery(
    tmp_path: Path,
) -> None:
    """SR-08, SR-09: after SIGKILL during a pulse the restarted daemon's journal verifies, the
    pending pulse is reconciled from pump evidence (DELIVERED, 10 uL) and the ledger shows the
    pulse delivered once: no second start in its slot window or after."""
    sim = Pumpsim(tmp_path, scale=SCALE)
    config = write_config(tmp_path, sim.link, anchor=sim.start + timedelta(minutes=6))
    first = DaemonProcess(config, scale=SCALE)
    second: DaemonProcess | None = None
    try:
        first.wait_ready()
        slot = first.wait_event("pulse.intent", 30)["slot_id"]
        wait_until(lambda: sim.state()["status"] == "I", 10, "the pump to infuse")
        first.kill()
        assert sim.state()["status"] == "I"  # killed mid-bolus: the pump is still infusing
        second = DaemonProcess(config, scale=SCALE, log_name="daemon2.log")
        reconciled = second.wait_event("pulse.reconciled", 30)
        assert reconciled["slot_id"] == slot
        assert reconciled["outcome"] == "DELIVERED"
        second.wait_ready()
        # Stay past the interrupted slot's grace window: it must not be started again.
        wait_until(
            lambda: sim.state()["now"] > (slot_time(slot) + timedelta(minutes=12)).isoformat(),
            30,
            "the slot's window to close",
        )
    finally:
        first.close()
        if second is not None:
            second.stop()
            second.close()
        sim.close()
    assert verify(second.journal_path).ok
    starts = sim.starts()
    assert len(starts) == 1
    motions = sim.motions()
    assert len(motions) == 1
    assert motions[0]["cause"] == "target-reached"  # the pump finished the bounded bolus itself
    assert Decimal(str(motions[0]["volume_ul"])) == Decimal(10)
    events = journal_events(second.journal_path)
    intents = [e["payload"]["slot_id"] for e in events if e["kind"] == "pulse.intent"]
    assert intents == [slot]
    # The restarted daemon met the slot again inside its window: not recorded MISSED either.
    assert slot not in [e["payload"]["slot_id"] for e in events if e["kind"] == "slot.missed"]
    kinds = [e["kind"] for e in events]
    restart = kinds.index("daemon.start", kinds.index("pulse.intent"))
    after = kinds[restart:]
    # Reconciled before the restarted daemon judged any slot.
    assert "pulse.reconciled" in after
    if "gate.decision" in after:
        assert after.index("pulse.reconciled") < after.index("gate.decision")
