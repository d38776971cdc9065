"""The durable, append-only, hash-chained delivery journal and its readers.

``Journal`` is what the daemon writes; ``verify`` checks a journal file's chain; ``export_slots``
and ``iter_events`` are what review tools read.
"""

from pumpctl.journal.chain import Head
from pumpctl.journal.events import Appended, EventKind
from pumpctl.journal.export import EXPORT_SCHEMA, export_slots
from pumpctl.journal.query import EventRow, iter_events
from pumpctl.journal.store import Journal, connect
from pumpctl.journal.verify import Diagnosis, Problem, VerifyResult, verify

__all__ = [
    "EXPORT_SCHEMA",
    "Appended",
    "Diagnosis",
    "EventKind",
    "EventRow",
    "Head",
    "Journal",
    "Problem",
    "VerifyResult",
    "connect",
    "export_slots",
    "iter_events",
    "verify",
]
