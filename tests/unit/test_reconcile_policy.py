"""The reconciliation policy over every combination of evidence: when the pump's totals settle a
pending pulse, when the pump must be stopped first, and when only an operator can settle it."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.model import Outcome
from pumpctl.core.reconcile import (
    Action,
    Decision,
    PendingEvidence,
    classify_delivery,
    decide_pending,
)

REQUESTED = Decimal(10)
#: Nothing, a partial bolus, just enough, the full bolus, and more than commanded.
VOLUMES = (Decimal(0), Decimal("0.010"), Decimal("8.999"), Decimal(9), Decimal(10), Decimal(12))
RESET_FIELDS = (
    "reset_reported_now",
    "reset_seen_before_start",
    "reset_journaled_since_intent",
    "totals_marked_untrusted",
)


def every_still_evidence() -> list[PendingEvidence]:
    """Every combination of journal facts and reset evidence, for each volume, pump still."""
    cases = []
    for run, *resets in itertools.product((False, True), repeat=1 + len(RESET_FIELDS)):
        for volume in VOLUMES:
            cases.append(
                PendingEvidence(
                    still_moving=False,
                    infused_ul=volume,
                    run_journaled=run,
                    **dict(zip(RESET_FIELDS, resets, strict=True)),
                )
            )
    return cases


STILL = every_still_evidence()


def decide(evidence: PendingEvidence) -> Decision:
    return decide_pending(REQUESTED, evidence)


@pytest.mark.parametrize("infused", [None, *VOLUMES])
@pytest.mark.parametrize("resets", list(itertools.product((False, True), repeat=4)))
def test_a_pump_still_moving_is_stopped_and_delivery_suspended(
    infused: Decimal | None, resets: tuple[bool, ...]
) -> None:
    """SR-06: whatever else is known, a pump moving after the pulse's time is stopped first,
    with the unintended-flow alarm, and the pulse is not settled from totals still changing."""
    evidence = PendingEvidence(
        still_moving=True,
        infused_ul=infused,
        run_journaled=True,
        **dict(zip(RESET_FIELDS, resets, strict=True)),
    )
    decision = decide(evidence)
    assert decision.action is Action.STOP_AND_SUSPEND
    assert decision.alarm is AlarmKind.UNINTENDED_FLOW
    assert decision.outcome is None


@pytest.mark.parametrize("evidence", STILL, ids=str)
def test_zero_totals_a_reset_may_have_cleared_never_settle_a_pulse_whose_run_went_out(
    evidence: PendingEvidence,
) -> None:
    """SR-09: after RUN, zero totals with any sign of a reset leave the pulse UNCERTAIN with the
    uncertain-pulse alarm; in every other case the pump's totals settle it."""
    decision = decide(evidence)
    untrusted = (
        evidence.run_journaled
        and evidence.infused_ul == 0
        and any(getattr(evidence, name) for name in RESET_FIELDS)
    )
    if untrusted:
        assert decision.action is Action.AWAIT_OPERATOR
        assert decision.alarm is AlarmKind.UNCERTAIN_PULSE
        assert decision.outcome is None and decision.delivered_volume_ul is None
    else:
        assert decision.action is Action.SETTLE
        assert decision.alarm is None


@pytest.mark.parametrize("evidence", STILL, ids=str)
def test_a_settled_pulse_carries_the_measured_volume_and_the_outcome_it_proves(
    evidence: PendingEvidence,
) -> None:
    """SR-09, SR-07, SR-25: a pulse settled from the pump records exactly the pump's infused
    total: NOT_DELIVERED for nothing, PARTIAL below 90 % of the request, OVER_DELIVERED above the
    request by more than the totals' step (here 0), DELIVERED otherwise."""
    decision = decide(evidence)
    if decision.action is not Action.SETTLE:
        return
    assert decision.delivered_volume_ul == evidence.infused_ul
    assert evidence.infused_ul is not None
    if evidence.infused_ul == 0:
        assert decision.outcome is Outcome.NOT_DELIVERED
    elif evidence.infused_ul < Decimal(9):
        assert decision.outcome is Outcome.PARTIAL
    elif evidence.infused_ul > REQUESTED:
        assert decision.outcome is Outcome.OVER_DELIVERED
    else:
        assert decision.outcome is Outcome.DELIVERED


@pytest.mark.parametrize(
    ("infused", "tolerance", "expected"),
    [
        (Decimal("10.01"), Decimal("0.01"), Outcome.DELIVERED),
        (Decimal("10.02"), Decimal("0.01"), Outcome.OVER_DELIVERED),
        (Decimal("10.1"), Decimal("0.1"), Outcome.DELIVERED),
        (Decimal("10.2"), Decimal("0.1"), Outcome.OVER_DELIVERED),
    ],
)
def test_over_delivery_is_judged_beyond_the_step_of_the_pump_totals(
    infused: Decimal, tolerance: Decimal, expected: Outcome
) -> None:
    """SR-25: a reconciled pulse whose totals exceed the request by more than one printed step
    of the pump's totals settles OVER_DELIVERED, with the measured volume; one step is the
    pump's rounding, not over-delivery."""
    evidence = PendingEvidence(
        still_moving=False, infused_ul=infused, run_journaled=True, tolerance_ul=tolerance
    )
    decision = decide(evidence)
    assert decision.outcome is expected
    assert decision.delivered_volume_ul == infused


def test_without_run_zero_totals_prove_nothing_moved_even_after_a_reset() -> None:
    """A pulse whose RUN was never journaled is NOT_DELIVERED on zero totals, reset or not."""
    evidence = PendingEvidence(
        still_moving=False,
        infused_ul=Decimal(0),
        run_journaled=False,
        reset_reported_now=True,
        totals_marked_untrusted=True,
    )
    decision = decide(evidence)
    assert (decision.action, decision.outcome) == (Action.SETTLE, Outcome.NOT_DELIVERED)


def test_totals_above_zero_stand_after_a_reset() -> None:
    """A pump that reset but still reports a volume above zero is believed: a reset clears
    totals, it does not invent them."""
    evidence = PendingEvidence(
        still_moving=False,
        infused_ul=Decimal("4.5"),
        run_journaled=True,
        reset_reported_now=True,
    )
    decision = decide(evidence)
    assert (decision.action, decision.outcome) == (Action.SETTLE, Outcome.PARTIAL)


def test_a_still_pump_whose_totals_were_not_read_is_refused() -> None:
    """Deciding for a still pump without its totals is a caller's error, not a guess."""
    with pytest.raises(ValueError, match="infused_ul"):
        decide(PendingEvidence(still_moving=False, infused_ul=None, run_journaled=True))


@given(
    requested=st.decimals(min_value="0.001", max_value="1000", places=3),
    infused=st.decimals(min_value="0", max_value="2000", places=3),
    run=st.booleans(),
)
def test_settled_outcome_is_the_journal_classification(
    requested: Decimal, infused: Decimal, run: bool
) -> None:
    """With no reset evidence the decision settles with the same classification the journal
    and the delivery transaction use, for any requested and measured volume."""
    decision = decide_pending(
        requested, PendingEvidence(still_moving=False, infused_ul=infused, run_journaled=run)
    )
    assert decision.action is Action.SETTLE
    assert decision.outcome is classify_delivery(requested, infused)
    assert decision.delivered_volume_ul == infused
