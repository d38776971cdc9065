"""Print and save the reliability campaign's numbers at the end of a run that collected any."""

from __future__ import annotations

import pytest

from tests.reliability import campaign_numbers


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not campaign_numbers.NUMBERS:
        return
    marks = str(terminalreporter.config.option.markexpr)
    form = "long" if "long" in marks and "not long" not in marks else "short"
    path = campaign_numbers.write(form)
    terminalreporter.section("reliability campaign")
    for line in campaign_numbers.report_lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(saved to {path})")


@pytest.fixture(params=["ne1000", "harvard11"])
def driver(request: pytest.FixtureRequest) -> str:
    """Each campaign case runs once per pump family, each against its own pumpsim."""
    name: str = request.param
    return name
