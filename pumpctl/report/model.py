"""The report's data: every fact a clinician reads, computed once and rendered by each format.

HTML, CSV, JSON and FHIR all render one :class:`Report`, so the formats cannot disagree.
Doses are exact ``Decimal`` micrograms; times are timezone-aware UTC; intervals are minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

#: Bump when a JSON field changes meaning or disappears; adding a field keeps the number.
REPORT_SCHEMA = "pumpctl.report/1"

#: Slot categories, in the order tables show them. ``open``: scheduled, not yet due or decided.
CATEGORIES = (
    "delivered",
    "partial",
    "over-delivered",
    "not-delivered",
    "missed",
    "denied",
    "uncertain",
    "open",
)

NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class Integrity:
    """The journal's chain verdict (``pumpctl log verify``), stated at the top of every report."""

    ok: bool
    records: int
    head_seq: int | None
    head_hash: str | None
    problem: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        if not self.ok:
            return f"TAMPERED OR DAMAGED: {self.problem}"
        if self.head_seq is None:
            return "chain verified (empty journal)"
        return f"chain verified: {self.records} records, head #{self.head_seq} {self.head_hash}"


@dataclass(frozen=True)
class Change:
    """A journaled change of prescription or limits (SR-21): who, when, old → new, why."""

    seq: int
    when: datetime
    what: str  # "prescription" or "limits"
    who: str
    why: str
    old: dict[str, Any] | None
    new: dict[str, Any]


class SlotRow(NamedTuple):
    """One scheduled slot and what became of it (a tuple: years of slots build fast)."""

    slot_id: str
    scheduled: datetime | None
    category: str
    outcome: str  # the journal export's raw outcome (DELIVERED, PARTIAL, PENDING, DENIED, ...)
    prescribed_dose_ug: Decimal | None
    delivered_dose_ug: Decimal | None
    requested_volume_ul: Decimal | None
    delivered_volume_ul: Decimal | None
    started: datetime | None
    ended: datetime | None
    reasons: tuple[str, ...]
    resolved_by: str | None
    alarm_codes: tuple[str, ...]


@dataclass
class DayRow:
    """Per-day counts and doses; the period total uses the same shape (``day`` None)."""

    day: date | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    denied_by_reason: dict[str, int] = field(default_factory=dict)
    missed_by_reason: dict[str, int] = field(default_factory=dict)
    delivered_dose_ug: Decimal = Decimal(0)
    prescribed_dose_ug: Decimal = Decimal(0)

    @property
    def scheduled(self) -> int:
        return sum(self.counts.values())

    @property
    def adherence_pct(self) -> Decimal | None:
        """Slots delivered in full over slots that were due (open ones are not yet due)."""
        due = self.scheduled - self.counts["open"]
        if due == 0:
            return None
        return (Decimal(100) * self.counts["delivered"] / due).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class Intervals:
    """Intervals between the starts of pulses that moved fluid (delivered in full or partly)."""

    count: int
    median_min: float | None
    p5_min: float | None
    p95_min: float | None
    min_min: float | None
    longest_gap_min: float | None
    longest_gap_from: datetime | None
    longest_gap_to: datetime | None
    min_interval_limit_min: int
    below_limit: tuple[tuple[str, str, float], ...]  # (earlier slot, later slot, minutes)


@dataclass(frozen=True)
class AlarmRow:
    """One alarm from raised to cleared, with its acknowledgement (SR-22)."""

    alarm_id: str
    code: str
    priority: str
    message: str
    raised: datetime
    slot_id: str | None = None
    acknowledged: datetime | None = None
    acknowledged_by: str | None = None
    acknowledge_note: str | None = None
    silenced_by: str | None = None
    silenced_until: str | None = None
    cleared: datetime | None = None
    cleared_why: str | None = None


@dataclass(frozen=True)
class Suspension:
    """Delivery suspended by an operator or by the daemon, until resumed (None: still)."""

    started: datetime
    who: str
    reason: str
    ended: datetime | None = None
    resumed_by: str | None = None
    resume_reason: str | None = None


@dataclass(frozen=True)
class Exposure:
    """The model's predicted plasma level (SR-05) and the gate's threshold on the same scale."""

    reference_peak_pg_per_ml: float | None
    threshold_fraction: float
    times: tuple[datetime, ...]
    levels_pg_per_ml: tuple[float, ...]
    max_level_pg_per_ml: float | None
    max_pre_pulse_fraction: float | None
    pre_pulse_above_threshold: int

    @property
    def threshold_pg_per_ml(self) -> float | None:
        if self.reference_peak_pg_per_ml is None:
            return None
        return self.threshold_fraction * self.reference_peak_pg_per_ml


@dataclass(frozen=True)
class Report:
    """Everything a report says, for one journal and one period."""

    journal_path: str
    generated: datetime
    period_from: datetime | None
    period_to: datetime | None
    timezone: str
    subject: dict[str, Any] | None
    pump: dict[str, Any] | None
    daemon_starts: tuple[dict[str, Any], ...]
    integrity: Integrity
    prescription_in_force: dict[str, Any] | None
    limits_in_force: dict[str, Any] | None
    changes: tuple[Change, ...]
    slots: tuple[SlotRow, ...]
    days: tuple[DayRow, ...]
    total: DayRow
    intervals: Intervals
    alarms: tuple[AlarmRow, ...]
    suspensions: tuple[Suspension, ...]
    exposure: Exposure
    #: Each pulse's predicted level at its start over its own single-pulse peak, by slot id.
    pre_pulse_fractions: dict[str, float] = field(default_factory=dict)

    @property
    def has_data(self) -> bool:
        return bool(self.slots or self.alarms or self.suspensions)
