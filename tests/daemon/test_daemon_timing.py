"""What the journal says about when a pulse started, held against the simulator's ledger."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pumpctl.simulator.loopback import LoopbackTransport
from tests.daemon.harness import RUN_COMMAND, START, make_bench

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
    """SR-10: a tick that begins just before a slot and ends after it ticks again at once.

    It begins before the armed slot's quiet window (20 ms here: the loopback's readings take
    no time), with a round trip slower than the window foresaw."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(milliseconds=50))
    check = bench.daemon.pump_watch.check

    def slow_check() -> None:
        check()
        bench.clock.advance(0.08)  # the heartbeat's round trip crosses the slot's time

    bench.daemon.pump_watch.check = slow_check  # type: ignore[method-assign]
    assert bench.daemon.tick() == 0.0
    bench.daemon.tick()
    [start] = bench.starts()
    assert datetime.fromisoformat(start["at"]) - SLOT_1 < timedelta(seconds=0.1)


@pytest.mark.parametrize("before", [timedelta(milliseconds=3), timedelta(microseconds=1)])
def test_a_tick_in_the_armed_slots_quiet_window_sends_nothing_and_run_waits_for_the_slot(
    tmp_path: Path, driver: str, before: timedelta
) -> None:
    """SR-10 SR-08: a wake-up just before an armed slot (a flow-watch reading or a heartbeat
    falling due, a control request, a sleep that returned early) starts no pump check: on a
    wire at 1x its round trip would hold the line past the slot and RUN would wait for it
    (issue 13's onset tail). The tick sleeps exactly to the slot; RUN is then the first thing
    sent, never before the slot's time (the minimum interval counts from it), and the check
    comes right after RUN."""
    bench = make_bench(tmp_path, driver=driver, wire_time=True)
    bench.daemon.start()
    bench.run_until(SLOT_1 - timedelta(seconds=1))
    assert bench.daemon.slots.armed_slot is not None
    transport = bench.daemon.driver._given_transport  # type: ignore[attr-defined]
    write = transport.write
    sent: list[tuple[datetime, bytes]] = []

    def logged(data: bytes) -> None:
        sent.append((bench.clock.now(), bytes(data)))
        write(data)

    transport.write = logged  # type: ignore[method-assign]
    bench.clock.advance_to(SLOT_1 - before)
    assert bench.daemon.tick() == before.total_seconds()
    assert sent == []
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    first_at, first = sent[0]
    assert RUN_COMMAND[driver] in first
    assert first_at == SLOT_1
    (intent,) = bench.journal.events(kinds=("pulse.intent",))
    assert intent.wall == SLOT_1
    (start,) = bench.starts()
    assert datetime.fromisoformat(start["at"]) > SLOT_1
    assert bench.journal.events(kinds=("pulse.outcome",))[0].payload["outcome"] == "DELIVERED"


def test_the_garbage_collector_is_held_off_from_the_slot_until_run(tmp_path: Path) -> None:
    """Issue 13: a full collection (~15 ms) never falls between an armed slot and RUN; the
    collector is back on for the bolus's first reading, and stays on."""
    bench = make_bench(tmp_path)
    transport = bench.daemon.driver._given_transport  # type: ignore[attr-defined]
    write = transport.write
    enabled: list[tuple[bytes, bool]] = []

    def logged(data: bytes) -> None:
        enabled.append((bytes(data), gc.isenabled()))
        write(data)

    transport.write = logged  # type: ignore[method-assign]
    assert gc.isenabled()
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    at_run = next(i for i, (data, _) in enumerate(enabled) if b"RUN" in data)
    assert [on for _, on in enabled[at_run : at_run + 2]] == [False, True]
    assert all(on for _, on in enabled[:at_run])
    assert gc.isenabled()
