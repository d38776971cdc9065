"""The operator campaign (SR-28, SR-29, SR-30): a short form in every run, a long one on demand.

See :mod:`tests.reliability.operator_campaign` for what is interleaved and checked after every
step. ``pytest -m long tests/reliability/test_operator_campaign.py`` runs the long form; its
counts are in the campaign summary at the end of the run (operator_*).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.reliability.operator_campaign import OperatorCampaign

_COMMON: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck)}


def test_operator_campaign_short() -> None:
    """SR-29, SR-30: a few lives of interleaved operator actions, reloads, kills, pump faults and
    clock advance; replies, ledger, latched alarms and the journal checked after every step."""
    run_state_machine_as_test(
        OperatorCampaign, settings=settings(max_examples=20, stateful_step_count=30, **_COMMON)
    )


@pytest.mark.long
def test_operator_campaign_long() -> None:
    """The same campaign, long: many more lives and steps (run with `pytest -m long`)."""
    run_state_machine_as_test(
        OperatorCampaign, settings=settings(max_examples=200, stateful_step_count=60, **_COMMON)
    )
