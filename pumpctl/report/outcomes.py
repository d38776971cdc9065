"""The report's one outcome vocabulary: what became of a slot, defined once, mapped per format.

Every format names a slot's outcome with the same code (the journal's own spelling, e.g.
``NOT_DELIVERED``); what differs per format is only what this table maps the code to: the words
the HTML page prints, the FHIR ``MedicationAdministration.status``, the figure colour. Nothing else
in the report spells an outcome.

The journal export (``pumpctl log export``) folds the journal into one outcome per slot;
:func:`classify` maps that fold onto this vocabulary (a slot the gate kept refusing until its
window closed is ``DENIED``, a pulse with an intent and no outcome ``UNCERTAIN``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pumpctl.core.alarm_kinds import AlarmKind


class SlotOutcome(StrEnum):
    """What became of one scheduled slot, in the order every table and legend lists them."""

    DELIVERED = "DELIVERED"
    PARTIAL = "PARTIAL"
    OVER_DELIVERED = "OVER_DELIVERED"
    NOT_DELIVERED = "NOT_DELIVERED"
    UNCERTAIN = "UNCERTAIN"
    DENIED = "DENIED"
    MISSED = "MISSED"
    SCHEDULED = "SCHEDULED"


@dataclass(frozen=True)
class Term:
    """How one outcome reads and counts; the only place these facts are written down."""

    label: str  # the words the HTML and PDF print
    meaning: str  # one sentence for the report's legend and docs/reports.md
    fhir_status: str | None  # MedicationAdministration.status; None: not an administration
    colour: str  # figure colour, distinguishable in greyscale print too
    due: bool  # counts in adherence (everything whose time has come)
    moved: bool  # fluid moved: its start counts for intervals, its measured dose as delivered
    exposed: bool  # counted by the exposure model (uncertain ones at their full dose, SR-09)
    alert: bool  # a safety event: printed in red on the first page


_O = SlotOutcome

TERMS: dict[SlotOutcome, Term] = {
    _O.DELIVERED: Term(
        "delivered", "the full dose, as commanded", "completed", "#1b7837",
        due=True, moved=True, exposed=True, alert=False,
    ),
    _O.PARTIAL: Term(
        "partial", "less than commanded; the measured dose counts", "completed", "#e08214",
        due=True, moved=True, exposed=True, alert=False,
    ),
    _O.OVER_DELIVERED: Term(
        "over-delivered", "more than commanded; the measured dose counts", "completed",
        "#d6006e", due=True, moved=True, exposed=True, alert=True,
    ),
    _O.NOT_DELIVERED: Term(
        "not delivered", "commanded, the pump delivered nothing", "not-done", "#762a83",
        due=True, moved=False, exposed=False, alert=False,
    ),
    _O.UNCERTAIN: Term(
        "uncertain", "unknown whether fluid moved; counted in full for exposure, not as "
        "delivered", "unknown", "#000000", due=True, moved=False, exposed=True, alert=True,
    ),
    _O.DENIED: Term(
        "denied", "the safety gate refused it (reasons given)", "not-done", "#2166ac",
        due=True, moved=False, exposed=False, alert=False,
    ),
    _O.MISSED: Term(
        "missed", "its window closed without an attempt", "not-done", "#b2182b",
        due=True, moved=False, exposed=False, alert=False,
    ),
    _O.SCHEDULED: Term(
        "not yet due", "scheduled, its window not yet closed", None, "#bbbbbb",
        due=False, moved=False, exposed=False, alert=False,
    ),
}  # fmt: skip

#: Outcomes whose pulse moved fluid (intervals, delivered dose) and those the exposure model counts.
MOVED = frozenset(o for o, t in TERMS.items() if t.moved)
EXPOSED = frozenset(o for o, t in TERMS.items() if t.exposed)
#: Slots that received at least their full dose: the numerator of adherence.
FULL = frozenset((_O.DELIVERED, _O.OVER_DELIVERED))

#: Alarm codes that say a pulse moved more than it was commanded (SR-25). Unintended flow on a
#: slot (a pump still running) is not one by itself: the measured volume decides.
OVER_DELIVERY_ALARMS = frozenset((AlarmKind.OVER_DELIVERY,))

#: The code a CSV row and a FHIR administration carry for unexplained flow (SR-26): fluid no
#: pulse commanded, listed beside the slots (never one of them) under its ``flow-<seq>`` id.
UNEXPLAINED_FLOW = "UNEXPLAINED_FLOW"
UNEXPLAINED_FLOW_MEANING = (
    "fluid moved with no pulse commanded (SR-26); counted as received when found, at the volume "
    "the pump's totals showed"
)

#: The reason shown for an intent that never got an outcome (the daemon stopped mid-pulse).
NO_OUTCOME = "intent journaled, no outcome yet (settled from pump evidence at the next start)"
#: The reason shown for a missed slot whose record gives none.
NO_ATTEMPT = "no delivery attempt in its window"


def classify(
    export_outcome: str,
    *,
    gate_reasons: Sequence[str] = (),
    requested_volume_ul: Decimal | None = None,
    delivered_volume_ul: Decimal | None = None,
    alarm_codes: Sequence[str] = (),
) -> SlotOutcome:
    """The report's outcome of a slot from the journal export's fold of it.

    A pulse counts as over-delivered when the journal says so, when an over-delivery alarm
    names its slot, or when the pump measured more than was commanded: the report never prints
    a dose above the prescription as plainly delivered.
    """
    if export_outcome in ("DELIVERED", "PARTIAL", "OVER_DELIVERED"):
        over = (
            export_outcome == "OVER_DELIVERED"
            or any(code in OVER_DELIVERY_ALARMS for code in alarm_codes)
            or (
                requested_volume_ul is not None
                and delivered_volume_ul is not None
                and delivered_volume_ul > requested_volume_ul
            )
        )
        return _O.OVER_DELIVERED if over else SlotOutcome(export_outcome)
    if export_outcome in ("UNCERTAIN", "PENDING"):
        return _O.UNCERTAIN
    if export_outcome == "NOT_DELIVERED":
        return _O.NOT_DELIVERED
    if export_outcome == "DENIED" or (export_outcome == "MISSED" and gate_reasons):
        return _O.DENIED
    if export_outcome == "MISSED":
        return _O.MISSED
    return _O.SCHEDULED
