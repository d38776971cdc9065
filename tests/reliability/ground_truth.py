"""Hold the journal against the simulator's ledger: what pumpctl recorded versus what moved.

Pure functions shared by the crash campaign, the fault matrix, the clock campaign and the soak.
Every check returns a list of human-readable violations; an empty list is a clean run.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Limits
from pumpctl.invariants import PhysicalPulse, check_starts
from pumpctl.journal import Journal

#: The pump reports dispensed totals to three decimals; the ledger keeps six.
VOLUME_TOLERANCE_UL = Decimal("0.01")
#: An intent precedes its own RUN by a few serial round trips (longer at a scaled clock).
DEFAULT_INTENT_SLACK_S = 120.0


@dataclass(frozen=True)
class Motion:
    """One commanded plunger movement from the ledger: start time and the volume it moved."""

    started: datetime
    volume_ul: Decimal | None  # None while the ledger has no matching end (pump still moving)


@dataclass
class SlotRecord:
    """Everything the journal says about one slot with an intent."""

    slot_id: str
    intent_wall: datetime
    volume_ul: Decimal
    outcomes: list[tuple[str, str, Decimal | None, str]] = field(default_factory=list)

    @property
    def final(self) -> tuple[str, str, Decimal | None, str] | None:
        """The last (kind, outcome, volume, source) word on the slot, or None if none yet."""
        return self.outcomes[-1] if self.outcomes else None


def read_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def motions(entries: Iterable[Mapping[str, Any]], shift_s: Sequence[float] = ()) -> list[Motion]:
    """Commanded motions in order; ``shift_s[i]`` corrects the clock of the i-th pumpsim run."""
    found: list[Motion] = []
    open_start: datetime | None = None
    run_index = -1
    for entry in entries:
        if entry.get("event") == "pumpsim.start":
            run_index += 1
            continue
        shift = timedelta(seconds=shift_s[run_index]) if 0 <= run_index < len(shift_s) else None
        if entry.get("event") == "motion.start" and entry.get("cause") == "run":
            if open_start is not None:
                found.append(Motion(open_start, None))
            open_start = datetime.fromisoformat(str(entry["at"])) + (shift or timedelta())
        elif entry.get("event") == "motion.end" and open_start is not None:
            found.append(Motion(open_start, Decimal(str(entry["volume_ul"]))))
            open_start = None
    if open_start is not None:
        found.append(Motion(open_start, None))
    return found


def uncommanded_motion_ul(entries: Iterable[Mapping[str, Any]]) -> Decimal:
    """Volume the plunger moved without a RUN (pump faults such as a spontaneous start)."""
    return sum(
        (
            Decimal(str(e["volume_ul"]))
            for e in entries
            if e.get("event") == "motion.end" and e.get("cause") not in (None, "run")
        ),
        Decimal(0),
    )


def journal_slots(
    journal_path: Path, shift_of_seq: Callable[[int], float] | None = None
) -> dict[str, SlotRecord]:
    """Intents and every outcome or reconciliation, per slot, in journal order.

    ``shift_of_seq`` corrects the wall time of record ``seq`` onto a common time line (seconds).
    """
    slots: dict[str, SlotRecord] = {}
    with Journal(journal_path, VirtualClock()) as journal:
        for event in journal.events(kinds=("pulse.intent", "pulse.outcome", "pulse.reconciled")):
            slot_id = str(event.payload["slot_id"])
            if event.kind == "pulse.intent":
                shift = timedelta(seconds=shift_of_seq(event.seq) if shift_of_seq else 0.0)
                slots[slot_id] = SlotRecord(
                    slot_id, event.wall + shift, Decimal(str(event.payload["volume_ul"]))
                )
                continue
            volume = event.payload.get("delivered_volume_ul")
            record = slots.get(slot_id)
            if record is not None:
                record.outcomes.append(
                    (
                        event.kind,
                        str(event.payload["outcome"]),
                        None if volume is None else Decimal(str(volume)),
                        str(event.payload.get("source") or "daemon"),
                    )
                )
    return slots


def check_records(
    moved: Sequence[Motion],
    slots: Mapping[str, SlotRecord],
    *,
    slack_s: float = DEFAULT_INTENT_SLACK_S,
    allow_pending: bool = True,
) -> tuple[list[str], dict[str, int]]:
    """Every motion has its own intent and a true outcome; nothing recorded moved that did not.

    Returns the violations and a tally of how the moved pulses are recorded.
    """
    problems: list[str] = []
    tally: dict[str, int] = {}
    by_time = sorted(slots.values(), key=lambda s: s.intent_wall)
    matched: set[str] = set()
    for motion in moved:
        candidates = [
            s
            for s in by_time
            if s.slot_id not in matched
            and s.intent_wall <= motion.started + timedelta(seconds=1)
            and (motion.started - s.intent_wall).total_seconds() <= slack_s
        ]
        if not candidates:
            problems.append(f"motion at {motion.started.isoformat()} has no journaled intent")
            continue
        slot = candidates[-1]
        matched.add(slot.slot_id)
        key, problem = classify(motion, slot, allow_pending=allow_pending)
        if problem:
            problems.append(problem)
        tally[key] = tally.get(key, 0) + 1
    for slot in by_time:
        final = slot.final
        if slot.slot_id in matched or final is None:
            continue
        if final[1] in ("DELIVERED", "PARTIAL") and final[2] and final[3] != "operator":
            problems.append(
                f"{slot.slot_id}: journal says {final[1]} {final[2]} uL but nothing moved"
            )
    return problems, tally


# One return per way a motion can be recorded reads clearer than a chain of flags.
def classify(  # noqa: PLR0911
    motion: Motion, slot: SlotRecord, *, allow_pending: bool
) -> tuple[str, str | None]:
    """How the journal records one physical motion, and what is wrong with that (or None)."""
    final = slot.final
    if final is None or final[1] == "UNCERTAIN":
        if allow_pending:
            return "uncertain-pending", None
        return "uncertain-pending", f"{slot.slot_id}: moved, but its outcome is still unknown"
    if final[1] in ("DELIVERED", "PARTIAL", "OVER_DELIVERED"):
        key = f"{final[1].lower()}-{final[3]}"
        if final[3] == "operator":
            return key, None  # settled without evidence: counted as delivered in full
        if motion.volume_ul is None or final[2] is None:
            return key, f"{slot.slot_id}: recorded {final[1]} with no measured volume"
        if abs(final[2] - motion.volume_ul) > VOLUME_TOLERANCE_UL:
            return key, (
                f"{slot.slot_id}: journal says {final[2]} uL, the plunger moved "
                f"{motion.volume_ul} uL"
            )
        return key, None
    if motion.volume_ul is not None and motion.volume_ul <= VOLUME_TOLERANCE_UL:
        return "not-delivered", None  # the motor started and stopped at once (stall, empty)
    return "wrong", (
        f"{slot.slot_id}: the plunger moved {motion.volume_ul} uL but the journal says {final[1]}"
    )


def check_physical_limits(
    moved: Sequence[Motion],
    limits: Limits,
    *,
    tolerance_s: float = 0.0,
    ug_per_ul: Decimal = Decimal(1),
) -> list[str]:
    """Minimum interval, 24 h count and 24 h dose on the physical starts (SR-02, SR-03).

    ``tolerance_s`` absorbs the error of putting several simulator runs on one time line and the
    gate's start-latency allowance: starts may be that much closer, windows that much shorter.
    """
    if not moved:
        return []
    ordered = sorted(moved, key=lambda m: m.started)
    problems = [
        f"starts at {a.started.isoformat()} and {b.started.isoformat()} are "
        f"{(b.started - a.started).total_seconds() / 60:.2f} min apart "
        f"(< {limits.min_interval_min} min)"
        for a, b in itertools.pairwise(ordered)
        if (b.started - a.started).total_seconds() + tolerance_s < limits.min_interval_min * 60
    ]
    t0 = ordered[0].started
    starts = [PhysicalPulse(m.started, (m.started - t0).total_seconds()) for m in ordered]
    problems += [
        p
        for p in check_starts(starts, limits, tolerance=timedelta(seconds=tolerance_s))
        if "apart" not in p
    ]
    day = timedelta(hours=24)
    for i, motion in enumerate(ordered):
        window = [
            m.volume_ul if m.volume_ul is not None else Decimal(0)
            for m in ordered[: i + 1]
            if m.started > motion.started - day + timedelta(seconds=tolerance_s)
        ]
        dose_ug = sum(window, Decimal(0)) * ug_per_ul
        if dose_ug > limits.max_dose_24h_ug:
            problems.append(
                f"{dose_ug} ug in the 24 h ending {motion.started.isoformat()} "
                f"(> {limits.max_dose_24h_ug} ug)"
            )
    return problems


def check_arming(journal_path: Path) -> list[str]:
    """Every intent follows a fresh arming of its slot in the same daemon run (programmed and
    read back by that run, never a programme left loaded by a dead one); a disarmed slot is
    never given later; no slot has two intents."""
    problems: list[str] = []
    armed: set[str] = set()
    disarmed: set[str] = set()
    given: set[str] = set()
    kinds = ("daemon.start", "pulse.armed", "pulse.disarmed", "pulse.intent")
    with Journal(journal_path, VirtualClock()) as journal:
        for event in journal.events(kinds=kinds):
            if event.kind == "daemon.start":
                armed.clear()  # a new run: whatever the pump still holds is not armed for it
                continue
            slot_id = str(event.payload["slot_id"])
            if event.kind == "pulse.armed":
                armed.add(slot_id)
            elif event.kind == "pulse.disarmed":
                armed.discard(slot_id)
                disarmed.add(slot_id)
            else:
                if slot_id not in armed:
                    problems.append(f"{slot_id}: intent without an arming in the same run")
                if slot_id in disarmed:
                    problems.append(f"{slot_id}: disarmed, then given")
                if slot_id in given:
                    problems.append(f"{slot_id}: two intents")
                given.add(slot_id)
                armed.discard(slot_id)
    return problems
