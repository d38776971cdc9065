"""Crash campaign: the daemon process SIGKILLed at every phase of a pulse, pumpsim power-reset.

The short form (default run) visits every phase once and power-resets pumpsim once; the long
form (``pytest -m long``) survives at least 200 kills and several pump restarts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import campaign_numbers
from tests.reliability.crash_campaign import CampaignResult, CrashCampaign
from tests.reliability.crashing_daemon import PHASES

# The two pump families' campaigns run one after the other on one worker. Run side by side on
# a busy 2-core host, a restarted daemon now and then fails its first read after the simulator
# handshake's reconnect ("device reports readiness to read but returned no data") and exits 1;
# that start-up failure is reported for investigation (it is not a kill the campaign planted).
pytestmark = pytest.mark.xdist_group("crash-campaign")


def run_and_check(
    workdir: Path, *, kills: int, seed: int, pump_restarts: int, driver: str
) -> CampaignResult:
    campaign = CrashCampaign(
        workdir, kills=kills, seed=seed, pump_restarts=pump_restarts, driver=driver
    )
    result = campaign.run()
    campaign_numbers.add("kills", result.kills_total)
    campaign_numbers.add("pump_restarts", result.pump_restarts)
    early = [v for v in result.violations if "apart" in v or "starts in the 24 h" in v]
    lost = [v for v in result.violations if "journal" in v and v not in early]
    campaign_numbers.add("double_deliveries", len(early))
    campaign_numbers.add("lost_records", len(lost))
    campaign_numbers.add("wrong_records", len(result.violations) - len(early) - len(lost))
    assert result.violations == []
    assert result.kills_total == kills
    assert result.pump_restarts == pump_restarts
    # Pulses really happened between the kills, and every one is accounted for in the journal.
    assert result.motions >= 1
    assert sum(result.tally.values()) == result.motions
    # Kills miss pulses, two in a row latch a high missed-pulse alarm across restarts (SR-22,
    # SR-30), and the campaign's operator acknowledges it: delivery must really resume after.
    if result.first_ack is not None:
        assert result.motions_after_first_ack >= 1, result.acks
    return result


@pytest.mark.timeout(240)
def test_crash_at_every_phase_loses_nothing_and_never_doubles(tmp_path: Path, driver: str) -> None:
    """SR-08 SR-02 SR-19: a SIGKILL per pulse phase, a pump power reset: journal matches ledger."""
    # Two lives more than phases and random: a phase whose slot does not come in time is tried
    # again (two arming phases made the list longer).
    result = run_and_check(tmp_path, kills=len(PHASES) + 5, seed=11, pump_restarts=1, driver=driver)
    # Each planted phase was really reached (a life whose phase never came counts as random).
    assert set(result.kills) == {*PHASES, "random"}


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_two_hundred_kills_lose_nothing_and_never_double(tmp_path: Path, driver: str) -> None:
    """SR-08 SR-09 SR-02 SR-03 SR-19: 210 SIGKILLs, 5 pump power resets; journal matches ledger."""
    result = run_and_check(tmp_path, kills=210, seed=2026, pump_restarts=5, driver=driver)
    assert result.motions >= 50
