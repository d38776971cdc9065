"""docs/clinical-parameters.md states the numbers the code uses, and cites a source for each."""

from __future__ import annotations

import re
from pathlib import Path

from pumpctl.core.exposure import DEFAULT_PK, default_threshold, steady_state_trough_fraction
from pumpctl.core.model import HardCeiling, Limits
from pumpctl.report import sources

DOC = (Path(__file__).resolve().parents[2] / "docs" / "clinical-parameters.md").read_text(
    encoding="utf-8"
)


def _row(first_cell: str) -> list[str]:
    """The cells of the table row that starts with ``first_cell``."""
    for line in DOC.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r} in docs/clinical-parameters.md")


def test_steady_state_table_is_the_models() -> None:
    """The pre-pulse table is what the exposure model computes, to two decimals."""
    intervals = [int(c) for c in _row("interval (min)")[1:]]
    stated = [float(c) for c in _row("pre-pulse level / one pulse's peak, steady state")[1:]]
    computed = [round(steady_state_trough_fraction(i, 1.0), 2) for i in intervals]
    assert stated == computed


def test_the_default_threshold_and_its_cap_are_as_stated() -> None:
    """0.21 at the default 90-min minimum interval; never above the 0.5 ceiling."""
    assert round(default_threshold(Limits().min_interval_min), 2) == 0.21
    assert "(0.21 at 90 min) | 0.5 |" in DOC
    assert default_threshold(60) == HardCeiling.MAX_EXPOSURE_FRACTION == 0.5


def test_pharmacokinetic_parameters_are_the_models() -> None:
    """V, CL, absorption half-life and bioavailability in the doc are the code's defaults."""
    assert _row("volume of distribution V")[1] == f"{DEFAULT_PK.volume_l:g} L"
    assert _row("clearance CL")[1] == f"{DEFAULT_PK.clearance_l_per_min:g} L/min"
    assert _row("absorption half-life")[1] == f"{DEFAULT_PK.absorption_half_life_min:g} min"
    assert _row("bioavailability F")[1] == f"{DEFAULT_PK.bioavailability:g}"
    assert _row("elimination rate ke = CL / V")[1] == f"{DEFAULT_PK.ke_per_min:.3f} /min"
    assert _row("absorption rate ka = ln 2 / 24 min")[1] == f"{DEFAULT_PK.ka_per_min:.4f} /min"


def test_limits_table_matches_the_defaults_and_the_hard_ceilings() -> None:
    """Each limit's default and hard ceiling in the doc is the code's."""
    d, c = Limits(), HardCeiling
    assert _row("minimum interval between pulse starts")[1:3] == [
        f"{d.min_interval_min} min",
        f"never below {c.MIN_INTERVAL_MIN} min",
    ]
    assert _row("pulses per rolling 24 h")[1:3] == [str(d.max_pulses_24h), str(c.MAX_PULSES_24H)]
    assert _row("dose per pulse")[2] == f"{c.MAX_DOSE_PER_PULSE_UG} µg"
    assert _row("dose per pulse")[1].startswith(f"{d.max_dose_per_pulse_ug} µg")
    assert _row("dose per rolling 24 h")[1:3] == [
        f"{d.max_dose_24h_ug} µg",
        f"{c.MAX_DOSE_24H_UG} µg",
    ]
    assert _row("pulse duration (bolus length)")[1:3] == [
        f"{d.max_pulse_duration_s} s",
        f"{c.MAX_PULSE_DURATION_S} s",
    ]
    assert _row("grace window (a pulse may start late)")[1:3] == [
        f"{d.grace_min} min",
        f"{c.MAX_GRACE_MIN} min",
    ]
    assert _row("missed-pulse alarm")[1].startswith(f"slot time + {d.missed_alarm_min} min")


def test_every_citation_has_a_reference_and_every_reference_is_cited() -> None:
    """No number cites a source the reference list lacks; no reference is left unused."""
    body, _, references = DOC.partition("## References")
    cited = set(re.findall(r"\[([A-Z][A-Za-z]+(?: label)? ?\d{0,8})\]", body))
    listed = set(re.findall(r"\*\*\[([^\]]+)\]\*\*", references))
    assert cited - {"derived"} == listed
    assert listed  # the pattern found them


def _doc_references() -> dict[str, str]:
    """Each reference of the page's list, keyed by citation, markdown removed."""
    _, _, references = DOC.partition("## References")
    items = re.split(r"\n- ", "\n" + references.strip())
    out: dict[str, str] = {}
    for item in filter(None, (i.strip() for i in items)):
        keys = re.findall(r"\*\*\[([^\]]+)\]\*\*", item)
        text = re.sub(r"^(\*\*\[[^\]]+\]\*\*,?\s*)+", "", item)
        text = " ".join(text.replace("*", "").split())
        for key in keys:
            out[key] = text
    return out


def test_the_report_prints_the_same_references_as_the_page() -> None:
    """The sources a report carries are the page's references, word for word."""
    assert _doc_references() == sources.REFERENCES


def test_every_number_the_report_prints_cites_a_known_source() -> None:
    """Each clinical number in a report's sources table cites a reference (or is derived)."""
    rows = sources.numbers(Limits())
    assert rows
    for what, _, keys in rows:
        assert keys, what
        assert set(keys) <= set(sources.REFERENCES) | {sources.DERIVED}, what
