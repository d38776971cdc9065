"""SR-31: whether anyone besides the daemon's user can open the pump's serial device.

Anyone who can open the device can send the pump a raw command (a new syringe diameter, a RUN)
behind the daemon's back. The udev rule (``systemd/99-pumpctl.rules``) gives the device to the
daemon's user alone, mode 0600; this check says so when that is not the case, so the investigator
hears of it at start-up rather than from a wrongly dosed pulse. The daemon's other defences
(settings read back before every RUN, SR-27; totals watched between pulses, SR-26) still apply.

Pure of side effects: it only looks (``os.stat``).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat

#: Pseudo-terminals are pumpsim's (a real pump is never one); they are not judged.
PSEUDO_TERMINALS = "/dev/pts/"


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def device_exposure(url: str, *, euid: int | None = None) -> str | None:
    """Why ``url``'s device can be opened by others than the user ``euid`` (default: this
    process's), or None when it cannot, or when ``url`` is no device file.

    Invariant (SR-31): a device readable or writable by its group or by others, or owned by
    another user than the daemon's, is reported; one owned by the daemon's user with mode 0600
    (or stricter) is not.
    """
    if not url.startswith("/"):
        return None  # socket://, rfc2217://: a network bridge guards its own port
    path = os.path.realpath(url)
    if path.startswith(PSEUDO_TERMINALS):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # the driver's own open says clearly what is wrong
    if not stat.S_ISCHR(st.st_mode):
        return None
    uid = os.geteuid() if euid is None else euid
    mode = stat.S_IMODE(st.st_mode)
    reasons = []
    if st.st_uid != uid:
        reasons.append(f"owned by {_user(st.st_uid)}, not by the daemon's user {_user(uid)}")
    if mode & 0o070:
        reasons.append(f"group {_group(st.st_gid)} may open it")
    if mode & 0o007:
        reasons.append("every user may open it")
    if not reasons:
        return None
    shown = url if path == url else f"{url} ({path})"
    return (
        f"the pump's device {shown} is mode {mode:04o} {_user(st.st_uid)}:{_group(st.st_gid)}: "
        + "; ".join(reasons)
        + ". Others can send the pump commands behind the daemon's back (SR-31): install "
        'systemd/99-pumpctl.rules (OWNER="pumpctl", MODE="0600")'
    )
