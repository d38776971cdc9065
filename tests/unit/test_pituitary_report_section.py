"""The report's optional predicted-pituitary section (``pumpctl report --pituitary``).

The prediction is computed from the pulses the journal says moved fluid and rendered as plain
numbers by every format that carries it; it is labelled a model wherever it appears.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.physiology.predict import rested_amplitude, standard_amplitude
from pumpctl.physiology.reported import DeliveredPulse, pituitary_response, report_pituitary
from pumpctl.report import build_report, write_report
from pumpctl.report.csvfmt import PITUITARY_COLUMN
from pumpctl.report.html import render_html
from tests.report_journals import known_journal

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


def _regular(days: int, interval_min: int = 90, bolus_min: float = 1.0) -> list[DeliveredPulse]:
    count = days * 1440 // interval_min
    return [
        DeliveredPulse(
            START + timedelta(minutes=interval_min * k),
            START + timedelta(minutes=interval_min * k + bolus_min),
            10.0,
            f"S{k}",
        )
        for k in range(count)
    ]


def test_section_is_labelled_as_a_model_and_has_a_row_per_local_day() -> None:
    """Two days of 90-min pulses: title and caveat say model, not measurement; one row per
    local day of Europe/Berlin (three, since the UTC days straddle local midnights); every
    pulse has its own response; a short period carries the LH curve; nothing is blunted."""
    pulses = _regular(2)
    r = pituitary_response(pulses, START, START + timedelta(days=2), "Europe/Berlin", 10.0)
    assert "model, not a measurement" in r.title
    assert "not a measurement of this patient" in r.caveat
    assert [str(p.start) for p in r.periods] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    # Local midnight is 23:00 UTC: 00:00-22:30 UTC, then 24:00-46:30 UTC, then 23:00-24:00.
    assert [p.pulses for p in r.periods] == [16, 16, 0]
    assert r.periods[-1].median_relative is None
    assert sorted(r.by_slot) == sorted(p.slot_id for p in pulses)
    assert sum(p.blunted for p in r.periods) == 0
    assert r.curve_times and len(r.curve_times) == len(r.curve_release)
    assert "0 blunted" in r.summary


def test_a_missing_end_counts_as_a_one_minute_bolus() -> None:
    """A pulse the journal has no end for is predicted as the reference 1-min bolus."""
    ended = [DeliveredPulse(START, START + timedelta(minutes=1), 10.0, "a")]
    open_ = [DeliveredPulse(START, None, 10.0, "a")]
    end = START + timedelta(hours=3)
    assert pituitary_response(ended, START, end, "UTC", 10.0).by_slot == (
        pituitary_response(open_, START, end, "UTC", 10.0).by_slot
    )


def test_long_periods_are_summarised_per_week_without_a_curve() -> None:
    """60 days at week grain: one period per ISO week (Monday starts), the pulses all
    counted, no minute-by-minute curve (a long period is bars, never a solid block)."""
    pulses = _regular(60)
    r = pituitary_response(pulses, START, START + timedelta(days=60), "UTC", 10.0, grain="week")
    assert r.curve_times == ()
    assert all(p.start.weekday() == 0 for p in r.periods)
    assert len(r.periods) == 9  # 5 Jan (a Monday) + 60 days ends on Wed 6 Mar: 9 weeks
    assert sum(p.pulses for p in r.periods) == len(pulses)


def test_half_hour_pulses_every_hour_are_predicted_blunted() -> None:
    """30-min boluses every 60 min (the "slow pulse" fault pattern, docs/pituitary.md):
    after the first day the model's LH pulses fall below half of the standard regimen's
    (Heinze et al. 1998, Fig. 6: long pulses desensitize), and the section counts them."""
    pulses = _regular(3, interval_min=60, bolus_min=30.0)
    r = pituitary_response(pulses, START, START + timedelta(days=3), "UTC", 10.0)
    last_day = r.periods[-1]
    assert last_day.median_relative is not None and last_day.median_relative < 0.5
    assert last_day.blunted == last_day.pulses > 0


def test_known_journal_prediction_uses_only_pulses_that_moved_fluid(tmp_path: Path) -> None:
    """The reference journal: the five pulses that moved fluid are predicted, the two
    uncertain ones are left out and said so; the first pulse, given to a rested pituitary,
    has the LH pulse `rested_amplitude` gives independently, over the standard regimen's."""
    known = known_journal(tmp_path / "journal.sqlite3")
    report = report_pituitary(build_report(known.path))
    r = report.pituitary
    assert r is not None
    moved = {"d1_0800", "d1_0930", "d1_1100", "d1_1530", "d2_0800"}
    assert set(r.by_slot) == {known.slot_ids[k] for k in moved}
    assert r.left_out == ("2 uncertain pulses (unknown if fluid moved)",)
    expected = rested_amplitude(10.0, 1.0) / standard_amplitude(10.0)
    assert r.by_slot[known.slot_ids["d1_0800"]] == pytest.approx(expected, rel=1e-3)
    # The partial 6 µg pulse gives a smaller LH pulse than the full 10 µg one before it.
    assert r.by_slot[known.slot_ids["d1_1100"]] < r.by_slot[known.slot_ids["d1_0930"]]


