"""What the coming slots will look like: the planner and the gate run ahead on a virtual clock.

Each slot is judged as the daemon would judge it, assuming every earlier allowed slot was
delivered in full; the result lets an operator or clinician check a prescription before
anything runs (``pumpctl plan``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pumpctl.core.clock import VirtualClock
from pumpctl.core.gate import GateContext, authorize, history_since, wait_in_window
from pumpctl.core.model import Decision, Limits, Outcome, Prescription, PulseRecord, Slot
from pumpctl.core.planner import Planner


@dataclass(frozen=True)
class PlanRow:
    slot: Slot
    decision: Decision
    #: When the daemon will start the pulse: the slot's time, or a moment later in its window
    #: when it must wait for an interval to end (gate.wait_in_window); None when denied.
    starts: datetime | None = None

    @property
    def waits(self) -> timedelta:
        """How long after its slot the pulse starts (zero when on time or denied)."""
        return timedelta(0) if self.starts is None else self.starts - self.slot.scheduled


def preview(
    prescription: Prescription,
    limits: Limits,
    start: datetime,
    hours: float,
    history: Sequence[PulseRecord] = (),
    *,
    clock: VirtualClock | None = None,
    boot_last_elapsed_s: Mapping[str, float] | None = None,
) -> list[PlanRow]:
    """Judge every slot from ``start`` for ``hours``, as if each allowed one were delivered.

    ``clock`` is where the look-ahead begins: give one that continues this boot's elapsed clock
    (with its boot id) to judge a journal's ``history`` as the daemon's gate would; it is
    advanced to ``start`` and then to each slot exactly.
    """
    clock = clock or VirtualClock(start, boot_id="plan")
    clock.advance_to(start)
    ctx = GateContext(limits=limits, boot_last_elapsed_s=boot_last_elapsed_s)
    journaled = list(history)
    # The plan's own pulses, oldest first. Like the daemon, which reads only the pulses that can
    # still matter (gate.history_since), the plan forgets them once they are that old: a year's
    # plan then costs a year of slots, not a year squared.
    planned: deque[PulseRecord] = deque()
    rows: list[PlanRow] = []
    for slot in Planner(prescription).slots_between(start, start + timedelta(hours=hours)):
        clock.advance_to(slot.scheduled)
        horizon = history_since(clock.now())
        while planned and planned[0].intent_wall < horizon:
            planned.popleft()
        decision = authorize(slot, [*journaled, *planned], clock, ctx)
        # As the daemon does: wait quietly inside the window for an interval to end, then ask
        # again (a wait is exact, so one more look settles it; three is a bound, not a retry).
        for _ in range(3):
            wait = wait_in_window(slot, decision, clock.now(), limits)
            if wait is None:
                break
            clock.advance(wait)
            decision = authorize(slot, [*journaled, *planned], clock, ctx)
        rows.append(PlanRow(slot, decision, clock.now() if decision.allowed else None))
        if decision.allowed:
            planned.append(
                PulseRecord(
                    slot_id=slot.slot_id,
                    intent_wall=clock.now(),
                    intent_elapsed_s=clock.elapsed_s(),
                    boot_id=clock.boot_id,
                    dose_ug=slot.dose_ug,
                    volume_ul=slot.volume_ul,
                    duration_s=slot.duration_s,
                    outcome=Outcome.DELIVERED,
                    delivered_volume_ul=slot.volume_ul,
                )
            )
    return rows
