"""Operator actions from the control socket, carried out on the delivery loop's thread (SR-29).

A request is either carried out and reported done, or reported refused and never carried out;
nothing in between. The control thread never waits for the loop: reading requests (``status``,
``alarms``) are answered from the status snapshot at once, and every other request is queued
with a :class:`~concurrent.futures.Future` that the control thread watches. The loop takes a
request with ``set_running_or_notify_cancel``; the control thread cancels one not taken within
:data:`TAKE_TIMEOUT_S` with ``cancel``. Exactly one of the two succeeds, so a request that was
reported refused for a timeout is never executed later.

The loop serves the queue at every tick and, while a pulse runs, between the pulse's status
polls (:class:`ServingWaiter`). What a request may do while a pulse runs is decided here:
``reservoir_fill`` and the acknowledgement of ``uncertain-pulse`` (which settles pending pulses)
are refused until the pulse has ended; ``suspend`` is carried out and its reply says that it
takes effect from the next pulse, the running one finishing as programmed.

Every action is journaled with the peer's identity (SR-23), before it changes anything: if the
journal cannot take the record, the action is refused and nothing changed.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from decimal import Decimal
from typing import Any

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.clock import Clock, seconds_to_us
from pumpctl.core.model import Slot
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.control_protocol import (
    REQUEST_TYPES,
    AckRequest,
    AlarmsRequest,
    ReservoirFillRequest,
    ResumeRequest,
    SilenceRequest,
    StatusRequest,
    SuspendRequest,
)
from pumpctl.daemon.pending import PendingPulses
from pumpctl.daemon.reservoir import Reservoir
from pumpctl.daemon.state import DeliveryState
from pumpctl.daemon.status import StatusBoard
from pumpctl.daemon.waiting import Waker
from pumpctl.errors import ControlError, PumpctlError
from pumpctl.journal import Journal

#: How long a queued request may wait for the loop before it is cancelled, never carried out.
#: Shorter than the client's reply timeout, so the refusal reaches the operator.
TAKE_TIMEOUT_S = 6.0

Reply = dict[str, Any]
Queued = tuple[Future[Reply], Mapping[str, Any], Mapping[str, Any]]


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
        syringe_volume_ul: Decimal | None = None,
    ) -> None:
        self._journal = journal
        self._annunciator = annunciator
        self._state = state
        self._reservoir = reservoir
        self._pending = pending
        self._status = status
        self._waker = waker
        self._syringe_volume_ul = syringe_volume_ul
        self._requests: queue.Queue[Queued] = queue.Queue()

    # -- the control thread --------------------------------------------------------------------

    def submit(self, body: Mapping[str, Any], peer: Any) -> Reply | Future[Reply]:
        """Called from the control thread: a reply now, or a future the loop completes.

        The future fails with :class:`ControlError` when the action was refused. The caller
        cancels it (``future.cancel()``) when it has waited long enough; a cancelled request
        is never carried out.
        """
        cmd = body.get("cmd")
        if cmd == "status":
            return self._status.snapshot()
        if cmd == "alarms":
            snapshot = self._status.snapshot()
            # The zone goes with the UTC times, so `pumpctl alarms` shows them as status does.
            return {"alarms": snapshot.get("alarms", []), "timezone": snapshot.get("timezone")}
        future: Future[Reply] = Future()
        self._requests.put((future, body, peer_dict(peer)))
        self._waker.wake()
        return future

    # -- the loop thread -----------------------------------------------------------------------

    def serve(self, *, running: Slot | None = None) -> None:
        """Carry out or refuse every queued request; ``running`` is the pulse under way, if any."""
        while True:
            try:
                future, body, peer = self._requests.get_nowait()
            except queue.Empty:
                return
            # Invariant (SR-29): taken or cancelled, never both: a request the control thread
            # already reported refused is skipped here.
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self.handle(body, peer, running=running))
            except (PumpctlError, ValueError, KeyError) as err:
                future.set_exception(ControlError(str(err)))

    def handle(
        self, body: Mapping[str, Any], peer: Mapping[str, Any], *, running: Slot | None = None
    ) -> Reply:
        """Carry out one operator action; every one is journaled with the peer (SR-23)."""
        cmd = str(body.get("cmd"))
        model = REQUEST_TYPES.get(cmd)
        if model is None:
            raise ControlError(f"unknown command {cmd!r}")
        # In-process callers (tests, simulations) may pass text for numbers; the socket has
        # already validated strictly.
        request = model.model_validate(dict(body), strict=False)
        who = f"uid={peer.get('uid')} pid={peer.get('pid')}"
        # Refusals come before the journal record: a refused request changes nothing.
        note = self._refused_while(request, running)
        self._refuse_invalid(request)
        args = {k: v for k, v in body.items() if k != "cmd"}
        self._journal.record_operator_action(peer, cmd, args)
        match request:
            case StatusRequest() | AlarmsRequest():
                pass
            case SuspendRequest(reason=reason):
                self._journal.record_suspend(who, reason)
                self._state.operator_suspended = reason
            case ResumeRequest(reason=reason):
                self._journal.record_resume(who, reason or "resumed by operator")
                self._state.operator_suspended = None
            case AckRequest(alarm_id=alarm_id, reason=reason):
                self._acknowledge(alarm_id, reason, who)
            case SilenceRequest(alarm_id=alarm_id, minutes=minutes):
                self._annunciator.alarms.silence(alarm_id, who=who, minutes=minutes)
            case ReservoirFillRequest(volume_ul=volume, reason=reason):
                self._fill(volume, who, reason)
            case _:  # pragma: no cover - REQUEST_TYPES and this match list the same commands
                raise ControlError(f"unknown command {cmd!r}")
        self._status.update()
        reply = self._status.snapshot()
        if note:
            reply["note"] = note
        return reply

    def _refused_while(self, request: object, running: Slot | None) -> str | None:
        """Refuse what must not happen under a running pulse; a note for what waits for it."""
        if running is None:
            return None
        match request:
            case ReservoirFillRequest():
                raise ControlError(
                    f"refused: the pulse of slot {running.slot_id} is running; record the fill "
                    "once it has ended (nothing was recorded)"
                )
            case AckRequest(alarm_id=AlarmKind.UNCERTAIN_PULSE.value):
                raise ControlError(
                    f"refused: the pulse of slot {running.slot_id} is running; acknowledge "
                    "uncertain-pulse once it has ended (nothing was acknowledged)"
                )
            case SuspendRequest():
                return (
                    f"delivery suspended from the next pulse; the pulse of slot "
                    f"{running.slot_id} now running finishes as programmed"
                )
        return None

    def _refuse_invalid(self, request: object) -> None:
        """Refuse, before anything is journaled, what cannot be carried out in full."""
        capacity = self._syringe_volume_ul
        alarms = self._annunciator.alarms
        match request:
            case AckRequest(alarm_id=alarm_id) | SilenceRequest(alarm_id=alarm_id):
                # An unknown id raises here, naming the active alarms.
                current = alarms.get(alarm_id)
                if current.acknowledged:
                    raise ControlError(
                        f"alarm_id: {alarm_id!r} was already acknowledged by "
                        f"{current.acknowledged_by}; nothing was done"
                    )
            case ResumeRequest() if self._state.operator_suspended is None:
                raise ControlError("delivery is not suspended by an operator")
            case ReservoirFillRequest(volume_ul=volume) if capacity and volume > capacity:
                raise ControlError(
                    f"volume_ul = {volume}: refused, the configured syringe holds at most "
                    f"{capacity} uL ([pump] syringe_volume_ul); nothing was recorded"
                )

    def _fill(self, volume: Decimal, who: str, reason: str | None) -> None:
        self._journal.record_reservoir_change(volume, who, reason or "reservoir filled")
        self._reservoir.fill(volume)
        alarms = self._annunciator.alarms
        alarms.clear_cause(AlarmKind.RESERVOIR_LOW)
        alarms.clear_cause(AlarmKind.RESERVOIR_EMPTY)

    def _acknowledge(self, alarm_id: str, reason: str, who: str) -> None:
        self._annunciator.acknowledge(alarm_id, reason=reason, who=who)
        if alarm_id == AlarmKind.UNCERTAIN_PULSE.value:
            # The operator settles the uncertain pulse as delivered, the conservative reading.
            self._pending.settle_by_operator(who, reason)


class ServingWaiter:
    """The pulse monitor's sleep: serves operator requests between the pulse's status polls.

    The monitor still polls on its own schedule; a request only interrupts the sleep to be
    served, then the rest of the sleep follows.
    """

    def __init__(self, waker: Waker, clock: Clock, serve: Callable[[], None]) -> None:
        self._waker = waker
        self._clock = clock
        self._serve = serve

    def sleep(self, seconds: float) -> None:
        # Counted in the clock's whole microseconds: a float remainder below one microsecond
        # would ask a virtual clock to advance by nothing, forever.
        end_us = self._clock.elapsed_us() + seconds_to_us(max(0.0, seconds))
        while True:
            self._serve()
            remaining_us = end_us - self._clock.elapsed_us()
            if remaining_us <= 0:
                return
            self._waker.sleep(remaining_us / 1_000_000)


def peer_dict(peer: Any) -> dict[str, Any]:
    """The peer's identity as journaled: uid, gid, pid (from SO_PEERCRED)."""
    if isinstance(peer, Mapping):
        return dict(peer)
    return {"uid": peer.uid, "gid": peer.gid, "pid": peer.pid}
