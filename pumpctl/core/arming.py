"""The pre-armed pulse: what may be done before a slot, and when an armed pulse must not fire.

Pure: the daemon gathers the facts, this module decides. Arming programs the bolus shortly
before its slot (clear the totals after reading them, DIR/VOL/RAT, the SR-27 read-back), so that
at the slot only the gate's final check, the fsynced intent and RUN remain. Arming moves no
fluid and is never a reason to deliver: the gate decides at the slot exactly as without it.

Invariants:

* An armed pulse fires only if nothing that bears on it changed since it was armed
  (:func:`why_disarm`): its slot, the journal (any record other than :data:`QUIET_KINDS`: an
  alarm, a suspension or resumption, a reload, an operator action, a reservoir change, flow), the
  pump's readiness, the wall clock against the elapsed clock, and how long it has been armed.
* A disarmed slot is a missed pulse (the safe failure): never re-armed, never caught up.
* Nothing here can send RUN; the transaction does, after its intent is on disk (SR-08).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pumpctl.core.clock import Clock
from pumpctl.core.model import Slot

#: How long before its slot a pulse is armed, in real seconds (configurable: ``[pump] arm_lead_s``).
DEFAULT_ARM_LEAD_S = 2.0
#: The longest lead a configuration may ask for: the armed window is a window without the
#: read-back, kept short (docs/reliability.md).
MAX_ARM_LEAD_S = 10.0
#: How much longer than planned a pulse may stay armed (real seconds) before it is stale: a
#: host that suspended or a loop that stalled leaves an armed pump nobody watched.
ARM_SLACK_S = 2.0
#: The most the wall clock may move against the elapsed clock while armed (real seconds)
#: before it counts as a clock step (SR-11). Slewing moves it by well under a millisecond.
CLOCK_STEP_TOLERANCE_S = 0.1
#: On a scaled clock (pumpsim only) the lead in clock seconds is capped: arming stays close to
#: its slot whatever the scale.
MAX_SCALED_LEAD = timedelta(minutes=10)

#: Real seconds of margin for the host in the quiet window before an armed slot (:func:`quiet`).
QUIET_MARGIN_S = 0.02

#: Journal kinds that do not disarm: records of the delivery path itself and of the outputs,
#: which never decide anything. Every other kind (alarms, suspensions, reloads, operator
#: actions, reservoir, flow, another pulse) disarms: an unknown kind disarms too.
QUIET_KINDS = frozenset({"gate.decision", "slot.scheduled", "slot.missed", "notify.attempt"})


def lead(clock: Clock, lead_s: float) -> timedelta:
    """The arming lead on ``clock``: ``lead_s`` real seconds, times the clock's scale (capped)."""
    scaled = timedelta(seconds=lead_s * clock.scale)
    return min(scaled, MAX_SCALED_LEAD) if clock.scale != 1.0 else scaled


def quiet(reading_s: float, heartbeat_s: float, scale: float = 1.0) -> timedelta:
    """How long before an armed slot no routine pump check may start, in clock seconds.

    A check (a heartbeat, or SR-26's reading of state and totals) is one round trip on the
    pump's line and can be two (a stop); started just before the slot it would hold the line
    and the loop past the slot, and RUN would wait for it. So the window is twice the slowest
    recent reading on this link (``reading_s``, clock seconds, measured or its wire time) plus
    :data:`QUIET_MARGIN_S` for the host, and at most half a heartbeat, so that a check put off
    until just after RUN still comes well inside the pump's safe-mode period (three heartbeats).
    """
    window_s = min(2 * reading_s + QUIET_MARGIN_S * scale, heartbeat_s / 2)
    return timedelta(microseconds=max(0, round(window_s * 1_000_000)))


@dataclass(frozen=True)
class ArmedMark:
    """What was true when a pulse was armed; compared at its slot."""

    slot: Slot
    #: The journal's ``pulse.armed`` record.
    seq: int
    wall: datetime
    elapsed_us: int
    boot_id: str
    #: The longest the pulse may stay armed, in clock microseconds (lead, any wait, slack).
    valid_us: int


def mark(clock: Clock, slot: Slot, seq: int, lead_s: float, wait: timedelta) -> ArmedMark:
    """The mark of a pulse armed now for ``slot``, ``wait`` after its time at the latest."""
    until_slot = max(timedelta(0), slot.scheduled - clock.now())
    slack = timedelta(seconds=ARM_SLACK_S * clock.scale)
    valid = until_slot + wait + slack
    return ArmedMark(
        slot=slot,
        seq=seq,
        wall=clock.now(),
        elapsed_us=clock.elapsed_us(),
        boot_id=clock.boot_id,
        valid_us=valid // timedelta(microseconds=1),
    )


@dataclass(frozen=True)
class AtSlot:
    """What is true at the slot, gathered by the daemon just before the intent."""

    slot: Slot | None
    wall: datetime
    elapsed_us: int
    boot_id: str
    #: Kinds of every journal record written since the ``pulse.armed`` record.
    journal_kinds: tuple[str, ...]
    pump_ready: bool
    suspended: bool
    #: Why the driver holds no armed programme or saw an alarm since (None: still armed).
    pump_problem: str | None = None


# One return per reason reads clearer than a chain of flags.
def why_disarm(  # noqa: PLR0911
    armed: ArmedMark, now: AtSlot, *, scale: float = 1.0
) -> str | None:
    """Why the armed pulse must not fire, in plain words; None when it may go to the gate."""
    if now.slot != armed.slot:
        what = "gone" if now.slot is None else "different"
        return f"the slot is {what} since arming (the prescription was reloaded)"
    if now.boot_id != armed.boot_id:
        return "the machine restarted since arming"
    loud = [kind for kind in now.journal_kinds if kind not in QUIET_KINDS]
    if loud:
        return f"{', '.join(dict.fromkeys(loud))} journaled since arming"
    if now.suspended:
        return "delivery is suspended"
    if not now.pump_ready:
        return "the pump is no longer ready (link lost or self-test failed)"
    if now.pump_problem is not None:
        return now.pump_problem
    held_us = now.elapsed_us - armed.elapsed_us
    if held_us > armed.valid_us:
        return (
            f"armed {held_us / 1e6:.3f} s ago, longer than planned: the host suspended or "
            "the loop stalled, so the pump went unwatched"
        )
    drift_us = (now.wall - armed.wall) // timedelta(microseconds=1) - held_us
    if abs(drift_us) > CLOCK_STEP_TOLERANCE_S * scale * 1_000_000:
        return f"the wall clock stepped {drift_us / 1e6:+.3f} s against the elapsed clock"
    return None


@dataclass(frozen=True)
class Ahead:
    """``base`` read as if ``shift`` had already passed: the gate's view at a coming slot.

    Used only to decide whether arming is worth it (the gate will allow at the slot if nothing
    changes); the decision that lets a pulse start is always taken on the real clock.
    """

    base: Clock
    shift: timedelta

    def now(self) -> datetime:
        return self.base.now() + self.shift

    def elapsed_us(self) -> int:
        return self.base.elapsed_us() + self.shift // timedelta(microseconds=1)

    def elapsed_s(self) -> float:
        return self.elapsed_us() / 1_000_000

    @property
    def scale(self) -> float:
        return self.base.scale

    @property
    def boot_id(self) -> str:
        return self.base.boot_id
