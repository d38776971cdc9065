"""The over-delivery paths at 1x: ``pumpctl run`` against a ``pumpsim`` process over a real pty,
both on the real clock, so the wire, the pty and the host's scheduling take their real time.

Faster-than-real benches cannot judge SR-25's bound: at 480x a simulated plunger moves 480 times
as far while a reading crosses the wire. These are the few real-time tests (each well under half
a minute): a runaway bolus, a pump starting on its own, a raw ``DIA`` from another client. The
simulator's ledger (what the plunger did) is the judge.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.harness import bench, journal_events, wait_until

pytestmark = pytest.mark.timeout(90)

#: 10 uL in 10 s (60 uL/min): a runaway moves 1 uL/s, and SR-25 allows 0.5 uL over.
SHORT_PULSE = {"prescription": {"pulse_duration_s": 10}}
BOUND_UL = Decimal("0.5")


def test_a_runaway_is_stopped_within_half_a_microlitre_at_1x(tmp_path: Path) -> None:
    """SR-25: over a real pty at 1x a pump that ignores its 10 uL volume is stopped by the
    daemon's STP within max(5 %, 0.5 uL) of the volume, by the simulator's ledger; the pulse is
    journaled OVER_DELIVERED with the measured volume and a high over-delivery alarm."""
    with bench(
        tmp_path,
        scale=1.0,
        lead=timedelta(seconds=12),
        faults=("runaway@run:1",),
        sections=SHORT_PULSE,
    ) as (sim, daemon, _):
        daemon.wait_event("pulse.intent", 30)
        outcome = daemon.wait_event("pulse.over_delivered", 30)
        daemon.wait_event("alarm.raised", 5, lambda e: e["kind"] == "over-delivery")
        (motion,) = sim.motions()
    moved = Decimal(str(motion["volume_ul"]))
    assert motion["cause"] == "stop-command"
    assert Decimal(10) < moved <= Decimal(10) + BOUND_UL
    assert abs(Decimal(outcome["delivered_ul"]) - moved) <= Decimal("0.01")
    (recorded,) = journal_events(daemon.journal_path, "pulse.outcome")
    assert recorded["payload"]["outcome"] == "OVER_DELIVERED"


def test_a_pump_starting_on_its_own_is_stopped_within_ten_seconds_at_1x(tmp_path: Path) -> None:
    """SR-26: between pulses, with the default 255 s safe-mode period (85 s heartbeats), a pump
    that starts on its own is stopped within 10 s of real time, its volume journaled as
    unexplained flow with a high alarm."""
    with bench(tmp_path, scale=1.0, lead=timedelta(minutes=30)) as (sim, daemon, _):
        sim.fault("spontaneous-start")
        daemon.wait_event("alarm.raised", 15, lambda e: e["kind"] == "unexplained-flow")
        (motion,) = sim.motions()
    starts = [e for e in sim.ledger() if e.get("event") == "motion.start"]
    assert starts[0]["cause"] == "spontaneous-start" and motion["cause"] == "stop-command"
    assert motion["elapsed_end_s"] - starts[0]["elapsed_s"] <= 10.0
    (flow,) = journal_events(daemon.journal_path, "flow.unexplained")
    assert flow["payload"]["where"] == "between pulses"
    assert abs(Decimal(flow["payload"]["volume_ul"]) - Decimal(str(motion["volume_ul"]))) <= (
        Decimal("0.01")
    )


def test_a_raw_dia_from_another_client_means_no_run_at_1x(tmp_path: Path) -> None:
    """SR-27, SR-31: a DIA20 sent to the pump by another client before the pulse shows in the
    read-back while arming: no intent, no RUN (the ledger has no motion), the settings-mismatch
    alarm names the diameter, and delivery is suspended."""
    with bench(tmp_path, scale=1.0, lead=timedelta(seconds=10), sections=SHORT_PULSE) as (
        sim,
        daemon,
        _,
    ):
        sim.fault("rogue,send=DIA20")
        alarm = daemon.wait_event("alarm.raised", 30, lambda e: e["kind"] == "settings-mismatch")
        assert "diameter" in alarm["detail"]
        refused = daemon.wait_event("pulse.refused", 5)
        assert "syringe diameter reads 20.00" in refused["detail"]
        # Status is a snapshot the loop refreshes at the end of its tick: ask until it has it.
        wait_until(
            lambda: (
                "settings-mismatch" in [a["id"] for a in daemon.control.request("status")["alarms"]]
            ),
            5.0,
            "status to show the settings-mismatch alarm",
        )
    assert sim.motions() == []
    kinds = [e["kind"] for e in journal_events(daemon.journal_path)]
    assert "pulse.run" not in kinds and "pulse.intent" not in kinds
    assert "delivery.suspended" in kinds
