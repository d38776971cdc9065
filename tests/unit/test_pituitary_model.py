"""The gonadotroph model's transcription, its bridge, and its two solvers against each other."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpctl.core.exposure import Infusion, level_pg_per_ml, single_pulse_peak
from pumpctl.core.pituitary import (
    HEINZE_1998,
    MOLAR,
    PAPER_PULSE_NM,
    GnrhBridge,
    GonadotrophState,
    derivatives,
)
from pumpctl.physiology.lh import integrate, pulse_responses, reference_trace
from pumpctl.physiology.plasma import levels, step_means
from pumpctl.physiology.protocols import (
    PAIRED_PULSES_END_MIN,
    PAIRED_PULSES_MIN,
    PAPER_INITIAL,
    square_level,
    square_pulses,
)

fractions = st.floats(min_value=0.0, max_value=1.0)


@given(fractions, fractions, st.floats(0.0, 50.0), st.floats(0.0, 5000.0))
def test_receptor_is_conserved(free: float, bound: float, gnrh: float, pool: float) -> None:
    """Binding, desensitization and recovery move receptor between states, never create it."""
    df, db, dd, _ = derivatives((free, bound, 1.0 - free - bound, pool), gnrh, HEINZE_1998)
    assert df + db + dd == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("gnrh_nm", [0.01, 0.1, 0.5, 10.0])
def test_closed_form_plateau_is_a_fixed_point(gnrh_nm: float) -> None:
    """At the closed-form plateau the receptor derivatives vanish."""
    b, d = HEINZE_1998.receptor_plateau(gnrh_nm)
    df, db, dd, _ = derivatives((1 - b - d, b, d, 200.0), gnrh_nm, HEINZE_1998)
    assert max(abs(df), abs(db), abs(dd)) < 1e-12


def test_resting_pituitary_stays_at_rest_without_gnrh() -> None:
    """With no GnRH the resting state (all receptor free, pool s/a1) does not move."""
    rest = GonadotrophState.resting()
    derivs = derivatives(
        (rest.free, rest.bound, rest.desensitized, rest.releasable_lh), 0.0, HEINZE_1998
    )
    assert derivs == pytest.approx((0.0, 0.0, 0.0, 0.0), abs=1e-12)
    trace = integrate(np.zeros(600), 1.0)
    assert trace.releasable[-1] == pytest.approx(HEINZE_1998.resting_pool, rel=1e-12)
    assert trace.release[-1] == pytest.approx(HEINZE_1998.basal_release_lh_per_h, rel=1e-12)


def test_molar_bridge_is_gonadorelin_molar_mass() -> None:
    """The default bridge converts pg/mL to nM by 1182.31 g/mol (C55H75N17O13)."""
    assert MOLAR.nm(1182.31) == pytest.approx(1.0)
    assert MOLAR.name == "molar"


def test_calibrated_bridge_maps_its_reference_peak_to_its_level() -> None:
    """A calibrated bridge turns its reference plasma peak into the chosen concentration."""
    peak = single_pulse_peak(5.0, 1.0)
    bridge = GnrhBridge.calibrated(peak, PAPER_PULSE_NM)
    assert bridge.nm(peak) == pytest.approx(PAPER_PULSE_NM)
    with pytest.raises(ValueError, match="positive"):
        GnrhBridge.calibrated(0.0, 0.5)


def test_vectorized_plasma_equals_the_gates_exposure_model() -> None:
    """The grid plasma levels equal exposure.level_pg_per_ml, the gate's own model."""
    pulses = [Infusion(90.0 * k, 10.0, 1.0) for k in range(40)] + [Infusion(1000.0, 7.0, 30.0)]
    times = np.linspace(0.0, 3700.0, 997)
    expected = np.array([level_pg_per_ml(pulses, float(t)) for t in times])
    assert np.max(np.abs(levels(pulses, times) - expected)) < 1e-9 * expected.max()


def test_step_means_are_the_exact_average_over_each_step() -> None:
    """Each step's mean equals the average of a fine sampling of the level within it."""
    pulses = [Infusion(3.3, 10.0, 1.0), Infusion(93.3, 10.0, 0.0), Infusion(150.2, 5.0, 30.0)]
    means = step_means(pulses, 0.0, 300, 1.0)
    fine = levels(pulses, np.arange(0.0, 300.0, 0.001) + 0.0005).reshape(300, 1000).mean(axis=1)
    assert np.max(np.abs(means - fine)) < 1e-4 * means.max()


def test_integrator_matches_solve_ivp_on_the_papers_protocol() -> None:
    """On the paired-pulse protocol the grid integrator agrees with solve_ivp (Radau) within
    0.1 % of the peak release at every grid point."""
    step = 0.5
    steps = round(PAIRED_PULSES_END_MIN / step)
    fast = integrate(
        square_pulses(PAIRED_PULSES_MIN, PAPER_PULSE_NM, steps, step), step, initial=PAPER_INITIAL
    )
    ref = reference_trace(
        lambda t: square_level(PAIRED_PULSES_MIN, PAPER_PULSE_NM, t),
        PAIRED_PULSES_END_MIN,
        step,
        breakpoints_min=[x for pulse in PAIRED_PULSES_MIN for x in pulse],
        initial=PAPER_INITIAL,
        rtol=1e-7,
        atol=1e-9,
    )
    assert np.max(np.abs(fast.release - ref.release)) < 1e-3 * ref.release.max()


def test_integrator_matches_solve_ivp_on_subcutaneous_pulses() -> None:
    """Driven by predicted plasma (10 µg every 90 min for 12 h, molar bridge), the 1-min
    integrator's LH pulse amplitudes agree with solve_ivp's within 0.5 %."""
    pulses = [Infusion(90.0 * k, 10.0, 1.0) for k in range(8)]
    end = 12 * 60.0
    fast = integrate(MOLAR.nm(1.0) * step_means(pulses, 0.0, round(end), 1.0), 1.0)
    ref = reference_trace(
        lambda t: MOLAR.nm(level_pg_per_ml(pulses, t)),
        end,
        1.0,
        breakpoints_min=[x for p in pulses for x in (p.start_min, p.start_min + 1.0)],
        rtol=1e-7,
        atol=1e-9,
    )
    keys = [(p.start_min, p.dose_ug, p.duration_min) for p in pulses]
    for a, b in zip(pulse_responses(fast, keys), pulse_responses(ref, keys), strict=True):
        assert a.amplitude == pytest.approx(b.amplitude, rel=5e-3)


def test_pulse_windows_run_from_one_start_to_the_next() -> None:
    """A pulse's window ends where the next begins; the last one at the end of the trace."""
    pulses = [(0.0, 1.0, 1.0), (90.0, 1.0, 1.0), (200.0, 1.0, 1.0)]
    trace = integrate(np.zeros(300), 1.0)
    responses = pulse_responses(trace, [*pulses, (400.0, 1.0, 1.0)], reference_amplitude=2.0)
    assert [r.window_min for r in responses] == [90.0, 110.0, 100.0]
    assert all(r.amplitude == pytest.approx(0.0, abs=1e-12) for r in responses)
    assert all(r.relative == pytest.approx(0.0, abs=1e-12) for r in responses)


def test_the_daemon_never_loads_the_model() -> None:
    """Building the command line and the daemon imports neither scipy nor the model's code."""
    code = (
        "import sys; from pumpctl.cli import build_parser; build_parser(); "
        "import pumpctl.daemon.assemble, pumpctl.daemon.runner; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy' or m in "
        "('pumpctl.core.pituitary', 'pumpctl.physiology.lh', 'pumpctl.physiology.predict')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
