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

#: Allowed real-time error of the daemon's scaled clock against pumpsim's: generous for a loaded
#: host, and still 6x smaller than the 0.3 s lag of a clock anchored after closing the port.
SYNC_ERROR_S = 0.05

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("scale", [600.0, 1440.0])
def test_journal_times_bracket_the_ledgers_motion_start(tmp_path: Path, scale: float) -> None:
    """SR-11, SR-19: the journal's run/started records fall around the plunger's real start."""
    with bench(tmp_path, scale=scale, lead=timedelta(minutes=30), tcp=True) as (sim, daemon, a):
        daemon.wait_event("pulse.delivered", 30, lambda e: e["slot_id"] == slot_id(a))
        [motion] = sim.starts()
        runs = journal_events(daemon.journal_path, "pulse.run")
        started = journal_events(daemon.journal_path, "pulse.started")
        [daemon_start] = journal_events(daemon.journal_path, "daemon.start")
    assert daemon_start["payload"]["time_scale"] == scale  # reports scale their tolerance by it
    error = timedelta(seconds=SYNC_ERROR_S * scale)
    assert [e["payload"]["slot_id"] for e in started] == [slot_id(a)]
    run_wall, started_wall = runs[0]["wall"], started[0]["wall"]
    assert run_wall - error <= motion.started <= started_wall + error, (
        f"run {run_wall}, motion {motion.started}, started {started_wall} at {scale:g}x"
    )
