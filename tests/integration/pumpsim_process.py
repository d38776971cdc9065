"""Start ``pumpsim serve`` as a real process for integration tests, and stop it cleanly."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

PUMPSIM = str(Path(sys.executable).with_name("pumpsim"))


class PumpsimProcess:
    """A running ``pumpsim serve`` with its output in ``workdir/pumpsim.out``."""

    def __init__(self, workdir: Path, *args: str, timeout_s: float = 10.0) -> None:
        self.workdir = workdir
        self.output = workdir / "pumpsim.out"
        self.link = workdir / "pump"
        self._out = self.output.open("wb")
        self.proc = subprocess.Popen(
            [PUMPSIM, "serve", *args], stdout=self._out, stderr=subprocess.STDOUT, cwd=workdir
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.output.read_text()
            if "pumpsim: " in text and ("--tcp" not in args or "pumpsim: tcp" in text):
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"pumpsim exited early: {text}")
            time.sleep(0.02)
        else:
            raise RuntimeError("pumpsim did not start in time")

    @property
    def tcp_port(self) -> int:
        match = re.search(r"pumpsim: tcp [^:\s]+:(\d+)", self.output.read_text())
        if match is None:
            raise RuntimeError("pumpsim serves no TCP port")
        return int(match.group(1))

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            code = self.proc.wait(timeout=5)
        finally:
            self._out.close()
        return code
