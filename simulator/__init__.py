"""``pumpsim``: a virtual NE-1000 syringe pump that speaks the real wire protocol.

The in-process entry points: :class:`Ne1000Simulator` (bytes in, replies out, on any clock),
:class:`LoopbackTransport` (the driver's transport, straight into a simulator), the fault grammar
(:func:`parse_fault`) and the ground-truth :class:`Ledger`. ``docs/simulator.md`` has the rest.
"""

from .faults import FaultSpec, parse_fault
from .ledger import Ledger
from .loopback import LoopbackTransport
from .session import Ne1000Simulator, Outgoing

__all__ = [
    "FaultSpec",
    "Ledger",
    "LoopbackTransport",
    "Ne1000Simulator",
    "Outgoing",
    "parse_fault",
]
