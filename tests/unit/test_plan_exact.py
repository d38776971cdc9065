"""Property tests: an interval equal to its limit is allowed in every slot of a plan, every time.

The plan judges each coming slot with the safety gate on a virtual clock that starts at any
instant, microseconds included. Time is exact, so a prescription whose interval equals the
minimum interval, or equals the spacing of the 24 h pulse cap (and whose daily dose equals the
24 h dose cap), never shows a false denial.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pumpctl.config import Config, parse_config_text
from pumpctl.core.clock import VirtualClock
from pumpctl.core.gate import GateContext, authorize, wait_in_window
from pumpctl.core.model import Limits, Outcome, PulseRecord
from pumpctl.core.planner import Planner
from pumpctl.core.preview import preview

#: Caps whose spacing is a whole number of minutes of at least the 60-min floor.
SPACED_CAPS = [n for n in range(1, 25) if 1440 % n == 0]
#: Pulse durations (s) whose rates the configurations below can be sent exactly (see above).
SENDABLE_DURATIONS_S = [2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]

instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@st.composite
def prescriptions_on_a_limit(draw: st.DrawFn) -> tuple[str, str]:
    """(configuration text, which limit the interval equals).

    The 24 h caps are set to exactly what the cadence reaches (pulses and dose), so every cap
    sits on its limit too.
    """
    which = draw(st.sampled_from(["min-interval", "24h-cap", "both"]))
    if which == "min-interval":
        interval = draw(st.integers(min_value=60, max_value=240))
        min_interval = interval
    else:
        cap = draw(st.sampled_from(SPACED_CAPS))
        interval = 1440 // cap
        min_interval = interval if which == "both" else draw(st.integers(60, interval))
    night = draw(st.one_of(st.none(), st.integers(interval, max(interval, 300))))
    # Starts `interval` apart in a window 24 h less the 1-s start-latency allowance long:
    # n of them fit when (n - 1) x interval is shorter than the window.
    max_pulses = -(-(86_400 - 1) // (interval * 60))
    dose = draw(st.integers(min_value=1, max_value=600 // max_pulses).filter(lambda d: d <= 25))
    # Durations dividing a minute keep the rate a whole uL/min the NE-1000 can be told exactly,
    # and from 2 s a runaway at 19200 baud stays within the SR-25 bound: `config check` refuses
    # the others (issue 10), which is not what this property is about.
    duration = draw(st.sampled_from(SENDABLE_DURATIONS_S))
    anchor = draw(instants)
    zone = draw(st.sampled_from(ZONES))
    profile = (
        ""
        if night is None
        else f'[[prescription.profile]]\nstart = "22:00"\nend = "06:00"\ninterval_min = {night}\n'
    )
    text = f"""
[prescription]
dose_ug = {dose}
concentration_ug_per_ml = 1000
interval_min = {interval}
pulse_duration_s = {duration}
anchor = "{anchor.isoformat()}"
timezone = "{zone}"
{profile}
[limits]
min_interval_min = {min_interval}
max_pulses_24h = {max_pulses}
max_dose_per_pulse_ug = {dose}
max_dose_24h_ug = {dose * max_pulses}
max_pulse_volume_ul = {dose}
max_pulse_duration_s = 60

[pump]
driver = "ne1000"
url = "socket://127.0.0.1:7777"
syringe_diameter_mm = 4.78
syringe_volume_ul = 1000

