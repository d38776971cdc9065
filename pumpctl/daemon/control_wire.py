"""The control socket's framing, shared by the daemon and its client: one JSON object per line.

Kept apart from :mod:`pumpctl.daemon.control_protocol` (the request schema, built on pydantic)
so that ``pumpctl status`` can talk to the daemon without loading the schema.
"""

from __future__ import annotations

import json
from typing import Any, Final

#: Longest accepted request line, newline included; longer input is refused and the
#: connection closed (SR-24).
MAX_REQUEST_BYTES: Final = 64 * 1024


def encode_reply(reply: dict[str, Any]) -> bytes:
    """One JSON line; Decimals, datetimes and enums are written as strings."""
    return json.dumps(reply, default=str, separators=(",", ":")).encode() + b"\n"
