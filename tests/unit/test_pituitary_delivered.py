"""From the simulator's ledger to infusions, the model-only counterfactuals, the per-day table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pumpctl.core.exposure import Infusion
from pumpctl.physiology.counterfactual import Counterfactual
from pumpctl.physiology.delivered import (
    counterfactual,
    infusions_from_ledger,
    runaway_start_min,
)
from pumpctl.physiology.predict import predict, regimen
from pumpctl.physiology.summary import per_day

ORIGIN = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)


def _at(minutes: float) -> str:
    return (ORIGIN + timedelta(minutes=minutes)).isoformat()


def test_ledger_motions_become_infusions_whatever_caused_them() -> None:
    """Every forward motion counts (commanded or not), withdrawals do not, and a motion still
    running at the end counts at its rate until the end."""
    ledger = [
        {"event": "motion.start", "at": _at(0), "elapsed_s": 10.0, "direction": "INF",
         "rate_ul_per_min": 10.0, "cause": "run"},
        {"event": "motion.end", "started": _at(0), "ended": _at(1), "elapsed_start_s": 10.0,
         "direction": "INF", "volume_ul": 10.0, "cause": "target-reached"},
        {"event": "motion.start", "at": _at(30), "elapsed_s": 1810.0, "direction": "WDR",
         "rate_ul_per_min": 5.0, "cause": "run"},
        {"event": "motion.end", "started": _at(30), "ended": _at(31), "elapsed_start_s": 1810.0,
         "direction": "WDR", "volume_ul": 5.0, "cause": "stop-command"},
        {"event": "motion.start", "at": _at(100), "elapsed_s": 6010.0, "direction": "INF",
         "rate_ul_per_min": 2.0, "cause": "spontaneous-start"},
    ]  # fmt: skip
    infusions = infusions_from_ledger(ledger, 500.0, ORIGIN, ORIGIN + timedelta(minutes=160))
    assert infusions == [
        Infusion(0.0, pytest.approx(5.0), pytest.approx(1.0)),  # type: ignore[arg-type]
        Infusion(100.0, pytest.approx(60.0), pytest.approx(60.0)),  # type: ignore[arg-type]
    ]


def test_runaway_time_comes_from_the_ledgers_fault_record() -> None:
    """The first runaway fault in the ledger sets when the counterfactual's runaway starts."""
    ledger = [{"event": "fault", "kind": "stall", "at": _at(5)},
              {"event": "fault", "kind": "runaway", "at": _at(95)}]  # fmt: skip
    assert runaway_start_min(ledger, ORIGIN) == pytest.approx(95.0)
    assert runaway_start_min(ledger[:1], ORIGIN) is None


PULSES = [Infusion(90.0 * k, 10.0, 1.0) for k in range(10)]


def test_runaway_counterfactual_empties_the_syringe_and_skips_pulses_meanwhile() -> None:
    """From the chosen time the first pulse runs at its own rate until a full syringe is empty;
    pulses due meanwhile never happen, earlier and later ones do."""
    out = counterfactual(
        Counterfactual.RUNAWAY, PULSES, 170.0, 900.0, syringe_ul=1000.0,
        concentration_ug_per_ml=1000.0,
    )  # fmt: skip
    assert out[:2] == PULSES[:2]
    assert out[2] == Infusion(180.0, pytest.approx(1000.0), pytest.approx(100.0))  # type: ignore[arg-type]
    assert [i.start_min for i in out[3:]] == [p.start_min for p in PULSES if p.start_min >= 280]


def test_slow_pulse_and_continuous_counterfactuals_keep_the_drug() -> None:
    """Slow pulses keep each dose over a longer time; the continuous one keeps the total."""
    slow = counterfactual(
        Counterfactual.SLOW_PULSE, PULSES, 300.0, 900.0, syringe_ul=1000.0,
        concentration_ug_per_ml=1000.0, slow_pulse_min=30.0,
    )  # fmt: skip
    assert [i.duration_min for i in slow] == [1.0] * 4 + [30.0] * 6
    flat = counterfactual(
        Counterfactual.CONTINUOUS, PULSES, 300.0, 900.0, syringe_ul=1000.0,
        concentration_ug_per_ml=1000.0,
    )  # fmt: skip
    assert flat[-1] == Infusion(300.0, 60.0, 600.0)
    assert sum(i.dose_ug for i in flat) == sum(i.dose_ug for i in PULSES)


def test_per_day_follows_local_days_across_a_daylight_saving_change() -> None:
    """Days are local: the day Berlin springs forward has 23 hours and its own row."""
    pulses = regimen(10.0, 90.0, 1.0, 2.0)
    pred = predict(pulses, 0.0, 2 * 1440.0, label="t", reference_dose_ug=10.0)
    days = per_day(pred, ORIGIN, "Europe/Berlin")
    assert [str(d.day) for d in days] == ["2026-03-28", "2026-03-29", "2026-03-30"]
    # 12:00 UTC is 13:00 CET: local midnights fall at 660 min and, after a 23-hour day, at
    # 2040 min; pulses every 90 min from 0: 0..630 (8), 720..1980 (15), 2070..2790 (9).
    assert [d.pulses for d in days] == [8, 15, 9]
    assert sum(d.pulses for d in days) == len(pred.pulses)
