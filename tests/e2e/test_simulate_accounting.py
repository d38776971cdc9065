"""``pumpctl simulate`` sees what moved: unexplained flow is reported, volume the journal does not
account for is an invariant violation, and pulses the pump cannot be given fail the run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.invariants import check_volume_accounted
from pumpctl.simulation import Simulation, SimulationOptions, SimulationSummary, default_config
from pumpctl.watch import FlowLedger

pytestmark = pytest.mark.timeout(240)

#: A pump that starts on its own 50 min 50 s into the simulation, between two pulses and off the
#: daemon's 200 s heartbeat (a start on a reading is stopped before it moves anything).
SPONTANEOUS = "spontaneous-start@t=3050"


def step(_volume: Decimal) -> Decimal:
    return Decimal("0.01")


def test_the_ledger_must_be_accounted_for_by_the_journal() -> None:
    """SR-26: the plunger's travel beyond the journal's pulses and flows, by more than one step
    of the printed totals per record, is a violation; within it, none."""
    events = [
        ("pulse.intent", {"slot_id": "S1", "volume_ul": "10"}),
        ("pulse.outcome", {"slot_id": "S1", "delivered_volume_ul": "10.00"}),
        ("pulse.intent", {"slot_id": "S2", "volume_ul": "10"}),  # pending: counted in full
        ("flow.unexplained", {"volume_ul": "0.27"}),
    ]
    assert check_volume_accounted(Decimal("20.28"), events, step_ul=step) == []
    assert check_volume_accounted(Decimal("20.30"), events, step_ul=step) == []
    (problem,) = check_volume_accounted(Decimal("20.31"), events, step_ul=step)
    assert "0.04 uL moved that the journal does not account for" in problem


def test_simulate_reports_unexplained_flow_and_accounts_for_it(tmp_path: Path) -> None:
    """SR-26: a pump starting on its own between pulses shows in the summary (how often, how
    much) and every microlitre the plunger moved is in the journal: the invariants hold."""
    sim = Simulation(
        default_config(),
        tmp_path / "flow.sqlite3",
        SimulationOptions(days=0.25, faults=[SPONTANEOUS]),
    )
    summary = sim.run()
    assert summary.flows == 1 and summary.flow_ul > 0
    assert any(line.startswith("unexplained flow: 1 found") for line in summary.lines())
    assert summary.alarms["unexplained-flow"] == 1
    assert summary.ok, summary.lines()


def test_simulate_fails_when_flow_goes_unseen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SR-26: with the daemon blind to unexplained flow (its judgement patched away) the same
    spontaneous start is caught by the ledger check: invariants VIOLATED, exit non-zero."""
    monkeypatch.setattr(FlowLedger, "judge", lambda self, infused_ul, **_kw: None)
    sim = Simulation(
        default_config(),
        tmp_path / "blind.sqlite3",
        SimulationOptions(days=0.25, faults=[SPONTANEOUS]),
    )
    summary = sim.run()
    assert summary.flows == 0
    assert not summary.ok
    assert any("does not account for" in v for v in summary.violations)
    assert any("VIOLATED" in line for line in summary.lines())


def summary_with(outcomes: dict[str, int], alarms: dict[str, int]) -> SimulationSummary:
    return SimulationSummary(
        days=1,
        start=datetime(2026, 1, 4, 6, 55, tzinfo=UTC),
        end=datetime(2026, 1, 5, 6, 55, tzinfo=UTC),
        timezone="UTC",
        slots=16,
        outcomes=Counter(outcomes),
        alarms=Counter(alarms),
        flows=0,
        flow_ul=Decimal(0),
        physical_starts=outcomes.get("DELIVERED", 0),
        ledger_infused_ul=Decimal(0),
        faults_injected=Counter(),
        violations=[],
        journal_path=Path("j.sqlite3"),
        chain_ok=True,
        head_seq=1,
    )


def test_pulses_refused_at_run_time_fail_the_simulation() -> None:
    """A pulse refused because the pump cannot be told it, or stopped in time, fails the run with
    its reason, even when the invariants held (what fails here fails on the bench)."""
    summary = summary_with({"DELIVERED": 10, "MISSED": 2}, {"overshoot-unbounded": 2})
    assert not summary.ok
    assert "refused at run time: overshoot-unbounded 2" in "\n".join(summary.lines())


def test_a_therapy_without_one_delivered_pulse_fails() -> None:
    """Slots came due and none was delivered: the run fails and says so."""
    summary = summary_with({"MISSED": 5, "DENIED": 5}, {"missed-pulse": 5})
    assert not summary.ok
    assert summary.lines()[-1].startswith("therapy: FAILED")
    assert summary_with({"DELIVERED": 1}, {}).ok
