"""``pumpctl simulate --pituitary``: predicted LH from the simulator's ledger, and a model-only
counterfactual beside the interlocked run."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from pumpctl.cli import main

pytestmark = pytest.mark.timeout(240)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_pituitary_predicts_one_lh_pulse_per_physical_pulse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A day of the demo prescription: one predicted LH pulse per infusion in the ledger, none
    blunted, the figure and the three tables written beside the journal, labelled as a model."""
    journal = tmp_path / "day.sqlite3"
    assert main(["simulate", "--days", "1", "-j", str(journal), "--pituitary"]) == 0
    out = capsys.readouterr().out
    assert "predicted pituitary response (model, not a measurement)" in out
    assert "0 blunted" in out
    starts = int(out.split("physical pulse starts (ledger): ")[1].split(";")[0])
    pulses = _rows(tmp_path / "day.pituitary-pulses.csv")
    assert len(pulses) == starts > 10
    assert all(float(r["relative_to_standard_regimen"]) > 0.8 for r in pulses[:-1])
    days = _rows(tmp_path / "day.pituitary-days.csv")
    assert sum(int(d["pulses"]) for d in days) == starts
    assert all(d["blunted_pulses"] == "0" for d in days)
    trace = _rows(tmp_path / "day.pituitary-trace.csv")
    assert len(trace) >= 24 * 12
    assert (tmp_path / "day.pituitary.svg").read_text(encoding="utf-8").startswith("<svg")


def test_unchecked_runaway_collapses_predicted_lh_beside_the_interlocked_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A runaway at the 8th RUN: the interlocked run (the daemon stops it) keeps every later LH
    pulse above 80 % of the standard regimen's; the model-only counterfactual, the same runaway
    left to empty the syringe, drives a later LH pulse below 10 %."""
    journal = tmp_path / "runaway.sqlite3"
    argv = ["simulate", "--days", "1", "-j", str(journal), "--fault", "runaway@run:8"]
    assert main([*argv, "--pituitary-compare", "runaway"]) == 0
    out = capsys.readouterr().out
    assert "MODEL-ONLY counterfactual, interlock bypassed in the model, never in the daemon" in out
    rows = _rows(tmp_path / "runaway.pituitary-pulses.csv")
    runs = sorted({r["run"] for r in rows})
    assert len(runs) == 2
    interlocked = [r for r in rows if r["run"].startswith("interlocked")]
    model_only = [r for r in rows if r["run"].startswith("MODEL-ONLY")]
    after = interlocked[8:-1]
    assert min(float(r["relative_to_standard_regimen"]) for r in after) > 0.8
    assert min(float(r["relative_to_standard_regimen"]) for r in model_only) < 0.1
    # The counterfactual starts from the ledger's runaway: its pulse carries a full syringe.
    assert max(float(r["dose_ug"]) for r in model_only) == pytest.approx(1000.0)


def test_continuous_counterfactual_leaves_no_lh_pulses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same drug as a continuous infusion from 12 h: no pulse after 12 h, and LH release
    over the last 6 h varies by under 2 % while the interlocked run's varies by over 10 %."""
    journal = tmp_path / "flat.sqlite3"
    argv = ["simulate", "--days", "1", "-j", str(journal), "--pituitary-compare", "continuous"]
    assert main([*argv, "--pituitary-from-h", "12"]) == 0
    capsys.readouterr()
    trace = _rows(tmp_path / "flat.pituitary-trace.csv")
    for prefix, low, high in (("MODEL-ONLY", 0.0, 0.02), ("interlocked", 0.10, 10.0)):
        release = [
            float(r["lh_release_relative_to_basal"]) for r in trace if r["run"].startswith(prefix)
        ]
        last = release[-6 * 12 :]
        spread = (max(last) - min(last)) / max(last)
        assert low <= spread < high, (prefix, spread)


def test_pituitary_without_the_model_extra_names_it_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without scipy, --pituitary says to install pumpctl[model] in one line and exits 1 before
    simulating anything."""
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.integrate", None)
    journal = tmp_path / "none.sqlite3"
    assert main(["simulate", "--days", "1", "-j", str(journal), "--pituitary"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "install pumpctl[model]" in err
    assert "scipy" in err
    assert "Traceback" not in err
    assert not journal.exists()


def test_pituitary_refuses_to_overwrite_its_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing prediction file is never overwritten: exit 78, nothing simulated."""
    (tmp_path / "again.pituitary.svg").write_text("kept", encoding="utf-8")
    journal = tmp_path / "again.sqlite3"
    assert main(["simulate", "--days", "1", "-j", str(journal), "--pituitary"]) == 78
    assert "again.pituitary.svg exists" in capsys.readouterr().err
    assert (tmp_path / "again.pituitary.svg").read_text(encoding="utf-8") == "kept"
    assert not journal.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pituitary", "--pituitary-from-h", "2"], "only a --pituitary-compare"),
        (["--pituitary-compare", "slow-pulse", "--pituitary-from-h", "24"], "the run lasts 24 h"),
    ],
)
def test_counterfactual_start_outside_the_run_is_refused_before_simulating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """A counterfactual start without a counterfactual, or after the run, is one clear line."""
    journal = tmp_path / "bad.sqlite3"
    assert main(["simulate", "--days", "1", "-j", str(journal), *extra]) == 78
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert not journal.exists()
