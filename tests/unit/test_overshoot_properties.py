"""The SR-25 cadence holds against an adversarial runaway, whatever the bolus and the link."""

from __future__ import annotations

import decimal
import random
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st

from pumpctl.core import overshoot
from pumpctl.core.overshoot import LinkTiming, overshoot_bound_ul, plan_watch


def printed(true_ul: Decimal, step: Decimal, rounding: str) -> Decimal:
    """What a pump's display shows for ``true_ul``: truncated or rounded to its step."""
    return true_ul.quantize(step, rounding=rounding)


@dataclass(frozen=True)
class Runaway:
    """A bolus whose pump ignores its volume, and how the link behaves while it is read."""

    volume: Decimal
    rate: Decimal
    step: Decimal
    timing: LinkTiming
    heartbeat_s: float
    first_request_s: Decimal
    rounding: str
    rng: random.Random


@st.composite
def runaways(draw: st.DrawFn) -> Runaway:
    duration_s = draw(st.integers(min_value=1, max_value=600))
    volume = draw(st.decimals(min_value="0.01", max_value=500, places=2))
    return Runaway(
        volume=volume,
        rate=max((volume * 60 / duration_s).quantize(Decimal("0.001")), Decimal("0.001")),
        step=draw(st.sampled_from([Decimal("0.001"), Decimal("0.01"), Decimal("0.1")])),
        timing=LinkTiming(
            reading_s=draw(st.floats(min_value=0.001, max_value=0.5)),
            stop_s=draw(st.floats(min_value=0.0, max_value=0.2)),
        ),
        heartbeat_s=draw(st.floats(min_value=0.5, max_value=85.0)),
        first_request_s=draw(st.decimals(min_value=0, max_value=1, places=3)),
        rounding=draw(st.sampled_from([ROUND_DOWN, ROUND_HALF_EVEN])),
        rng=draw(st.randoms(use_true_random=False)),
    )


def fraction(rng: random.Random) -> Decimal:
    return Decimal(rng.random())


@settings(max_examples=400, deadline=None)
@given(runaways())
def test_a_feasible_plan_stops_any_runaway_within_the_bound(case: Runaway) -> None:
    """SR-25: for any bolus of 1..600 s, link timing and reading phase, a plan the arithmetic
    calls feasible stops a runaway pump within max(5 % of the pulse, 0.5 uL).

    A runaway moves as commanded until the volume is reached and then goes on at the same rate,
    so where in the bolus it began does not change the trajectory this model reads; the
    simulator-driven test in tests/integration varies the onset on the real pump model."""
    plan = plan_watch(
        case.volume, case.rate, case.timing, step_ul=case.step, heartbeat_s=case.heartbeat_s
    )
    event("refused before intent" if not plan.feasible else "read and stopped")
    if not plan.feasible:
        assert plan.worst_overshoot_ul > overshoot_bound_ul(case.volume)
        return
    rate_per_s = case.rate / 60
    request_s = case.first_request_s
    while True:
        # Each exchange takes any time up to reading_s; the pump samples somewhere inside it.
        took = Decimal(case.timing.reading_s) * fraction(case.rng)
        sample_s = request_s + took * fraction(case.rng)
        reply_s = request_s + took
        if printed(rate_per_s * sample_s, case.step, case.rounding) > case.volume:
            stop_s = reply_s + Decimal(case.timing.stop_s) * fraction(case.rng)
            overshoot = rate_per_s * stop_s - case.volume
            break
        request_s = reply_s + Decimal(plan.gap_s)
    assert overshoot <= plan.worst_overshoot_ul <= plan.bound_ul


@given(
    st.decimals(min_value="0.01", max_value=500, places=2),
    st.integers(min_value=1, max_value=600),
)
def test_the_bound_is_five_percent_or_half_a_microlitre(volume: Decimal, duration_s: int) -> None:
    """SR-25: the bound is max(5 % of the pulse, 0.5 uL); a slower link never plans a longer gap."""
    assert overshoot_bound_ul(volume) == max(volume / 20, Decimal("0.5"))
    rate = volume * 60 / duration_s
    fast = plan_watch(volume, rate, LinkTiming(0.01, 0.005), step_ul=Decimal("0.01"), heartbeat_s=3)
    slow = plan_watch(volume, rate, LinkTiming(0.05, 0.01), step_ul=Decimal("0.01"), heartbeat_s=3)
    assert slow.gap_s <= fast.gap_s
    assert fast.gap_s <= 3


def test_a_one_second_ten_microlitre_bolus_needs_a_fast_link() -> None:
    """SR-25: 10 uL in 1 s fits the bound over a 17 ms reading, not over a 30 ms one."""
    volume, rate = Decimal(10), Decimal(600)
    quick = plan_watch(
        volume, rate, LinkTiming(0.017, 0.006), step_ul=Decimal("0.01"), heartbeat_s=3
    )
    slow = plan_watch(
        volume, rate, LinkTiming(0.030, 0.010), step_ul=Decimal("0.01"), heartbeat_s=3
    )
    assert quick.feasible and quick.worst_overshoot_ul <= Decimal("0.5")
    assert not slow.feasible


def _uncached_plan(
    volume: Decimal, rate: Decimal, timing: LinkTiming, step: Decimal, heartbeat_s: float
) -> object:
    """The plan computed afresh: the cache bypassed through the function it wraps."""
    context = decimal.getcontext()
    return overshoot._plan_watch.__wrapped__(  # type: ignore[attr-defined]
        str(volume), str(rate), timing, str(step), heartbeat_s, context.prec, context.rounding
    )


@settings(max_examples=200, deadline=None)
@given(runaways())
def test_a_kept_plan_is_the_one_a_fresh_computation_gives(case: Runaway) -> None:
    """SR-25: the plans plan_watch keeps between readings equal a fresh computation for the
    same inputs, asked twice (the second answer kept) and after the same numbers written
    otherwise (10 and 10.0 are kept apart: each plan repeats the volume it was asked about)."""
    args = (case.volume, case.rate, case.timing, case.step, case.heartbeat_s)
    first = plan_watch(*args[:3], step_ul=case.step, heartbeat_s=case.heartbeat_s)
    again = plan_watch(*args[:3], step_ul=case.step, heartbeat_s=case.heartbeat_s)
    assert first == again == _uncached_plan(*args)
    wide = case.volume.quantize(Decimal("0.0001"))  # equal in value, another exponent
    other = plan_watch(
        wide, case.rate, case.timing, step_ul=case.step, heartbeat_s=case.heartbeat_s
    )
    assert str(other.volume_ul) == str(wide)
    assert other == _uncached_plan(wide, case.rate, case.timing, case.step, case.heartbeat_s)


def test_a_kept_plan_follows_the_decimal_context() -> None:
    """SR-25: the arithmetic's precision is part of the question; a plan kept under one
    context is not the answer under another."""
    volume, rate, step = Decimal("10"), Decimal("7"), Decimal("0.001")
    timing = LinkTiming(0.013, 0.007)
    default = plan_watch(volume, rate, timing, step_ul=step, heartbeat_s=2.0)
    with decimal.localcontext() as coarse:
        coarse.prec = 6
        narrow = plan_watch(volume, rate, timing, step_ul=step, heartbeat_s=2.0)
        assert narrow == _uncached_plan(volume, rate, timing, step, 2.0)
    assert narrow.worst_overshoot_ul != default.worst_overshoot_ul
    assert plan_watch(volume, rate, timing, step_ul=step, heartbeat_s=2.0) == default
