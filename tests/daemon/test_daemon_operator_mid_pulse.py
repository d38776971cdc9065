"""Operator requests that arrive while a pulse runs are served between its polls (SR-29)."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pumpctl.daemon.service import Daemon
from pumpctl.errors import ControlError
from pumpctl.simulator.ledger import Ledger
from tests.daemon.harness import OPERATOR, START, make_bench

SLOT_1 = START + timedelta(minutes=5)  # 08:00
SLOT_2 = SLOT_1 + timedelta(minutes=90)


class SubmitAtRun(Ledger):
    """A ledger that posts operator requests the moment the plunger starts moving."""

    def __init__(self) -> None:
        super().__init__()
        self.daemon: Daemon | None = None
        self.bodies: list[dict[str, Any]] = []
        self.futures: list[Future[dict[str, Any]]] = []

    def record(self, event: str, **fields: Any) -> None:
        super().record(event, **fields)
        if event == "motion.start" and self.daemon is not None:
            for body in self.bodies:
                answer = self.daemon.submit(body, OPERATOR)
                assert isinstance(answer, Future)
                self.futures.append(answer)
            self.bodies = []


def _bench(tmp_path: Path, *bodies: dict[str, Any]):  # type: ignore[no-untyped-def]
    ledger = SubmitAtRun()
    bench = make_bench(tmp_path, ledger=ledger)
    ledger.daemon = bench.daemon
    ledger.bodies = list(bodies)
    bench.daemon.start()
    return bench, ledger


def test_suspend_during_a_pulse_is_done_and_says_it_applies_from_the_next(tmp_path: Path) -> None:
    """SR-29: a suspend sent mid-pulse is carried out before the pulse ends, its reply says the
    running pulse finishes, and the next slot is not delivered."""
    bench, ledger = _bench(tmp_path, {"cmd": "suspend", "reason": "site change"})
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    (future,) = ledger.futures
    reply = future.result(timeout=0)
    assert "from the next pulse" in reply["note"]
    kinds = bench.kinds()
    assert kinds.index("delivery.suspended") < kinds.index("pulse.outcome")
    bench.run_until(SLOT_2 + timedelta(minutes=15))
    assert len(bench.starts()) == 1


def test_fill_and_uncertain_ack_during_a_pulse_are_refused_and_not_done(tmp_path: Path) -> None:
    """SR-29: a fill or an uncertain-pulse ack sent mid-pulse is refused and not journaled."""
    bench, ledger = _bench(
        tmp_path,
        {"cmd": "reservoir_fill", "volume_ul": "500"},
        {"cmd": "ack", "alarm_id": "uncertain-pulse", "reason": "checked"},
    )
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    for future in ledger.futures:
        with pytest.raises(ControlError, match="is running"):
            future.result(timeout=0)
    assert bench.daemon.reservoir.fill_ul == 1000
    assert "operator.action" not in bench.kinds()


def test_a_cancelled_request_is_never_carried_out(tmp_path: Path) -> None:
    """SR-29: a request the control thread cancelled (timed out) is skipped by the loop."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    answer = bench.daemon.submit({"cmd": "suspend", "reason": "late"}, OPERATOR)
    assert isinstance(answer, Future) and answer.cancel()
    bench.run_for(30)
    assert bench.daemon.operator_suspended is None
    assert "operator.action" not in bench.kinds()


def test_a_fill_above_the_syringe_is_refused(tmp_path: Path) -> None:
    """SR-17: recording 50 000 uL on a 1000 uL syringe is refused and nothing is recorded."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    with pytest.raises(ControlError, match="at most 1000 uL"):
        bench.daemon.handle({"cmd": "reservoir_fill", "volume_ul": "50000"}, OPERATOR)
    assert bench.daemon.reservoir.fill_ul == 1000
    fills = bench.journal.events(kinds=("reservoir.changed",))
    assert [f.payload["volume_ul"] for f in fills] == ["1000"]
    assert "operator.action" not in bench.kinds()
