"""Shared builders and fixtures for tests of the pure core."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Limits, Prescription

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def make_prescription(**overrides: object) -> Prescription:
    values: dict[str, object] = {
        "dose_ug": Decimal(5),
        "concentration_ug_per_ml": Decimal(1000),
        "interval_min": 90,
        "pulse_duration_s": 60,
        "anchor": T0,
    }
    values.update(overrides)
    return Prescription(**values)  # type: ignore[arg-type]


@pytest.fixture
def prescription() -> Prescription:
    return make_prescription()


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0, elapsed_s=10_000.0)
