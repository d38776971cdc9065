"""What the journal says about when a pulse started, held against the simulator's ledger."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from pumpctl.simulator.loopback import LoopbackTransport
from tests.daemon.harness import START, make_bench

SLOT_1 = START + timedelta(minutes=5)
SLOT_2 = SLOT_1 + timedelta(minutes=90)


def test_the_started_record_follows_the_motion_it_confirms(tmp_path: Path) -> None:
    """SR-02: pulse.run is journaled before the plunger moves, pulse.started after it moved."""
    bench = make_bench(tmp_path)
    transport = bench.daemon.driver._given_transport  # type: ignore[attr-defined]
    assert isinstance(transport, LoopbackTransport)
    write = transport.write

    def slow_write(data: bytes) -> None:
        bench.clock.advance(0.04)  # the command is on the wire
        write(data)
        bench.clock.advance(0.03)  # the answer comes back

    transport.write = slow_write  # type: ignore[method-assign]
    bench.daemon.start()
    bench.run_until(SLOT_2 + timedelta(minutes=5))
    motions = [datetime.fromisoformat(s["at"]) for s in bench.starts()]
    runs = [e.wall for e in bench.journal.events(kinds=("pulse.run",))]
    started = [e.wall for e in bench.journal.events(kinds=("pulse.started",))]
    assert len(motions) == len(runs) == len(started) == 2
    for run, motion, confirmed in zip(runs, motions, started, strict=True):
        assert run < motion <= confirmed
        assert confirmed - motion == timedelta(seconds=0.03)


def test_no_started_record_when_run_is_not_answered(tmp_path: Path) -> None:
    """A RUN whose answer is lost leaves no pulse.started: the outcome bounds the start instead."""
    bench = make_bench(tmp_path)
    transport = bench.daemon.driver._given_transport  # type: ignore[attr-defined]
    write = transport.write

    def lose_run_answer(data: bytes) -> None:
        write(data)
        if b"RUN" in data:
            transport.reset_input_buffer()

    transport.write = lose_run_answer  # type: ignore[method-assign]
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert len(bench.starts()) == 1
    assert bench.journal.events(kinds=("pulse.started",)) == []
    [record] = bench.journal.pulse_history(SLOT_1 - timedelta(hours=1))
    [outcome] = bench.journal.events(kinds=("pulse.outcome",))
    assert record.started is not None and record.started.wall == outcome.wall


def test_a_heartbeat_that_straddles_a_slot_does_not_delay_it_by_a_heartbeat(
    tmp_path: Path,
) -> None:
    """SR-10: a tick that begins just before a slot and ends after it ticks again at once."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(milliseconds=1))
    check = bench.daemon.pump_watch.check

    def slow_check() -> None:
        check()
        bench.clock.advance(0.02)  # the heartbeat's round trip crosses the slot's time

    bench.daemon.pump_watch.check = slow_check  # type: ignore[method-assign]
    assert bench.daemon.tick() == 0.0
    bench.daemon.tick()
    [start] = bench.starts()
    assert datetime.fromisoformat(start["at"]) - SLOT_1 < timedelta(seconds=0.1)
