"""What was physically infused, as the exposure model's :class:`Infusion` list, and what-ifs.

The simulator's ledger is the physical truth (every plunger motion, whoever caused it), so a
prediction made from it includes faults the controller never knew about. The counterfactuals
are built in the model alone: they answer "what would the pituitary have seen had this fault
gone unchecked", a question the interlocked daemon never lets the pump answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pumpctl.core.exposure import Infusion
from pumpctl.physiology.counterfactual import Counterfactual


def _minutes(text: object, origin: datetime) -> float:
    return (datetime.fromisoformat(str(text)) - origin).total_seconds() / 60.0


def infusions_from_ledger(
    entries: Iterable[Mapping[str, Any]],
    concentration_ug_per_ml: float,
    origin: datetime,
    end: datetime,
) -> list[Infusion]:
    """Every forward plunger motion of the ledger, in minutes since ``origin``.

    A motion still running at ``end`` counts at its rate until ``end``. Doses assume the syringe
    holds the prescribed concentration.
    """
    ug_per_ul = concentration_ug_per_ml / 1000.0
    out: list[Infusion] = []
    running: dict[float, Mapping[str, Any]] = {}
    for e in entries:
        if e.get("direction") != "INF":
            continue
        if e.get("event") == "motion.start":
            running[float(e["elapsed_s"])] = e
        elif e.get("event") == "motion.end":
            running.pop(float(e["elapsed_start_s"]), None)
            start = _minutes(e["started"], origin)
            duration = max(_minutes(e["ended"], origin) - start, 0.0)
            out.append(Infusion(start, float(e["volume_ul"]) * ug_per_ul, duration))
    end_min = _minutes(end.isoformat(), origin)
    for e in running.values():
        start = _minutes(e["at"], origin)
        duration = max(end_min - start, 0.0)
        volume = float(e["rate_ul_per_min"]) * duration
        out.append(Infusion(start, volume * ug_per_ul, duration))
    return sorted(out, key=lambda i: i.start_min)


def runaway_start_min(entries: Iterable[Mapping[str, Any]], origin: datetime) -> float | None:
    """When the ledger's first ``runaway`` fault struck, in minutes since ``origin``."""
    for e in entries:
        if e.get("event") == "fault" and e.get("kind") == "runaway":
            return _minutes(e["at"], origin)
    return None


def counterfactual(
    kind: Counterfactual,
    delivered: Sequence[Infusion],
    from_min: float,
    end_min: float,
    *,
    syringe_ul: float,
    concentration_ug_per_ml: float,
    slow_pulse_min: float = 30.0,
) -> list[Infusion]:
    """The delivered pulses with ``kind`` applied from ``from_min`` on.

    * runaway: the first pulse at or after ``from_min`` never stops; it runs at its own rate
      until a full syringe is empty (the worst case), and pulses due meanwhile do not happen;
    * slow-pulse: each pulse from ``from_min`` on carries its dose over ``slow_pulse_min``;
    * continuous: the dose of every pulse from ``from_min`` on, infused at one constant rate from
      ``from_min`` to ``end_min`` (same drug, no pattern: the classic desensitization design).
    """
    before = [i for i in delivered if i.start_min < from_min]
    after = [i for i in delivered if i.start_min >= from_min]
    if not after:
        return list(delivered)
    if kind is Counterfactual.SLOW_PULSE:
        return before + [Infusion(i.start_min, i.dose_ug, slow_pulse_min) for i in after]
    if kind is Counterfactual.CONTINUOUS:
        total = sum(i.dose_ug for i in after)
        return [*before, Infusion(from_min, total, end_min - from_min)]
    first = after[0]
    ug_per_ul = concentration_ug_per_ml / 1000.0
    rate_ul_per_min = first.dose_ug / ug_per_ul / max(first.duration_min, 1e-9)
    duration = syringe_ul / rate_ul_per_min
    runaway = Infusion(first.start_min, syringe_ul * ug_per_ul, duration)
    later = [i for i in after[1:] if i.start_min >= first.start_min + duration]
    return [*before, runaway, *later]
