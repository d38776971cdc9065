"""Inputs the paper itself used: square GnRH pulses in a perifusion chamber.

The paired-pulse protocol is the one the curated encodings of the paper's first model carry
(Physiome Model Repository ``heinze_keener_midgley_1998_a.cellml``; BioModels
MODEL0848507209): 0.5 nM GnRH for 4 min (one 5-min pulse), in four pairs whose second pulse
starts 24, 9, 14 and 45 min after the first, pairs about 2¼ h apart, over 588 min; the chamber
started with 2115 LH units releasable. See docs/pituitary.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pumpctl.core.pituitary import HEINZE_1998, PAPER_PULSE_NM, GonadotrophState
from pumpctl.physiology.plasma import FloatArray

#: (start, end) of each GnRH pulse, minutes.
PAIRED_PULSES_MIN: tuple[tuple[float, float], ...] = (
    (0.0, 4.0),
    (24.0, 28.0),
    (148.0, 152.0),
    (157.0, 161.0),
    (281.0, 285.0),
    (295.0, 299.0),
    (419.0, 424.0),
    (464.0, 468.0),
)
PAIRED_PULSES_END_MIN = 588.0

#: The encodings' initial state: all receptor free, 2115 LH units releasable.
PAPER_INITIAL = GonadotrophState(1.0, 0.0, 0.0, 2115.0)


def square_pulses(
    pulses: Sequence[tuple[float, float]], level_nm: float, steps: int, step_min: float
) -> FloatArray:
    """Exact mean over each grid step of GnRH at ``level_nm`` inside the pulses, 0 outside."""
    lo = step_min * np.arange(steps, dtype=np.float64)
    hi = lo + step_min
    out = np.zeros(steps, dtype=np.float64)
    for start, end in pulses:
        out += np.clip(np.minimum(hi, end) - np.maximum(lo, start), 0.0, None)
    return level_nm * out / step_min


def square_level(pulses: Sequence[tuple[float, float]], level_nm: float, t_min: float) -> float:
    """GnRH at ``t_min`` for square pulses (the reference solver's input)."""
    return level_nm if any(start <= t_min < end for start, end in pulses) else 0.0


def every(interval_min: float, pulse_min: float, end_min: float) -> list[tuple[float, float]]:
    """Square pulses of ``pulse_min`` every ``interval_min`` from 0 until ``end_min``."""
    count = int(np.ceil(end_min / interval_min))
    return [(k * interval_min, k * interval_min + pulse_min) for k in range(count)]


__all__ = [
    "HEINZE_1998",
    "PAIRED_PULSES_END_MIN",
    "PAIRED_PULSES_MIN",
    "PAPER_INITIAL",
    "PAPER_PULSE_NM",
    "every",
    "square_level",
    "square_pulses",
]
