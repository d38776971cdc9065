"""Property tests: an interval equal to its limit is allowed in every slot of a plan, every time.

The plan judges each coming slot with the safety gate on a virtual clock that starts at any
instant, microseconds included. Time is exact, so a prescription whose interval equals the
minimum interval, or equals the spacing of the 24 h pulse cap (and whose daily dose equals the
24 h dose cap), never shows a false denial.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pumpctl.config import Config, parse_config_text
from pumpctl.core.preview import preview

#: Caps whose spacing is a whole number of minutes of at least the 60-min floor.
SPACED_CAPS = [n for n in range(1, 25) if 1440 % n == 0]
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
    duration = draw(st.integers(min_value=1, max_value=60))
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
