"""Free text on a terminal: control characters are shown escaped, never obeyed.

Operators type reasons and notes; pumps and configurations supply other text. None of it may
move the cursor, clear the screen, start a new line or reorder what follows (ESC, CR, LF, the
C1 controls, Unicode bidirectional overrides), or a caller could fake a status line. The control
socket refuses requests carrying such characters; everything printed from a journal or a reply
goes through :func:`printable` as well, for text that came another way (older journals).
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls, DEL, and the bidirectional embeddings, overrides and isolates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``, ``\\u202e``)."""
    return _CONTROL.sub(_escape, text)


def control_characters(text: str) -> list[str]:
    """The control characters in ``text``, escaped, for an error message naming them."""
    return sorted({_escape(m) for m in _CONTROL.finditer(text)})


def printable_tree(value: Any) -> Any:
    """Every string inside ``value`` (dicts, lists, tuples) made printable; keys too."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_tree(k): printable_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable_tree(v) for v in value]
    return value
