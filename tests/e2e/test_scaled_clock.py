"""With ``--time-scale`` the journal's times are the simulator's: measured against its ledger.

pumpsim serves TCP and the daemon reaches it by ``socket://`` (whose close alone takes 0.3 s of
real time). For the first pulse the journal's ``pulse.run`` (written just before RUN) and
``pulse.started`` (written when the pump answered RUN) must bracket the ledger's motion start,
up to the clock-sync error: half the handshake's round trip, a few real milliseconds.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import bench, journal_events, slot_id

#: The most a handshake may take to count as a sync at all: generous for a loaded host, and
#: still 3x smaller than the 0.3 s lag of a clock anchored after closing the port.
SYNC_ERROR_S = 0.1
#: What reading two clocks in two processes adds to the journaled bound (the simulator's and
#: the daemon's clocks are read a moment apart from the event each records).
READ_SLACK_S = 0.005

#: Real seconds from pumpsim's start to the first slot.
LEAD_REAL_S = 10.0

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("scale", [600.0, 1440.0])
def test_journal_times_bracket_the_ledgers_motion_start(tmp_path: Path, scale: float) -> None:
    """SR-11, SR-19: the journal's run/started records fall around the plunger's real start."""
    # The first slot 10 s of real time after pumpsim's start, whatever the scale: a loaded host
    # may take seconds to start the daemon, and a slot gone by then is (rightly) missed.
    lead = timedelta(seconds=LEAD_REAL_S * scale)
    with bench(tmp_path, scale=scale, lead=lead, tcp=True) as (sim, daemon, a):
        daemon.wait_event("pulse.delivered", 30 + LEAD_REAL_S, lambda e: e["slot_id"] == slot_id(a))
        [motion] = sim.starts()
        runs = journal_events(daemon.journal_path, "pulse.run")
        started = journal_events(daemon.journal_path, "pulse.started")
        [daemon_start] = journal_events(daemon.journal_path, "daemon.start")
    assert daemon_start["payload"]["time_scale"] == scale  # reports scale their tolerance by it
    # The daemon journals its own bound: half the handshake's round trip, in real seconds.
    sync_error_s = daemon_start["payload"]["clock_sync_error_s"]
    assert 0 < sync_error_s < SYNC_ERROR_S
    error = timedelta(seconds=(sync_error_s + READ_SLACK_S) * scale)
    assert [e["payload"]["slot_id"] for e in started] == [slot_id(a)]
    run_wall, started_wall = runs[0]["wall"], started[0]["wall"]
    assert run_wall - error <= motion.started <= started_wall + error, (
        f"run {run_wall}, motion {motion.started}, started {started_wall} at {scale:g}x"
    )
