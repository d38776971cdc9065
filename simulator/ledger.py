"""Ground-truth ledger: JSON lines of what the plunger physically did, written as it happens.

It records physics, not what any client believes: one ``motion.start`` line when the motor starts
and one ``motion.end`` line (volume moved, cause) when it stops, each flushed and fsynced, so a
test or an auditor can hold the controller's journal against reality even after a crash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO


class Ledger:
    """Appends one JSON object per line; ``entries`` keeps them in memory for in-process tests."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.entries: list[dict[str, Any]] = []
        self._file: TextIO | None = None
        if path is not None:
            # Line-buffered append: a restarted pumpsim adds to the same ground truth.
            self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def record(self, event: str, **fields: Any) -> None:
        """Append ``event`` with ``fields``; durable (fsynced) before this returns."""
        entry = {"event": event, **fields}
        self.entries.append(entry)
        if self._file is not None:
            self._file.write(json.dumps(entry, sort_keys=True) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def infused_ul(self) -> float:
        """Sum of the infused volume over every finished motion."""
        return sum(
            float(e["volume_ul"])
            for e in self.entries
            if e["event"] == "motion.end" and e["direction"] == "INF"
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
