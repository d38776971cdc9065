"""The report's data: every fact a clinician reads, computed once and rendered by each format.

HTML, PDF, CSV, JSON and FHIR all render one :class:`Report`, so the formats cannot disagree.
Doses are exact ``Decimal`` micrograms; times are timezone-aware UTC (each format shows them in
the prescription's zone with the UTC offset, or in UTC); intervals are minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from pumpctl.report.outcomes import FULL, TERMS, SlotOutcome
from pumpctl.report.words import decimal_text, fell_cause

#: Bump when a JSON field changes meaning or disappears; adding a field keeps the number.
REPORT_SCHEMA = "pumpctl.report/2"


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
    def head_text(self) -> str:
        """``#36 3fa2…`` or what stands in its place; never a placeholder."""
        if self.head_seq is not None and self.head_hash is not None:
            return f"#{self.head_seq} {self.head_hash}"
        if not self.ok:
            return "none: the chain does not verify, so no record can be vouched for"
        return "none: the journal has no records"

    @property
    def verdict(self) -> str:
        if not self.ok:
            return f"TAMPERED OR DAMAGED: {self.problem or 'the chain does not verify'}"
        if self.head_seq is None:
            return "chain verified (empty journal)"
        return f"chain verified: {self.records} records, head {self.head_text}"


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


class LinkedAlarm(NamedTuple):
    """An alarm whose journal record names a slot."""

    alarm_id: str
    code: str
    priority: str


class SlotRow(NamedTuple):
    """One scheduled slot and what became of it (a tuple: years of slots build fast)."""

    slot_id: str
    scheduled: datetime | None
    outcome: SlotOutcome
    prescribed_dose_ug: Decimal | None
    delivered_dose_ug: Decimal | None
    requested_volume_ul: Decimal | None
    delivered_volume_ul: Decimal | None
    started: datetime | None
    ended: datetime | None
    reasons: tuple[str, ...]
    resolved_by: str | None
    alarms: tuple[LinkedAlarm, ...]
    duration_s: Decimal | None = None


def _zero_counts() -> dict[SlotOutcome, int]:
    return dict.fromkeys(SlotOutcome, 0)


@dataclass
class Tally:
    """Counts and doses over ``days`` local days from ``start`` (None: the whole period)."""

    start: date | None
    days: int = 1
    counts: dict[SlotOutcome, int] = field(default_factory=_zero_counts)
    denied_by_reason: dict[str, int] = field(default_factory=dict)
    missed_by_reason: dict[str, int] = field(default_factory=dict)
    delivered_dose_ug: Decimal = Decimal(0)  # by pulses (slots), as the pump measured them
    prescribed_dose_ug: Decimal = Decimal(0)
    #: Unexplained flow found in the period (SR-26), and the dose of those of known volume.
    unexplained_flows: int = 0
    unexplained_flows_volume_unknown: int = 0  # listed; what moved is not known, none counted
    unexplained_flow_dose_ug: Decimal = Decimal(0)

    @property
    def received_dose_ug(self) -> Decimal:
        """What the subject received: the pulses' measured doses and unexplained flow of known
        volume (the gate counts both as delivered, SR-26)."""
        return self.delivered_dose_ug + self.unexplained_flow_dose_ug

    @property
    def scheduled(self) -> int:
        return sum(self.counts.values())

    @property
    def due(self) -> int:
        return sum(n for o, n in self.counts.items() if TERMS[o].due)

    @property
    def full(self) -> int:
        """Slots that received at least their full dose."""
        return sum(self.counts[o] for o in FULL)

    @property
    def adherence_pct(self) -> Decimal | None:
        """Slots given in full over slots that were due, to 0.1 % (None: nothing was due)."""
        if self.due == 0:
            return None
        return (Decimal(100) * self.full / self.due).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class Intervals:
    """Intervals between the starts of pulses that moved fluid."""

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
    values_min: tuple[float, ...] = ()  # every interval, in time order (for the histogram)
    #: How much shorter than the limit an interval may be before it is listed: the gate's
    #: start-latency allowance x the journal's time scale (docs/design.md).
    tolerance_s: float = 1.0


