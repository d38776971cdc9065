"""assemble() builds every daemon from its configuration, and reconciliation acts on the policy's
decision against the in-process simulator (real wire bytes, virtual clock)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.config import parse_config_text
from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.assemble import assemble
from pumpctl.daemon.waiting import VirtualWaker
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.errors import ConfigError
from pumpctl.journal import EventKind, Journal
from pumpctl.simulator.ledger import Ledger
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.session import Ne1000Simulator
from tests.daemon.harness import CONFIG, START, make_bench

SLOT_1 = START + timedelta(minutes=5)

TIME_OF_DAY = (
    CONFIG.replace('anchor = "2026-03-02T08:00:00+00:00"', 'anchor = "08:00"')
    .replace("address = 0\n", "")
    .replace("safe_mode_timeout_s = 30", "safe_mode_timeout_s = 45\naddress = 7")
)


def test_driver_settings_heartbeat_and_syringe_come_from_the_configuration(tmp_path: Path) -> None:
    """The driver gets the configured address and safe-mode period, the self-test the configured
    diameter, and the loop heartbeats three times per watchdog period."""
    config = parse_config_text(TIME_OF_DAY, now=START)
    clock = VirtualClock(START, elapsed_s=100.0)
    sim = Ne1000Simulator(clock, address=7, ledger=Ledger())
    with Journal(tmp_path / "j.sqlite3", clock) as journal:
        daemon = assemble(
            config,
            clock=clock,
            waker=VirtualWaker(clock),
            journal=journal,
            transport=LoopbackTransport(sim),
        )
        driver = daemon.driver
        assert isinstance(driver, Ne1000Driver)
        assert (driver.address, driver.safe_mode_timeout_s) == (7, 45)
        assert daemon.options.syringe_diameter_mm == Decimal("4.78")
        assert daemon.options.heartbeat_s == 15.0
        assert daemon.options.poll_interval_s == 2.0
        # The pump at address 7 answers, and the self-test reads SAF 45 back (SR-13).
        daemon.start()
        assert daemon.pump_ready


def test_a_heartbeat_outside_the_watchdog_period_is_refused(tmp_path: Path) -> None:
    """SR-14: no environment may heartbeat less often than the pump's watchdog period, which
    would let the pump stop itself under a live daemon."""
    config = parse_config_text(CONFIG)
    clock = VirtualClock(START)
    with Journal(tmp_path / "j.sqlite3", clock) as journal, pytest.raises(ConfigError) as info:
        assemble(config, clock=clock, waker=VirtualWaker(clock), journal=journal, heartbeat_s=30)
    assert "safe_mode_timeout_s=30" in str(info.value)


def test_a_time_of_day_anchor_keeps_the_journaled_cadence_across_restarts(tmp_path: Path) -> None:
    """SR-21: the same configuration read on a later day keeps the anchor the journal follows,
    and journals no prescription change; the first fill is recorded once."""
    path = tmp_path / "j.sqlite3"
    clock = VirtualClock(START)
    first = parse_config_text(TIME_OF_DAY, now=START)
    with Journal(path, clock) as journal:
        daemon = assemble(first, clock=clock, waker=VirtualWaker(clock), journal=journal)
        anchor = daemon.prescription.anchor
    later = parse_config_text(TIME_OF_DAY, now=START + timedelta(days=3))
    assert later.prescription.anchor != anchor
    with Journal(path, clock) as journal:
        daemon = assemble(later, clock=clock, waker=VirtualWaker(clock), journal=journal)
        assert daemon.prescription.anchor == anchor
        assert len(journal.events(kinds=(EventKind.PRESCRIPTION_CHANGE,))) == 1
        fills = journal.events(kinds=(EventKind.RESERVOIR_CHANGED,))
        assert [Decimal(e.payload["volume_ul"]) for e in fills] == [Decimal(1000)]


def test_a_pump_still_running_at_reconciliation_is_stopped_and_settled_once_still(
    tmp_path: Path,
) -> None:
    """SR-06, SR-09: after a crash mid-pulse, a pump found still infusing past the pulse's end
    is stopped and delivery suspended; the pulse is settled from the stopped pump's totals and
    never sent again."""
    bench = make_bench(tmp_path, faults=("runaway@0.5",))

    class Crash(BaseException):
        pass

    transport = bench.daemon.driver._given_transport  # type: ignore[attr-defined]
    original = transport.write

    def write(data: bytes) -> None:
        original(data)
        if b"RUN" in data:
            raise Crash

    transport.write = write  # type: ignore[method-assign]
    bench.daemon.start()
    with pytest.raises(Crash):
        bench.run_until(SLOT_1 + timedelta(minutes=5))
    bench.clock.advance(5)  # restarted well inside the pump's 30 s watchdog
    bench.journal.close()

    restarted = make_bench(tmp_path, clock=bench.clock, sim=bench.sim, ledger=bench.ledger)
    restarted.daemon.start()
    assert "unintended-flow" in restarted.daemon.safety_suspended
    assert restarted.journal.pending_pulses()  # not settled from a moving pump
    restarted.run_for(30)
    settled = restarted.journal.events(kinds=(EventKind.PULSE_RECONCILED,))
    assert [e.payload["source"] for e in settled] == ["pump"]
    assert not restarted.journal.pending_pulses()
    assert len(restarted.starts()) == 1
    ends = [e for e in restarted.ledger.entries if e["event"] == "motion.end"]
    assert [e["cause"] for e in ends] == ["stop-command"]
    # Stopped once the pulse's duration (60 s) and the settling margin (30 s) had passed since
    # the restart 5 s after RUN, within one poll.
    assert ends[0]["elapsed_end_s"] - ends[0]["elapsed_start_s"] <= 5 + 60 + 30 + 2
