"""``pumpctl simulate`` skips the loop's idle turns and changes nothing by it.

The same seeded simulation runs twice, every turn and with the idle skip; the journals (each
record's time, elapsed reading and payload, so the hash chain too), the simulator's ledgers
(every motion and fault, to the microsecond) and the summaries must be identical. The skip is
only worth having if it skips: each test also checks that most turns were skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from pumpctl.cli import main
from pumpctl.journal import Journal
from pumpctl.simulation import Simulation, SimulationOptions, default_config
from tests.e2e.harness import journal_events

pytestmark = pytest.mark.timeout(240)


def run(tmp_path: Path, name: str, options: SimulationOptions) -> tuple[Simulation, list[Any]]:
    sim = Simulation(default_config(), tmp_path / f"{name}.sqlite3", options)
    sim.run()
    with Journal(sim.journal_path, sim.clock) as journal:
        records = [
            (e.seq, e.kind, e.wall, e.elapsed_s, e.boot_id, e.payload, e.hash)
            for e in journal.events()
        ]
    return sim, records


def both_ways(tmp_path: Path, **options: Any) -> tuple[Simulation, list[Any]]:
    """Run with and without the skip; assert they agree; return the skipping run."""
    skipping, records = run(tmp_path, "skip", SimulationOptions(idle_skip=True, **options))
    every, every_records = run(tmp_path, "every", SimulationOptions(idle_skip=False, **options))
    assert every.skipped_turns == 0
    assert records == every_records
    assert skipping.ledger.entries == every.ledger.entries
    assert skipping.summary().lines()[2:] == every.summary().lines()[2:]  # [1] names the file
    # The skip did its work: most turns between pulses never ran.
    assert skipping.skipped_turns > 3 * skipping.turns
    assert skipping.turns + skipping.skipped_turns >= every.turns
    return skipping, records


@pytest.mark.parametrize(("driver", "seed"), [("ne1000", 1), ("harvard11", 2)])
def test_seeded_random_faults_give_the_same_journal_and_ledger_with_the_idle_skip(
    tmp_path: Path, driver: str, seed: int
) -> None:
    """SR-26, SR-22, SR-10: three days with a pump or link fault before every other pulse
    (spontaneous starts between pulses among them): delivered, partial, missed and denied
    counts, every alarm, every journal record (time and payload) and every physical motion are
    the same whether the loop runs every turn or skips the idle ones."""
    sim, records = both_ways(tmp_path, days=3, seed=seed, fault_rate=0.5, driver=driver)
    summary = sim.summary()
    assert summary.ok, summary.lines()
    assert sum(summary.faults_injected.values()) >= 15
    assert summary.faults_injected["spontaneous-start"] >= 1
    kinds = {r[1] for r in records}
    # The records whose times the skip could have moved are there to compare.
    assert {"flow.unexplained", "alarm.raised", "alarm.acknowledged", "slot.missed"} <= kinds


def fault_wall(sim: Simulation, kind: str) -> datetime:
    (entry,) = [e for e in sim.ledger.entries if e.get("event") == "fault" and e["kind"] == kind]
    return datetime.fromisoformat(str(entry["at"]))


@pytest.mark.parametrize("flow_watch_s", [5.0, None])
def test_a_spontaneous_start_between_pulses_is_found_as_soon_as_without_the_skip(
    tmp_path: Path, flow_watch_s: float | None
) -> None:
    """SR-26: a pump that starts on its own between two pulses (a fault armed for a time no
    turn knows of) is found by the first reading after it, with the skip as without: within
    SR-26's 10 s with the daemon's own 5 s watch, within the heartbeat with the default one."""
    sim, records = both_ways(
        tmp_path,
        days=0.3,
        faults=["spontaneous-start@t=7003.5"],
        flow_watch_s=flow_watch_s,
    )
    (flow,) = [r for r in records if r[1] == "flow.unexplained"]
    started = fault_wall(sim, "spontaneous-start")
    found_after_s = (flow[2] - started).total_seconds()
    bound_s = 10.0 if flow_watch_s is not None else sim.heartbeat_s
    assert 0 < found_after_s <= bound_s
    assert flow[5]["where"] == "between pulses"
    # The 5 s watch catches the pump moving (and stops it); the start moved one 60 s bolus,
    # over by the time a 200 s heartbeat reads it.
    assert flow[5]["moving"] is (flow_watch_s is not None)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The command configures structlog and the root logger for the process: undo it after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_simulate_every_turn_prints_and_journals_what_the_skip_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pumpctl simulate --every-turn` (no idle skip) gives the same summary and the same
    journal, record for record, as the default: anyone can check the skip on their own run."""
    outputs, journals = [], []
    for name, extra in (("skip", []), ("every", ["--every-turn"])):
        path = tmp_path / f"{name}.sqlite3"
        args = ["simulate", "--days", "2", "--seed", "5", "--fault-rate", "0.4", "-j", str(path)]
        assert main([*args, *extra]) == 0
        outputs.append(capsys.readouterr().out.replace(str(path), "JOURNAL"))
        journals.append([(e["kind"], e["wall"], e["payload"]) for e in journal_events(path)])
    assert outputs[0] == outputs[1]
    assert journals[0] == journals[1]
    assert "invariants: all held" in outputs[0]
