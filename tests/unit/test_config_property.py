"""Property tests: whatever the file says, loading ends in a Config or in a ConfigError."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpctl.config import parse_config_text
from pumpctl.config.sections import ConfigDocument
from pumpctl.core.model import HardCeiling
from pumpctl.errors import ConfigError
from tests.unit.config_samples import dumps, valid_document

SECTIONS = {name: field.annotation for name, field in ConfigDocument.model_fields.items()}
KEYS = sorted(
    {key for model in SECTIONS.values() for key in getattr(model, "model_fields", {})}
    | {"dose_mg", "interval_h", "profile", "unknown"}
)

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=-1000, max_value=1000, places=4),
    st.text(max_size=20),
    st.sampled_from(["08:00", "22:00", "24:00", "socket://h:1", "/dev/x", "5 mg", "Europe/Berlin"]),
    st.times(),
    st.dates(min_value=date(1, 1, 1)),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.builds(
        lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        st.integers(min_value=-1439, max_value=1439),
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)
tables = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)
documents = st.dictionaries(
    st.sampled_from([*SECTIONS, "extra"]), tables | values, max_size=len(SECTIONS) + 1
)


def _outcome(text: str) -> str:
    """Load the text; only success or ConfigError may come out (anything else fails the test)."""
    try:
        parse_config_text(text)
    except ConfigError as err:
        assert err.problems
        assert all(line and "\n" not in line for line in err.problems)
        return "refused"
    return "accepted"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents_give_config_or_config_error(document: dict[str, Any]) -> None:
    """SR-24: any document of known-looking sections and random values fails only as ConfigError."""
    _outcome(dumps(document))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_random_text_gives_config_or_config_error(text: str) -> None:
    """SR-24: arbitrary text, however malformed, fails only as ConfigError."""
    _outcome(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(SECTIONS)),
    st.sampled_from(KEYS),
    values,
)
def test_one_random_change_keeps_limits_within_ceilings(section: str, key: str, value: Any) -> None:
    """SR-03: whatever one field is changed to, an accepted config stays within hard ceilings."""
    document = valid_document()
    document.setdefault(section, {})[key] = value
    try:
        config = parse_config_text(dumps(document))
    except ConfigError:
        return
    limits, p = config.limits, config.prescription
    assert limits.min_interval_min >= HardCeiling.MIN_INTERVAL_MIN
    assert limits.max_pulses_24h <= HardCeiling.MAX_PULSES_24H
    assert limits.max_dose_per_pulse_ug <= HardCeiling.MAX_DOSE_PER_PULSE_UG
    assert limits.max_dose_24h_ug <= HardCeiling.MAX_DOSE_24H_UG
    assert limits.max_pulse_duration_s <= HardCeiling.MAX_PULSE_DURATION_S
    assert p.dose_ug <= limits.max_dose_per_pulse_ug
    assert p.volume_exact
    assert p.volume_ul <= limits.max_pulse_volume_ul
    assert p.shortest_interval_min >= limits.min_interval_min
    assert p.pulse_duration_s <= limits.max_pulse_duration_s
    assert p.max_pulses_per_24h <= limits.max_pulses_24h
    assert p.max_daily_dose_ug <= limits.max_dose_24h_ug
    assert isinstance(p.dose_ug, Decimal)
