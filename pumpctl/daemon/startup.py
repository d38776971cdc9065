"""What start-up reads from and writes to the journal before the pump is touched.

The order of start-up itself is :meth:`pumpctl.daemon.service.Daemon.start`; these are its
journal steps: the ``daemon.start`` record. What start-up takes over from the journal (alarms,
suspensions, the run of missed pulses) is :mod:`pumpctl.daemon.restore`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pumpctl import __version__
from pumpctl.daemon.configuration import limits_dict, prescription_dict
from pumpctl.daemon.state import Therapy
from pumpctl.journal import Journal


def record_daemon_start(
    journal: Journal,
    therapy: Therapy,
    *,
    config_digest: str,
    config_path: str | None,
    identity: Mapping[str, Any],
) -> None:
    """The ``daemon.start`` record, with what a report's header shows."""
    journal.record_daemon_start(
        __version__,
        config_digest,
        config_path=config_path,
        identity={
            **identity,
            "prescription": prescription_dict(therapy.prescription),
            "limits": limits_dict(therapy.limits),
        },
    )
