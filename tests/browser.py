"""A headless Chromium driven over the DevTools protocol on a pipe, for tests that look at pages.

``--remote-debugging-pipe`` makes Chromium read JSON commands from fd 3 and write replies and
events to fd 4, each message ended by a NUL byte: no port, no websocket library, nothing listens.
The tests use it to load a report, collect what its page logs and fetches, measure its layout
as printed, and take screenshots.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
TIMEOUT_S = 90.0
#: A4 at 96 CSS px per inch, less the report's 14 mm side margins: the printed text width.
A4_TEXT_WIDTH_PX = round((210 - 2 * 14) / 25.4 * 96)


class BrowserFailure(RuntimeError):
    """The browser answered a command with an error, or not at all."""


class Browser:
    """One Chromium process; :meth:`open` gives a page session."""

    def __init__(self, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: the pipe ends become fds 3 and 4
            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire,  # noqa: PLW1509  (single-threaded test process)
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(BrowserFailure, OSError):
            self.call("Browser.close")
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise BrowserFailure("no message from the browser in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserFailure("the browser closed its pipe")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(raw))

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        """Send one command and wait for its reply; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserFailure(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        for event in self.events:
            if predicate(event):
                return event
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if predicate(event):
                return event

    def open(self, url: str, *, width: int = 900, height: int = 1200) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        page.size(width, height)
        page.call("Page.navigate", {"url": url})
        self.wait_for(
            lambda e: e.get("method") == "Page.loadEventFired" and e.get("sessionId") == session
        )
        return page


class Page:
    """One tab: commands are sent in its session."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.browser.call(method, params, self.session)

    def _events(self, *methods: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.browser.events
            if e.get("sessionId") == self.session and e.get("method") in methods
        ]

    def console(self) -> list[str]:
        """Console calls, uncaught errors and browser log entries of the page."""
        out = [
            json.dumps(e["params"].get("args", []))
            for e in self._events("Runtime.consoleAPICalled")
        ]
        out += [json.dumps(e["params"]) for e in self._events("Runtime.exceptionThrown")]
        out += [e["params"]["entry"].get("text", "") for e in self._events("Log.entryAdded")]
        return out

    def requests(self) -> list[str]:
        """Every URL the page asked for, other than its own file and inline data."""
        urls = [e["params"]["request"]["url"] for e in self._events("Network.requestWillBeSent")]
        return [u for u in urls if not u.startswith(("file:", "data:"))]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserFailure(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def size(self, width: int, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def media(self, media: str) -> None:
        self.call("Emulation.setEmulatedMedia", {"media": media})

    def screenshot(self, path: Path, width: int = 900) -> Path:
        """The whole page at ``width`` CSS px, as a PNG."""
        self.size(width, 800)
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.size(width, height)
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path


#: Run in the page: every table and figure wider than the text width, and every cell whose
#: content does not fit it (a cut table), as text a test can print.
LAYOUT_PROBLEMS = """
(() => {
  const limit = document.documentElement.clientWidth;
  const problems = [];
  for (const el of document.querySelectorAll('table, figure, svg, .keys, .alert, .verdict')) {
    const r = el.getBoundingClientRect();
    if (r.right > limit + 0.5 || el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${el.tagName}#${el.id}: right ${r.right} > ${limit}`);
    }
  }
  for (const cell of document.querySelectorAll('th, td')) {
    if (cell.scrollWidth > cell.clientWidth + 1) {
      const table = cell.closest('table');
      problems.push(`cell in ${table ? table.id : '?'}: ${cell.textContent.slice(0, 40)}`);
    }
  }
  return problems;
})()
"""

#: Run in the page: tables whose header would not repeat on the next printed page.
HEADERS_NOT_REPEATED = """
[...document.querySelectorAll('table')]
  .filter(t => t.tHead && getComputedStyle(t.tHead).display !== 'table-header-group')
  .map(t => t.id)
"""


def pdf_pages(data: bytes) -> list[tuple[float, float]]:
    """The (width, height) in points of each page of a PDF Chromium printed."""
    import re  # noqa: PLC0415

    return [
        (float(w), float(h))
        for w, h in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    ]
