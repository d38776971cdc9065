"""docs/hazards.md: its requirement → test index is what the tests' docstrings say today, and
every hazard cites requirements that tests prove."""

from __future__ import annotations

import re
from pathlib import Path

from tests.sr_index import BEGIN, END, HAZARDS, TITLES, collect, current, render, write


def hazard_rows() -> list[list[str]]:
    """The hazard table's rows as cells (hazard, cause, mitigation, SRs)."""
    text = HAZARDS.read_text()
    table = text.split("## Hazard table", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[1:]]


def test_the_generated_index_is_current() -> None:
    """The index in docs/hazards.md equals a fresh rendering of the tests' docstrings; when it
    fails, run `.venv/bin/python -m tests.sr_index --write` and commit the result."""
    assert current(HAZARDS.read_text()) == render(collect()), (
        "docs/hazards.md is stale: run .venv/bin/python -m tests.sr_index --write"
    )


def test_every_hazard_cites_known_requirements_that_tests_prove() -> None:
    """Each row names at least one SR; every SR it names exists, and at least one of them is
    named by a test (a hazard no test covers would read as mitigated when it is not)."""
    index = collect()
    rows = hazard_rows()
    assert len(rows) >= 10
    for cells in rows:
        cited = re.findall(r"SR-\d{2}", cells[-1])
        assert cited, cells
        assert set(cited) <= set(TITLES), cells
        assert any(index[sr] for sr in cited), cells


def test_the_issues_requirements_each_have_tests() -> None:
    """The requirements on the over-delivery paths (volume-bounded bolus, unexplained flow,
    settings read back, the device to the daemon alone) are each named by tests in more than one
    layer (unit, daemon, integration or end-to-end)."""
    index = collect()
    for sr in ("SR-25", "SR-26", "SR-27", "SR-31"):
        layers = {ref.path.split("/")[1] for ref in index[sr]}
        assert len(layers) >= 2, (sr, layers)


def test_the_index_follows_the_docstrings(tmp_path: Path) -> None:
    """A docstring naming an SR puts its test in the index (also in a Test class); a comment or
    a helper's docstring does not; write() replaces only what lies between the markers."""
    tests = tmp_path / "tests" / "unit"
    tests.mkdir(parents=True)
    (tests / "test_demo.py").write_text(
        '''
def helper():
    """SR-02: not a test."""

def test_interval():
    """SR-02, SR-32: two starts exactly the minimum interval apart are allowed. More text."""
    # SR-05 in a comment does not count

class TestCaps:
    def test_cap(self):
        """SR-03 the rolling cap denies."""
'''
    )
    index = collect(tmp_path)
    assert [r.node_id for r in index["SR-02"]] == ["tests/unit/test_demo.py::test_interval"]
    assert index["SR-02"][0].claim == "two starts exactly the minimum interval apart are allowed."
    assert [r.name for r in index["SR-32"]] == ["test_interval"]
    assert [r.name for r in index["SR-03"]] == ["TestCaps::test_cap"]
    assert index["SR-05"] == []
    doc = tmp_path / "hazards.md"
    doc.write_text(f"head\n{BEGIN}\nold\n{END}\ntail\n")
    assert write(doc, tmp_path) is True
    text = doc.read_text()
    assert text.startswith("head\n") and text.endswith("tail\n")
    assert "`tests/unit/test_demo.py::TestCaps::test_cap`" in text
    assert write(doc, tmp_path) is False
