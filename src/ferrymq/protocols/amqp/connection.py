"""AMQP 1.0 sessions (part 2.5.5-2.5.6): channels, transfer windows, delivery ids, and the
batching of outgoing dispositions; plus the adapter's error type.

A session is created by the peer's ``begin`` and lives until ``end`` (either side). It
numbers the frames it sends (``next_outgoing_id``) and stops sending transfers while the
peer's incoming window is exhausted: deliveries wait in ``backlog`` and the session's
subscriptions are paused until a ``flow`` opens the window again.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from ferrymq.core import Condition, CoreError
from ferrymq.protocols.amqp.performatives import (
    RECEIVER,
    SENDER,
    Accepted,
    Disposition,
    Error,
    Flow,
)
from ferrymq.protocols.amqp.types import Symbol

if TYPE_CHECKING:
    from ferrymq.protocols.amqp.adapter import AmqpAdapter
    from ferrymq.protocols.amqp.links import Link, OutgoingLink

# error conditions (part 2.8.15-2.8.18)
DECODE_ERROR = "amqp:decode-error"
INTERNAL_ERROR = "amqp:internal-error"
NOT_FOUND = "amqp:not-found"
UNAUTHORIZED = "amqp:unauthorized-access"
RESOURCE_LIMIT = "amqp:resource-limit-exceeded"
NOT_ALLOWED = "amqp:not-allowed"
INVALID_FIELD = "amqp:invalid-field"
NOT_IMPLEMENTED = "amqp:not-implemented"
ILLEGAL_STATE = "amqp:illegal-state"
FRAMING_ERROR = "amqp:connection:framing-error"
HANDLE_IN_USE = "amqp:session:handle-in-use"
UNATTACHED_HANDLE = "amqp:session:unattached-handle"
WINDOW_VIOLATION = "amqp:session:window-violation"
DETACH_FORCED = "amqp:link:detach-forced"
TX_UNKNOWN = "amqp:transaction:unknown-id"
TX_ROLLBACK = "amqp:transaction:rollback"

CORE_CONDITIONS = {
    Condition.NOT_FOUND: NOT_FOUND,
    Condition.UNAUTHORIZED: UNAUTHORIZED,
    Condition.RESOURCE_LIMIT: RESOURCE_LIMIT,
    Condition.INVALID: INVALID_FIELD,
    Condition.CLIENT_ID_IN_USE: INVALID_FIELD,
    Condition.ILLEGAL_STATE: ILLEGAL_STATE,
    Condition.INTERNAL: INTERNAL_ERROR,
}

#: the incoming window we grant each session, in transfer frames
INCOMING_WINDOW = 0x7FFFFFFF
OUTGOING_WINDOW = 0x7FFFFFFF
UINT = 0xFFFFFFFF
ACCEPTED_STATE = Accepted()


class AmqpError(Exception):
    """An error the adapter answers at ``scope`` ("connection", "session" or "link")."""

    def __init__(
        self, condition: str, description: str, scope: str = "connection", info: dict[Any, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.condition = condition
        self.description = description
        self.scope = scope
        self.info = info

    def error(self) -> Error:
        return Error(condition=Symbol(self.condition), description=self.description[:1000], info=self.info)


def core_error(e: CoreError) -> Error:
    info = None
    if e.condition == Condition.CLIENT_ID_IN_USE:
        info = {Symbol("invalid-field"): Symbol("container-id")}
    return Error(
        condition=Symbol(CORE_CONDITIONS.get(e.condition, INTERNAL_ERROR)),
        description=e.message[:1000],
        info=info,
    )


class Session:
    __slots__ = (
        "adapter",
        "channel",
        "remote_channel",
        "next_incoming_id",
        "next_outgoing_id",
        "remote_incoming_window",
        "remote_outgoing_window",
        "next_delivery_id",
        "handle_max",
        "links",
        "unsettled_out",
        "backlog",
        "blocked",
        "_dispositions",
        "ended",
    )

    def __init__(
        self,
        adapter: AmqpAdapter,
        channel: int,
        remote_channel: int,
        next_incoming_id: int,
        remote_incoming_window: int,
        remote_outgoing_window: int,
        handle_max: int,
    ) -> None:
        self.adapter = adapter
        self.channel = channel
        self.remote_channel = remote_channel
        self.next_incoming_id = next_incoming_id
        self.next_outgoing_id = 0
        self.remote_incoming_window = remote_incoming_window
        self.remote_outgoing_window = remote_outgoing_window
        self.next_delivery_id = 0
        self.handle_max = handle_max
        self.links: dict[int, Link] = {}  # by the peer's handle
        #: deliveries we sent, not yet settled by the peer: delivery id -> (link, core tag)
        self.unsettled_out: dict[int, tuple[OutgoingLink, int]] = {}
        #: (link, delivery) waiting for the peer's incoming window
        self.backlog: deque[tuple[OutgoingLink, Any]] = deque()
        self.blocked = False
        #: (delivery id, state, role) of dispositions to send, coalesced at flush
        self._dispositions: list[tuple[int, Any, bool]] = []
        self.ended = False

    # -- flow ---------------------------------------------------------------------------
    def flow_fields(self) -> dict[str, Any]:
        return {
            "next_incoming_id": self.next_incoming_id,
            "incoming_window": INCOMING_WINDOW,
            "next_outgoing_id": self.next_outgoing_id,
            "outgoing_window": OUTGOING_WINDOW,
        }

    def send_flow(self, **link_fields: Any) -> None:
        self.adapter.send_frame(self.channel, Flow(**self.flow_fields(), **link_fields))

    def on_flow(self, flow: Flow) -> None:
        nid = flow.next_incoming_id if flow.next_incoming_id is not None else 0
        self.remote_incoming_window = nid + flow.incoming_window - self.next_outgoing_id
        self.remote_outgoing_window = flow.outgoing_window
        if self.blocked and self.remote_incoming_window > 0:
            self.unblock()

    def frames_sent(self, n: int) -> None:
        self.next_outgoing_id = (self.next_outgoing_id + n) & UINT
        self.remote_incoming_window -= n
        if self.remote_incoming_window <= 0 and not self.blocked:
            self.block()

    def block(self) -> None:
        """The peer's incoming window is used up: stop the session's links."""
        self.blocked = True
        for link in self.links.values():
            link.pause()

    def unblock(self) -> None:
        backlog = self.backlog
        while backlog and self.remote_incoming_window > 0:
            link, d = backlog.popleft()
            link.send_backlogged(d)
        if self.remote_incoming_window > 0 and not backlog:
            self.blocked = False
            for lk in self.links.values():
                lk.resume()

    # -- incoming transfers ---------------------------------------------------------------
    def frame_received(self) -> None:
        self.next_incoming_id = (self.next_incoming_id + 1) & UINT

    # -- dispositions -----------------------------------------------------------------------
    def dispose(self, delivery_id: int, state: Any, role: bool = RECEIVER) -> None:
        """Queue a settled disposition; consecutive ids with one state go out as one range."""
        if not self._dispositions:
            self.adapter.dirty_sessions.append(self)
        self._dispositions.append((delivery_id, state, role))
        self.adapter.ctx.request_flush()

    def flush_dispositions(self) -> None:
        items = self._dispositions
        if not items or self.ended:
            items.clear()
            return
        self._dispositions = []
        items.sort(key=lambda x: x[0])
        send = self.adapter.send_frame
        first, state, role = items[0]
        last = first
        for did, st, rl in items[1:]:
            if did == last + 1 and (st is state or st == state) and rl == role:
                last = did
                continue
            send(
                self.channel,
                Disposition(
                    role=role, first=first, last=last if last != first else None, settled=True, state=state
                ),
            )
            first = last = did
            state, role = st, rl
        send(
            self.channel,
            Disposition(
                role=role, first=first, last=last if last != first else None, settled=True, state=state
            ),
        )


__all__ = [
    "ACCEPTED_STATE",
    "CORE_CONDITIONS",
    "RECEIVER",
    "SENDER",
    "AmqpError",
    "Session",
    "core_error",
]
