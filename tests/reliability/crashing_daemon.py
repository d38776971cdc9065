"""``pumpctl run`` with one planted SIGKILL: the daemon dies at an exact phase of a pulse.

Started by the crash campaign as ``python -m tests.reliability.crashing_daemon PHASE N -- ARGS``
(ARGS as for ``pumpctl``). It wraps one seam of the real daemon so that the N-th time the seam
is reached, the process sends itself SIGKILL: no handler, no flush, no journal close — exactly
what a power cut or the OOM killer does. Phases:

* ``arming``: the bolus is programmed ahead of its slot; its read-back has not been taken.
* ``totals-cleared``: the pump's totals are cleared for the next bolus (``totals.clearing`` is
  on record); nothing is programmed yet. The restarted daemon reads zero totals, which that
  record explains: no unexplained-flow alarm.
* ``armed``: the bolus is armed and journaled (``pulse.armed``); no intent yet. The restarted
  daemon finds a programme loaded that only a new arming, read-back and intent may start.
* ``before-intent``: the slot passed the gate's final check; the intent (with the RUN record,
  one commit) is about to be journaled.
* ``intent-run``: the intent is on disk; RUN has not been sent.
* ``mid-pulse``: RUN was accepted; the pump is infusing.
* ``after-outcome``: the outcome is on disk; the next slot is not due yet.
* ``append-uncommitted``: inside a journal write transaction, before COMMIT.
* ``append-unpublished``: a record is committed; its head file is not yet published.
* ``none``: no planted kill (the campaign kills the process itself at a random moment).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from pumpctl.cli import main as pumpctl_main
from pumpctl.drivers.harvard11 import Harvard11Driver
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.journal import store
from pumpctl.journal.store import Journal

PHASES = (
    "totals-cleared",
    "arming",
    "armed",
    "before-intent",
    "intent-run",
    "mid-pulse",
    "after-outcome",
    "append-uncommitted",
    "append-unpublished",
)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


#: Whichever family the configuration names, its driver carries the planted seam.
DRIVER_CLASSES: tuple[type[Any], ...] = (Ne1000Driver, Harvard11Driver)


def plant_mid_pulse(cls: type[Any], due: Callable[[], bool]) -> None:
    """Die at the first progress reading after an accepted run: the plunger is moving.

    ``progress`` is the reading the running pulse is watched with (both families); a seam on
    ``status`` would miss the pulse on a driver whose watch never asks for it alone.
    """
    running = {"on": False}
    original_run = cls.run
    original_progress = cls.progress

    def run(self: Any) -> Any:
        result = original_run(self)
        running["on"] = True
        return result

    def progress(self: Any) -> Any:
        if running["on"] and due():
            die()
        return original_progress(self)

    cls.run = run
    cls.progress = progress


def plant(phase: str, nth: int) -> None:
    """Wrap the seam of ``phase`` so that its ``nth`` use kills the process."""
    hits = {"n": 0}

    def due() -> bool:
        hits["n"] += 1
        return hits["n"] >= nth

    def before(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if due():
                die()
            return fn(*args, **kwargs)

        return wrapper

    def after(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            if due():
                die()
            return result

        return wrapper

    if phase == "none":
        return
    if phase == "mid-pulse":
        for cls in DRIVER_CLASSES:
            plant_mid_pulse(cls, due)
        return
    # Each phase's seam: whose attribute, which one, and whether the kill comes before or after.
    seams: dict[str, tuple[tuple[Any, ...], str, Callable[..., Any]]] = {
        "totals-cleared": (DRIVER_CLASSES, "clear_dispensed", after),
        "arming": (DRIVER_CLASSES, "read_settings", before),
        "armed": ((Journal,), "record_armed", after),
        # The intent goes to disk with the gate's allow and the RUN record, in one commit.
        "before-intent": ((Journal,), "record_pulse_start", before),
        "intent-run": (DRIVER_CLASSES, "run", before),
        "after-outcome": ((Journal,), "record_outcome", after),
        "append-uncommitted": ((store,), "derive_rows", before),
        "append-unpublished": ((store,), "write_head", before),
    }
    if phase not in seams:
        raise SystemExit(f"unknown phase {phase!r}; allowed {', '.join(PHASES)} or none")
    owners, name, wrap = seams[phase]
    for owner in owners:
        setattr(owner, name, wrap(getattr(owner, name)))


def main(argv: list[str]) -> int:
    phase, nth, *rest = argv
    plant(phase, int(nth))
    return pumpctl_main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
