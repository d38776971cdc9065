"""The durable, append-only, hash-chained delivery journal and its readers.

``Journal`` is what the daemon writes; ``verify`` checks a journal file's chain; ``export_slots``
and ``iter_events`` are what review tools read.
"""

from pumpctl.journal.chain import Head
from pumpctl.journal.events import AlarmPriority, Appended, EventKind
from pumpctl.journal.reconcile import classify_delivery
from pumpctl.journal.store import Journal

__all__ = ["AlarmPriority", "Appended", "EventKind", "Head", "Journal", "classify_delivery"]
