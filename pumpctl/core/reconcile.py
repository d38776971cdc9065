"""Reconciliation policy: what to do about a pulse whose intent has no final outcome.

Pure: the daemon gathers the evidence (the pump's status and totals, what the journal says
about the pulse) and carries out the decision; this module only decides. The rules (SR-06,
SR-09):

* A pump still moving after the pulse's time is stopped and delivery suspended; the pulse stays
  UNCERTAIN until the pump, now still, can be read.
* Zero totals prove that nothing moved only if RUN was never sent, or if nothing since the
  intent could have cleared them. After a power reset (or an alarm the driver cannot name) a
  pulse whose RUN went out and whose totals read zero stays UNCERTAIN until an operator who
  checked the syringe acknowledges it.
* Otherwise the pump's totals settle the pulse: the outcome they prove, with the measured volume.

Nothing here can ask for RUN again: a pending pulse is settled or waits, never re-sent (SR-08).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.model import Outcome

#: Below this fraction of the requested volume a pulse is PARTIAL (SR-07).
PARTIAL_BELOW_FRACTION = Decimal("0.9")


def classify_delivery(
    requested_volume_ul: Decimal,
    delivered_volume_ul: Decimal,
    *,
    tolerance_ul: Decimal = Decimal(0),
) -> Outcome:
    """The outcome the pump's measured volume proves: nothing, less than 90 %, the pulse, or
    more than the pulse by over ``tolerance_ul`` (the step of the pump's printed totals)."""
    if delivered_volume_ul < 0:
        raise ValueError(
            f"delivered_volume_ul = {delivered_volume_ul}: allowed a measured volume >= 0"
        )
    if delivered_volume_ul == 0:
        return Outcome.NOT_DELIVERED
    if delivered_volume_ul < requested_volume_ul * PARTIAL_BELOW_FRACTION:
        return Outcome.PARTIAL
    if delivered_volume_ul > requested_volume_ul + tolerance_ul:
        return Outcome.OVER_DELIVERED
    return Outcome.DELIVERED


class Action(StrEnum):
    """What the daemon does with one pending pulse."""

    #: The pump's totals prove the outcome: journal it with the measured volume.
    SETTLE = "settle"
    #: The pump still moves: stop it, suspend delivery (SR-06); settle once it is still.
    STOP_AND_SUSPEND = "stop-and-suspend"
    #: The totals prove nothing: the pulse stays UNCERTAIN until an operator acknowledges it.
    AWAIT_OPERATOR = "await-operator"


@dataclass(frozen=True)
class PendingEvidence:
    """Everything known about one pending pulse when the daemon reconciles it.

    ``infused_ul`` is the pump's infused total, ``None`` when it was not read (the pump was
    still moving). The reset fields say whether anything may have cleared the totals since the
    intent: an alarm the pump reports now, one reported before this daemon connected, one
    journaled by any run since the intent, or an outcome journaled with untrusted totals.
    """

    still_moving: bool
    infused_ul: Decimal | None
    run_journaled: bool
    reset_reported_now: bool = False
    reset_seen_before_start: bool = False
    reset_journaled_since_intent: bool = False
    totals_marked_untrusted: bool = False
    #: More than the pulse by over this settles it OVER_DELIVERED (the totals' printed step).
    tolerance_ul: Decimal = Decimal(0)

    @property
    def totals_may_be_cleared(self) -> bool:
        return (
            self.reset_reported_now
            or self.reset_seen_before_start
            or self.reset_journaled_since_intent
            or self.totals_marked_untrusted
        )


@dataclass(frozen=True)
class Decision:
    """The policy's answer; ``outcome`` and ``delivered_volume_ul`` only for ``SETTLE``."""

    action: Action
    why: str
    outcome: Outcome | None = None
    delivered_volume_ul: Decimal | None = None
    alarm: AlarmKind | None = None


def decide_pending(requested_volume_ul: Decimal, evidence: PendingEvidence) -> Decision:
    """Decide what to do with a pending pulse of ``requested_volume_ul`` given ``evidence``."""
    if evidence.still_moving:
        # Invariant (SR-06): a pump moving after the pulse's time is stopped before anything.
        return Decision(
            Action.STOP_AND_SUSPEND,
            "the pump is still moving after the pulse's time",
            alarm=AlarmKind.UNINTENDED_FLOW,
        )
    if evidence.infused_ul is None:
        raise ValueError("infused_ul = None: a still pump's totals must be read before deciding")
    if evidence.totals_may_be_cleared and evidence.run_journaled and evidence.infused_ul == 0:
        # Invariant (SR-09): zero totals a reset may have cleared never settle a pulse whose
        # RUN went out; only an operator who checked the syringe can.
        return Decision(
            Action.AWAIT_OPERATOR,
            "the pump lost power after RUN and its totals read 0",
            alarm=AlarmKind.UNCERTAIN_PULSE,
        )
    return Decision(
        Action.SETTLE,
        "pump totals",
        outcome=classify_delivery(
            requested_volume_ul, evidence.infused_ul, tolerance_ul=evidence.tolerance_ul
        ),
        delivered_volume_ul=evidence.infused_ul,
    )
