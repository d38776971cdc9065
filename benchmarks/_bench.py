"""Shared bits of the benchmarks: find the repository, print a figure against its target."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # The benchmarks reuse the end-to-end bench (tests/e2e/harness.py) from a source checkout.
    sys.path.insert(0, str(ROOT))


def figure(name: str, value: str, target: str, met: bool | None = None, floor: str = "") -> None:
    """One ``FIGURE | VALUE | TARGET [| FLOOR]`` line, the format ``benchmarks/run`` collects.

    ``floor`` is what the same work costs with nothing of pumpctl in the way (a raw fsync, a raw
    SHA-256, the wire time of the bytes), measured in the same run on the same host.
    """
    verdict = "" if met is None else (" (met)" if met else " (NOT met)")
    tail = f" | {floor}" if floor else ""
    print(f"{name} | {value} | {target}{verdict}{tail}")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: a value that was actually measured)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def describe(values: list[float]) -> str:
    return (
        f"n={len(values)} p50={statistics.median(values):.1f} "
        f"p99={percentile(values, 0.99):.1f} max={max(values):.1f}"
    )