def test_every_format_labels_the_prediction_a_model(tmp_path: Path) -> None:
    """HTML: its own section, titled and captioned as a model, figure and table. CSV: one
    more column named as a model output, filled for pulses that moved fluid only. JSON: a
    ``pituitary`` object that says it is a model prediction, and the same per-slot value."""
    known = known_journal(tmp_path / "journal.sqlite3")
    html = write_report(known.path, "html", tmp_path / "r.html", pituitary=True).read_text()
    assert '<section id="pituitary">' in html
    assert "<h2>Predicted pituitary response (model, not a measurement)</h2>" in html
    assert 'id="fig-pituitary"' in html and "MODEL, not a measurement" in html
    assert 'id="pituitary-table"' in html
    assert "Not in the prediction: 2 uncertain pulses" in html

    out = write_report(known.path, "csv", tmp_path / "r.csv", pituitary=True)
    with out.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    filled = {r["slot_id"] for r in rows if r[PITUITARY_COLUMN]}
    moved = {"d1_0800", "d1_0930", "d1_1100", "d1_1530", "d2_0800"}
    assert filled == {known.slot_ids[k] for k in moved}

    data = json.loads(
        write_report(known.path, "json", tmp_path / "r.json", pituitary=True).read_text()
    )
    assert data["pituitary"]["is_model_prediction"] is True
    assert "model, not a measurement" in data["pituitary"]["title"]
    by_csv = {r["slot_id"]: r[PITUITARY_COLUMN] for r in rows}
    for slot in data["slots"]:
        value = slot[PITUITARY_COLUMN]
        assert ("" if value is None else f"{value:.4f}") == by_csv[slot["slot_id"]]


def test_without_the_flag_no_format_mentions_the_model(tmp_path: Path) -> None:
    """The section, the CSV column and the JSON object appear only when asked for."""
    known = known_journal(tmp_path / "journal.sqlite3")
    report = build_report(known.path)
    assert report.pituitary is None
    assert "pituitary" not in render_html(report)
    header = write_report(known.path, "csv", tmp_path / "r.csv").read_text().splitlines()[0]
    assert PITUITARY_COLUMN not in header
    data = json.loads(write_report(known.path, "json", tmp_path / "r.json").read_text())
    assert "pituitary" not in data


def test_fhir_refuses_the_prediction_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FHIR bundle carries records, not model output: usage error (2), before any work."""
    known = known_journal(tmp_path / "journal.sqlite3")
    out = tmp_path / "bundle.json"
    code = main(["report", "-j", str(known.path), "--format", "fhir", "--pituitary",
                 "-o", str(out)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not model predictions" in err[0]
    assert not out.exists()


def test_without_the_model_extra_the_flag_names_it_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No scipy: one line naming pumpctl[model], exit 1, no report written."""
    known = known_journal(tmp_path / "journal.sqlite3")
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.integrate", None)
    out = tmp_path / "r.html"
    assert main(["report", "-j", str(known.path), "--pituitary", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pumpctl[model]" in err[0] and "scipy" in err[0]
    assert not out.exists()


def test_the_report_without_the_flag_never_imports_the_model_packages(tmp_path: Path) -> None:
    """A fresh interpreter writes the HTML, PDF-less formats' report without --pituitary and
    has imported none of numpy, scipy, matplotlib (the daemon's hosts need not have them)."""
    known = known_journal(tmp_path / "journal.sqlite3")
    script = (
        "import sys\n"
        "from pumpctl.cli import main\n"
        f"for fmt in ('html', 'csv', 'json', 'fhir'):\n"
        f"    assert main(['report', '-j', {str(known.path)!r}, '--format', fmt, "
        f"'-o', {str(tmp_path)!r} + '/r.' + fmt]) == 0\n"
        "loaded = sorted(m for m in ('numpy', 'scipy', 'matplotlib') if m in sys.modules)\n"
        "print(','.join(loaded) or 'none')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip().splitlines()[-1] == "none"