[journal]
state_dir = "/nonexistent"
"""
    return text, which


def plan(config: Config, start: datetime, hours: int) -> list[str]:
    rows = preview(config.prescription, config.limits, start, hours)
    return [f"{r.slot.slot_id}: {r.decision.details}" for r in rows if r.decision.reasons]


@settings(max_examples=150, deadline=None)
@given(prescriptions_on_a_limit(), st.integers(min_value=0, max_value=3 * 86_400 * 10**6))
def test_an_interval_equal_to_its_limit_is_allowed_from_any_start(
    case: tuple[str, str], offset_us: int
) -> None:
    """SR-32: a plan from any instant (µs offsets too) allows every slot of such a prescription."""
    text, _ = case
    config = parse_config_text(text)
    start = config.prescription.anchor + timedelta(microseconds=offset_us)
    assert plan(config, start, hours=50) == []


@settings(max_examples=100, deadline=None)
@given(instants, st.sampled_from(ZONES))
def test_the_shipped_cadence_plans_clean_from_any_instant(now: datetime, zone: str) -> None:
    """SR-32: the default 90/90 with 16 pulses a day, anchored at any instant: nothing denied."""
    config = parse_config_text(
        f"""
[prescription]
dose_ug = 10
concentration_ug_per_ml = 1000
interval_min = 90
pulse_duration_s = 60
anchor = "08:00"
timezone = "{zone}"

[limits]
min_interval_min = 90
max_pulses_24h = 16
max_dose_24h_ug = 160

[pump]
driver = "ne1000"
url = "socket://127.0.0.1:7777"
syringe_diameter_mm = 4.78
syringe_volume_ul = 1000

[journal]
state_dir = "/nonexistent"
""",
        now=now,
    )
    assert plan(config, max(now, config.prescription.anchor), hours=48) == []


def judged_on_everything(config: Config, limits: Limits, start: datetime, hours: int) -> list[str]:
    """The plan computed the slow way: every planned pulse kept and handed to the gate."""
    clock = VirtualClock(start, boot_id="plan")
    ctx = GateContext(limits=limits)
    records: list[PulseRecord] = []
    verdicts = []
    for slot in Planner(config.prescription).slots_between(start, start + timedelta(hours=hours)):
        clock.advance_to(slot.scheduled)
        decision = authorize(slot, records, clock, ctx)
        # The daemon's quiet wait inside the window, as the plan shows it.
        while (wait := wait_in_window(slot, decision, clock.now(), limits)) is not None:
            clock.advance(wait)
            decision = authorize(slot, records, clock, ctx)
        starts = clock.now() if decision.allowed else slot.scheduled
        verdicts.append(
            f"{slot.slot_id} {decision.reasons} {decision.predicted_level_fraction} {starts}"
        )
        if decision.allowed:
            records.append(
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
    return verdicts


@settings(max_examples=25, deadline=None)
@given(
    prescriptions_on_a_limit(),
    st.integers(min_value=0, max_value=86_400 * 10**6),
    st.integers(min_value=1, max_value=16),
    st.integers(min_value=1, max_value=16),
)
def test_a_plan_that_forgets_old_pulses_judges_as_one_that_keeps_them(
    case: tuple[str, str], offset_us: int, max_pulses: int, dose_cap_pulses: int
) -> None:
    """The plan hands the gate only the pulses that can still matter (26 h), as the daemon does;
    the verdicts, denials included, are the ones the full history gives."""
    text, _ = case
    config = parse_config_text(text)
    p = config.prescription
    # Caps tighter than the cadence (which reaches exactly config.limits), so the 24 h windows
    # deny and old pulses leave them.
    cadence = config.limits.max_pulses_24h
    assume(cadence >= 2)
    limits = replace(
        config.limits,
        max_pulses_24h=min(max_pulses, cadence - 1),
        max_dose_24h_ug=p.dose_ug * min(dose_cap_pulses, cadence - 1),
    )
    start = p.anchor + timedelta(microseconds=offset_us)
    rows = preview(p, limits, start, 72)
    fast = [
        f"{r.slot.slot_id} {r.decision.reasons} {r.decision.predicted_level_fraction} "
        f"{r.starts or r.slot.scheduled}"
        for r in rows
    ]

    # Only cases whose windows deny something test the forgetting: a night profile can leave the
    # cadence under the tightened caps (hypothesis fails the test if too few cases qualify).
    assume(any(not r.decision.allowed for r in rows))
    assert fast == judged_on_everything(config, limits, start, 72)
