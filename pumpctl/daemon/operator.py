"""Operator actions from the control socket, carried out on the delivery loop's thread.

The control thread posts a request and waits; the loop serves the queue at the start of every
tick, so an action never races a pulse. Every action is journaled with the peer's identity
(SR-23). Read-only requests (``status``, ``alarms``) are answered from the status snapshot at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.pending import PendingPulses
from pumpctl.daemon.reservoir import Reservoir
from pumpctl.daemon.state import DeliveryState
from pumpctl.daemon.status import StatusBoard
from pumpctl.daemon.waiting import Waker
from pumpctl.errors import ControlError, PumpctlError
from pumpctl.journal import Journal


@dataclass
class Request:
    """A control request waiting for the loop; ``reply`` is filled in by the loop."""

    body: Mapping[str, Any]
    peer: Mapping[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class OperatorRequests:
    """The queue between the control thread and the loop, and the actions themselves."""

    def __init__(
        self,
        *,
        journal: Journal,
        annunciator: Annunciator,
        state: DeliveryState,
        reservoir: Reservoir,
        pending: PendingPulses,
        status: StatusBoard,
        waker: Waker,
    ) -> None:
        self._journal = journal
        self._annunciator = annunciator
        self._state = state
        self._reservoir = reservoir
        self._pending = pending
        self._status = status
        self._waker = waker
        self._requests: queue.Queue[Request] = queue.Queue()

    def submit(self, body: Mapping[str, Any], peer: Any, timeout_s: float = 10.0) -> dict[str, Any]:
        """Called from the control thread: read-only requests answer at once, others wait.

        Raises :class:`ControlError` when the action was refused; the server turns it into an
        error reply naming the problem.
        """
        if body.get("cmd") == "status":
            return self._status.snapshot()
        if body.get("cmd") == "alarms":
            snapshot = self._status.snapshot()
            # The zone goes with the UTC times, so `pumpctl alarms` shows them as status does.
            return {"alarms": snapshot.get("alarms", []), "timezone": snapshot.get("timezone")}
        request = Request(body, peer_dict(peer))
        self._requests.put(request)
        self._waker.wake()
        if not request.done.wait(timeout_s):
            raise ControlError("the daemon is busy (a pulse is running); try again in a minute")
        if request.error is not None:
            raise ControlError(request.error)
        return request.reply

    def serve(self) -> None:
        """Carry out every queued request (on the loop thread)."""
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                request.reply = self.handle(request.body, request.peer)
            except (PumpctlError, ValueError, KeyError) as err:
                request.error = str(err)
            request.done.set()

    def handle(self, body: Mapping[str, Any], peer: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one operator action; every one is journaled with the peer (SR-23)."""
        cmd = str(body.get("cmd"))
        who = f"uid={peer.get('uid')} pid={peer.get('pid')}"
        args = {k: v for k, v in body.items() if k != "cmd"}
        self._journal.record_operator_action(peer, cmd, args)
        alarms = self._annunciator.alarms
        if cmd == "suspend":
            self._state.operator_suspended = str(body["reason"])
            self._journal.record_suspend(who, self._state.operator_suspended)
        elif cmd == "resume":
            if self._state.operator_suspended is None:
                raise ControlError("delivery is not suspended by an operator")
            self._state.operator_suspended = None
            self._journal.record_resume(who, str(body.get("reason") or "resumed by operator"))
        elif cmd == "ack":
            self._acknowledge(str(body["alarm_id"]), str(body["reason"]), who)
        elif cmd == "silence":
            alarms.silence(str(body["alarm_id"]), who=who, minutes=int(body.get("minutes", 15)))
        elif cmd == "reservoir_fill":
            volume = Decimal(str(body["volume_ul"]))
            self._reservoir.fill(volume)
            self._journal.record_reservoir_change(volume, who, "reservoir filled")
            alarms.clear_cause(AlarmKind.RESERVOIR_LOW)
            alarms.clear_cause(AlarmKind.RESERVOIR_EMPTY)
        else:
            raise ControlError(f"unknown command {cmd!r}")
        self._status.update()
        return self._status.snapshot()

    def _acknowledge(self, alarm_id: str, reason: str, who: str) -> None:
        self._annunciator.acknowledge(alarm_id, reason=reason, who=who)
        if alarm_id == AlarmKind.UNCERTAIN_PULSE.value:
            # The operator settles the uncertain pulse as delivered, the conservative reading.
            self._pending.settle_by_operator(who, reason)


def peer_dict(peer: Any) -> dict[str, Any]:
    """The peer's identity as journaled: uid, gid, pid (from SO_PEERCRED)."""
    if isinstance(peer, Mapping):
        return dict(peer)
    return {"uid": peer.uid, "gid": peer.gid, "pid": peer.pid}
