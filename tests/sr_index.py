"""The requirement → test index of ``docs/hazards.md``, generated from the tests' docstrings.

A test proves a safety requirement by naming it (``SR-25``) in its docstring. This module reads
every ``tests/**/test_*.py`` with :mod:`ast` (nothing is imported or run), collects the tests
whose docstrings name each requirement, and renders the part of ``docs/hazards.md`` between
:data:`BEGIN` and :data:`END`. ``tests/unit/test_hazards_doc.py`` fails when that part differs
from a fresh rendering, so the index cannot go stale; regenerate it with::

    .venv/bin/python -m tests.sr_index --write
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HAZARDS = ROOT / "docs" / "hazards.md"
BEGIN = "<!-- BEGIN GENERATED: python -m tests.sr_index --write -->"
END = "<!-- END GENERATED -->"
SR_PATTERN = re.compile(r"\bSR-(\d{2})\b")

#: The requirements (../shared/reference/safety-requirements.md), by number: their titles.
TITLES: dict[str, str] = {
    "SR-01": "Bounded pulses only",
    "SR-02": "Minimum interval",
    "SR-03": "Rolling 24 h caps",
    "SR-04": "Deny, never clamp",
    "SR-05": "Exposure model",
    "SR-06": "Unintended flow",
    "SR-07": "Occlusion / partial delivery",
    "SR-08": "Intent before command",
    "SR-09": "Uncertain latch",
    "SR-10": "No catch-up",
    "SR-11": "Clock safety",
    "SR-12": "No pulse in alarm or suspension",
    "SR-13": "Self-test before therapy",
    "SR-14": "Pump-side watchdog",
    "SR-15": "Daemon watchdog",
    "SR-16": "Link faults",
    "SR-17": "Reservoir",
    "SR-18": "Single instance",
    "SR-19": "Complete, durable journal",
    "SR-20": "Tamper evidence",
    "SR-21": "Prescription changes",
    "SR-22": "Alarms",
    "SR-23": "Local control only",
    "SR-24": "Bad input",
    "SR-25": "Volume-bounded bolus",
    "SR-26": "Unexplained flow",
    "SR-27": "Pump settings verified before every RUN",
    "SR-28": "Decisions only from verified records",
    "SR-29": "At-most-once control",
    "SR-30": "Latched alarms survive restarts",
    "SR-31": "The pump answers to the daemon alone",
    "SR-32": "Exact time arithmetic",
}


@dataclass(frozen=True, order=True)
class TestRef:
    """One test that names a requirement: where it is and what it claims (first sentence)."""

    path: str
    name: str
    claim: str

    @property
    def node_id(self) -> str:
        return f"{self.path}::{self.name}"


def first_sentence(docstring: str) -> str:
    """The docstring's claim up to its first full stop, on one line, without the SR labels."""
    text = " ".join(docstring.split())
    end = re.search(r"\.(\s|$)", text)
    text = text[: end.start() + 1] if end else text
    text = re.sub(r"^(SR-\d{2}(\s+and\s+|[,/\s]+)?)+:?\s*", "", text)
    return text.replace("|", "\\|")


def _tests_in(tree: ast.Module) -> list[tuple[str, str]]:
    """(name, docstring) of every test function, also those in ``Test*`` classes."""
    found: list[tuple[str, str]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            found.append((node.name, ast.get_docstring(node) or ""))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(
                    item, ast.FunctionDef | ast.AsyncFunctionDef
                ) and item.name.startswith("test"):
                    found.append((f"{node.name}::{item.name}", ast.get_docstring(item) or ""))
    return found


def collect(root: Path = ROOT) -> dict[str, list[TestRef]]:
    """Every requirement of :data:`TITLES` → the tests whose docstrings name it, sorted."""
    index: dict[str, list[TestRef]] = {sr: [] for sr in TITLES}
    for path in sorted((root / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(root).as_posix()
        for name, doc in _tests_in(tree):
            for number in sorted(set(SR_PATTERN.findall(doc))):
                sr = f"SR-{number}"
                if sr in index:
                    index[sr].append(TestRef(relative, name, first_sentence(doc)))
    return {sr: sorted(refs) for sr, refs in index.items()}


def anchor(sr: str) -> str:
    """The GitHub-style anchor of a requirement's heading in the rendered index."""
    heading = f"{sr} {TITLES[sr]}".lower()
    return re.sub(r"[^a-z0-9 -]", "", heading).replace(" ", "-")


def render(index: dict[str, list[TestRef]]) -> str:
    """The generated part of docs/hazards.md (between the markers, markers excluded)."""
    lines = [
        "",
        "| Requirement | Tests that name it |",
        "|---|---|",
    ]
    for sr, refs in index.items():
        count = str(len(refs)) if refs else "**none yet**"
        lines.append(f"| [{sr} {TITLES[sr]}](#{anchor(sr)}) | {count} |")
    for sr, refs in index.items():
        lines += ["", f"### {sr} {TITLES[sr]}", ""]
        if not refs:
            lines.append("No test names this requirement yet.")
            continue
        for ref in refs:
            lines.append(f"- `{ref.node_id}`: {ref.claim}")
    lines.append("")
    return "\n".join(lines)


def current(text: str) -> str:
    """The generated part as it stands in ``text`` (between the markers)."""
    try:
        start = text.index(BEGIN) + len(BEGIN)
        stop = text.index(END, start)
    except ValueError as err:
        raise ValueError(f"{HAZARDS}: the markers {BEGIN!r} and {END!r} are missing") from err
    return text[start:stop]


def write(path: Path = HAZARDS, root: Path = ROOT) -> bool:
    """Regenerate the index in ``path``; returns whether it changed."""
    text = path.read_text(encoding="utf-8")
    fresh = render(collect(root))
    old = current(text)
    if old == fresh:
        return False
    path.write_text(text.replace(BEGIN + old + END, BEGIN + fresh + END), encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/hazards.md in place")
    args = parser.parse_args(argv)
    if args.write:
        changed = write()
        sys.stdout.write(f"{HAZARDS.relative_to(ROOT)}: {'updated' if changed else 'up to date'}\n")
        return 0
    sys.stdout.write(render(collect()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
