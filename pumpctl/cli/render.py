"""Journal records for people and for scripts: flat ``key=value`` fields, user names for uids.

A payload's nested objects become dotted keys (``peer.uid``), lists are joined with commas,
text with spaces is quoted, and empty values are left out, so a line never shows a Python repr.
A uid is shown with the user's name where this host knows it (``alice(uid=1000)``), in
structured fields (``peer.uid``) and in the daemon's ``who`` texts (``uid=1000 pid=4242``).
"""

from __future__ import annotations

import json
import pwd
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pumpctl.journal.query import EventRow

_UID_IN_TEXT = re.compile(r"\buid=(\d+)\b")
_BARE = re.compile(r"^[^\s\"'=]+$")


@cache
def user_name(uid: int) -> str | None:
    """The login name of ``uid`` on this host, or None."""
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return None


def with_user(uid: int) -> str:
    name = user_name(uid)
    return f"{name}(uid={uid})" if name else f"uid={uid}"


def _names_in_text(text: str) -> str:
    return _UID_IN_TEXT.sub(lambda m: with_user(int(m.group(1))), text)


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.rsplit(".", maxsplit=1)[-1] == "uid" and isinstance(value, int):
        return with_user(value)
    text = _names_in_text(str(value)) if isinstance(value, str) else str(value)
    return text if _BARE.match(text) else json.dumps(text, ensure_ascii=False)


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None or value in ("", [], {}):
        return
    if isinstance(value, Mapping):
        for key in sorted(value):
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), value[key])
    elif isinstance(value, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in value):
            yield prefix, ",".join(_scalar(prefix, item).strip('"') for item in value)
        else:
            for index, item in enumerate(value):
                yield from _flatten(f"{prefix}[{index}]", item)
    else:
        yield prefix, _scalar(prefix, value)


def event_fields(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A payload as ordered ``(key, text)`` pairs, nested keys dotted, empty values left out."""
    return list(_flatten("", payload))


def event_json(event: EventRow) -> dict[str, Any]:
    """One record as ``log show --json`` prints it (journalctl -o json habits)."""
    return {
        "seq": event.seq,
        "kind": event.kind,
        "wall_utc": event.wall.isoformat(),
        "utc_offset_min": event.utc_offset_min,
        "elapsed_s": event.elapsed_s,
        "boot_id": event.boot_id,
        "hash": event.hash,
        "payload": event.payload,
    }
