"""Colour on the terminal, following ``--color`` and the ``NO_COLOR`` convention (no-color.org).

``auto`` colours only a terminal, and never when ``NO_COLOR`` is set to anything non-empty or
``TERM`` is ``dumb``; ``always`` and ``never`` decide outright. Colour never carries meaning on
its own: the words it paints say the same thing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TextIO

COLOR_CHOICES = ("auto", "always", "never")

_CODES = {"red": "31", "yellow": "33", "green": "32", "bold": "1", "dim": "2"}
_enabled: bool | None = None


def color_wanted(
    choice: str, stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether to colour ``stream`` (default stdout) under ``--color choice``."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", "") or env.get("TERM") == "dumb":
        return False
    out = stream if stream is not None else sys.stdout
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def configure(choice: str) -> None:
    """Set the process-wide choice once the command line is parsed."""
    global _enabled  # noqa: PLW0603 - one switch for the whole command's output
    _enabled = color_wanted(choice)


def enabled() -> bool:
    return _enabled if _enabled is not None else color_wanted("auto")


def paint(text: str, *styles: str) -> str:
    """``text`` wrapped in ANSI styles when colour is on; unchanged otherwise."""
    if not styles or not enabled():
        return text
    codes = ";".join(_CODES[name] for name in styles)
    return f"\033[{codes}m{text}\033[0m"


def priority(text: str, level: str) -> str:
    """An alarm priority word, coloured by urgency (high red, medium yellow)."""
    return paint(text, *{"high": ("bold", "red"), "medium": ("yellow",)}.get(level.lower(), ()))