@dataclass(frozen=True)
class AlarmRow:
    """One alarm from raised to cleared, with its acknowledgement (SR-22) and its slots."""

    alarm_id: str
    code: str
    priority: str
    message: str
    raised: datetime
    slot_ids: tuple[str, ...] = ()
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
class Flow:
    """Fluid that moved with no pulse commanded (SR-26), as the journal recorded it.

    From a ``flow.unexplained`` record (``flow_id`` ``flow-<seq>``, the id the gate gives it
    when it rebuilds its records from the journal) or, for an unintended-flow alarm that names
    no slot and no record tells of, from the alarm alone (``flow_id`` None, volume unknown).
    ``when`` is when it was found: where the gate places it for every limit (the latest moment
    it can have happened).
    """

    when: datetime
    volume_ul: Decimal | None  # None: not known (the totals fell, or only an alarm tells of it)
    dose_ug: Decimal | None
    detail: str  # in plain words, local times in the report's zone
    slot_id: str | None = None
    flow_id: str | None = None
    since: datetime | None = None  # when the pump's totals last read as expected
    where: str | None = None  # "between pulses", "read before clearing the totals for a pulse"
    moving: bool = False  # the pump was found moving (and was stopped)
    totals_fell: bool = False  # the totals fell: cleared outside pumpctl, what moved is unknown
    pump_reset: bool = False  # ...cleared by a power reset the pump reported
    alarm_ids: tuple[str, ...] = ()  # unintended-flow alarms that told of this same flow

    @property
    def row_id(self) -> str:
        """Its id beside the slots: ``flow-<seq>``, or for an alarm with no record
        ``alarm-<alarm id>-<time found, UTC>``."""
        if self.flow_id is not None:
            return self.flow_id
        alarm = self.alarm_ids[0] if self.alarm_ids else "none"
        return f"alarm-{alarm}-{self.when.astimezone(UTC):%Y%m%dT%H%M%SZ}"

    @property
    def summary(self) -> str:
        """One short line for page 1 (the words in full are in :attr:`detail`)."""
        if self.flow_id is None:  # an alarm no record measured: its words are short already
            return self.detail
        if self.totals_fell:
            what = f"volume unknown: the pump's totals fell ({fell_cause(self.pump_reset)})"
        else:
            what = f"{self.volume_text} moved that no pulse commanded"
        where = f", found {self.where}" if self.where else ""
        stopped = "; the pump was running and was stopped" if self.moving else ""
        slot = f"; slot {self.slot_id} was not started for it" if self.slot_id else ""
        return f"{what}{where}{stopped}{slot}"

    @property
    def volume_text(self) -> str:
        """``10 µL (10 µg)``, or words saying the volume is not known (never a number)."""
        if self.volume_ul is None:
            return "volume unknown"
        dose = "dose not recorded" if self.dose_ug is None else f"{decimal_text(self.dose_ug)} µg"
        return f"{decimal_text(self.volume_ul)} µL ({dose})"


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
class Safety:
    """Every safety-relevant event of the period, as the first page lists them."""

    over_delivered: tuple[SlotRow, ...]
    unexplained_flow: tuple[Flow, ...]
    uncertain: tuple[SlotRow, ...]
    alarms_by_priority: dict[str, int]
    unacknowledged_high: int

    @property
    def alert(self) -> bool:
        """Over-delivery or unexplained flow: the report opens with them in red."""
        return bool(self.over_delivered or self.unexplained_flow)


@dataclass(frozen=True)
class ModelPeriod:
    """One local day, week or month of the predicted pituitary response (a model output)."""

    start: date
    days: int
    pulses: int
    median_relative: float | None  # LH pulse over the standard regimen's (1.0 = the same)
    lowest_relative: float | None
    blunted: int  # pulses below ``PituitaryResponse.blunted_below``
    mean_bound: float  # mean fraction of receptors bound
    mean_release_relative: float  # mean LH release over the resting pituitary's basal


@dataclass(frozen=True)
class PituitaryResponse:
    """The optional predicted pituitary response (``report --pituitary``): a model, never a
    measurement. Plain numbers, so every format renders it without the ``[model]`` extra."""

    title: str
    caveat: str
    model: str  # which model and bridge, in words
    summary: str  # one line over the whole period
    reference_dose_ug: float
    blunted_below: float
    grain: str  # "day", "week" or "month": what ``periods`` are
    periods: tuple[ModelPeriod, ...]
    #: Each pulse's LH pulse over the standard regimen's, by slot id (pulses that moved fluid).
    by_slot: dict[str, float]
    #: Short periods only: LH release over basal (min and max of each bin, in time order).
    curve_times: tuple[datetime, ...] = ()
    curve_release: tuple[float, ...] = ()
    left_out: tuple[str, ...] = ()  # what the prediction does not include, in words


@dataclass(frozen=True)
class Report:
    """Everything a report says, for one journal and one period."""

    source: str  # the journal file, or where the records came from
    journal_id: str | None  # a stable URN of the journal (see build.journal_urn)
    generated: datetime
    period_from: datetime | None
    period_to: datetime | None
    first_record: datetime | None
    last_record: datetime | None
    timezone: str
    subject: dict[str, Any] | None
    pump: dict[str, Any] | None
    daemon_starts: tuple[dict[str, Any], ...]
    integrity: Integrity
    prescription_in_force: dict[str, Any] | None
    limits_in_force: dict[str, Any] | None
    changes: tuple[Change, ...]
    slots: tuple[SlotRow, ...]
    days: tuple[Tally, ...]
    total: Tally
    intervals: Intervals
    alarms: tuple[AlarmRow, ...]
    suspensions: tuple[Suspension, ...]
    exposure: Exposure
    safety: Safety
    #: Each pulse's predicted level at its start over its own single-pulse peak, by slot id.
    pre_pulse_fractions: dict[str, float] = field(default_factory=dict)
    #: ``report --pituitary`` only: the predicted pituitary response (a model).
    pituitary: PituitaryResponse | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def has_data(self) -> bool:
        return bool(self.slots or self.alarms or self.suspensions or self.safety.unexplained_flow)

    @property
    def span_days(self) -> int:
        """Local days the report covers: the period's days the journal has records for."""
        dated = [d.start for d in self.days if d.start is not None]
        return 0 if not dated else (max(dated) - min(dated)).days + 1
