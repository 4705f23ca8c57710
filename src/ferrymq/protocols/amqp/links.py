"""AMQP 1.0 links (part 2.6): the broker's side of a client's sender link (``IncomingLink``:
transfers in, link credit out) and of a client's receiver link (``OutgoingLink``: a core
subscription in credit mode whose deliveries become transfers).

Link credit, as ActiveMQ does it: we grant a client's sender 1000 credits and top them up
when half are used, unless producer flow control holds a send; a client's receiver gives
us credit with ``flow`` (``link-credit`` and ``delivery-count``), which becomes the core
subscription's credit (plus, for a non-durable topic subscription, its topic prefetch held
in the link: see ``OutgoingLink``). ``drain`` spends the remaining credit: after the next
dispatch pass we advance the delivery count by what is left and answer with a ``flow``.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import TYPE_CHECKING, Any

from ferrymq.core import (
    ACCEPTED,
    CLIENT,
    CREDIT,
    TEMP_TOPIC,
    TOPIC,
    Completion,
    CoreError,
    Delivery,
    DestinationName,
    Subscription,
)
from ferrymq.protocols.amqp.connection import (
    ACCEPTED_STATE,
    RESOURCE_LIMIT,
    AmqpError,
    Session,
    core_error,
)
from ferrymq.protocols.amqp.framing import FRAME_HEADER_SIZE, encode_transfer
from ferrymq.protocols.amqp.mapping import CACHE_FIRST, encode_delivery, to_core
from ferrymq.protocols.amqp.performatives import Detach, Rejected, TransactionalState, Transfer
from ferrymq.protocols.amqp.types import AmqpCodecError

if TYPE_CHECKING:
    from ferrymq.protocols.amqp.adapter import AmqpAdapter

#: link credit we grant a client's sender link (ActiveMQ's producer credit)
PRODUCER_CREDIT = 1000
_tag = struct.Struct(">Q").pack
#: frame header (size, doff 2, type 0, channel)
_frame_head = struct.Struct(">IBBH").pack
_pc_u8 = struct.Struct(">BB").pack
_pc_u32 = struct.Struct(">BI").pack
#: transfer performative descriptor, then a list8 constructor
_TRANSFER_DESC = b"\x00\x53\x14\xc0"


def _uint(v: int) -> bytes:
    """A uint as the codec writes it (uint0, smalluint or uint)."""
    if v == 0:
        return b"\x43"
    if v < 256:
        return _pc_u8(0x52, v)
    return _pc_u32(0x70, v)


class Link:
    __slots__ = ("adapter", "session", "name", "handle", "gone", "dest", "durable_name", "dynamic")

    def __init__(self, adapter: AmqpAdapter, session: Session, name: str, handle: int) -> None:
        self.adapter = adapter
        self.session = session
        self.name = name
        self.handle = handle
        self.gone = False
        self.dest: DestinationName | None = None
        self.durable_name: str | None = None
        self.dynamic = False

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def on_flow(self, flow: Any) -> None:
        pass

    def close(self, remove: bool) -> None:
        self.gone = True
        if self.dynamic and self.dest is not None and self.adapter.conn is not None:
            self.adapter.conn.delete_temp(self.dest)

    def detach(self, error: Any = None) -> None:
        """The broker ends this link (an error, or the core closed the subscription)."""
        if self.gone:
            return
        self.close(False)
        self.session.links.pop(self.handle, None)
        self.adapter.send_frame(self.session.channel, Detach(handle=self.handle, closed=True, error=error))


class IncomingLink(Link):
    """A client's sender link: messages to a destination, or anonymous (the ``to`` field)."""

    __slots__ = ("credit", "delivery_count", "partial", "first", "held", "producer", "memo")

    def __init__(
        self, adapter: AmqpAdapter, session: Session, name: str, handle: int, delivery_count: int
    ) -> None:
        super().__init__(adapter, session, name, handle)
        self.credit = 0
        self.delivery_count = delivery_count
        self.partial: bytearray | None = None
        self.first: Transfer | None = None
        self.held = 0
        self.producer = False
        #: the decoding of the sections in front of the body, for payloads that repeat them
        self.memo: list[Any] = [None, None]

    def grant(self) -> None:
        if self.gone or self.held:
            return
        self.credit = PRODUCER_CREDIT
        self.session.send_flow(
            handle=self.handle, delivery_count=self.delivery_count, link_credit=PRODUCER_CREDIT
        )

    def on_flow(self, flow: Any) -> None:
        if flow.echo:
            self.session.send_flow(
                handle=self.handle, delivery_count=self.delivery_count, link_credit=self.credit
            )

    def on_transfer(self, t: Transfer, payload: Any) -> None:
        first = self.first
        if first is None and not t.more and not t.aborted and t.delivery_id is not None:
            # the common case: a whole message in one transfer
            self.credit -= 1
            self.delivery_count = (self.delivery_count + 1) & 0xFFFFFFFF
            self.received(t, payload)
            if self.credit <= PRODUCER_CREDIT // 2 and not self.held:
                self.grant()
            return
        if first is None:
            if t.delivery_id is None:
                raise AmqpError(
                    "amqp:invalid-field", "the first transfer of a delivery has no delivery-id", "session"
                )
            self.first = first = t
            self.credit -= 1
            self.delivery_count = (self.delivery_count + 1) & 0xFFFFFFFF
            if t.more:
                self.partial = bytearray(payload)
        elif self.partial is not None:
            self.partial += payload
        if t.aborted:
            self.first = self.partial = None
            return
        if t.more:
            assert self.partial is not None
            limit = self.adapter.max_message_size
            if len(self.partial) > limit:
                self.first = self.partial = None
                raise AmqpError(RESOURCE_LIMIT, f"message larger than the {limit}-byte limit", "link")
            return
        data = self.partial if self.partial is not None else payload
        self.first = self.partial = None
        self.received(first, data)
        if self.credit <= PRODUCER_CREDIT // 2 and not self.held:
            self.grant()

    def received(self, first: Transfer, payload: Any) -> None:
        session = self.session
        did = first.delivery_id
        settled = bool(first.settled)
        state = first.state
        adapter = self.adapter
        tx = None
        txn_id = None
        try:
            if isinstance(state, TransactionalState):
                txn_id = state.txn_id
                tx = adapter.transaction(txn_id)
            msg = to_core(payload, self.dest, self.memo)
            msg.producer_key = adapter.conn
            assert adapter.core_session is not None
            c = adapter.core_session.send(msg, tx)
        except AmqpCodecError as e:
            if not settled:
                session.dispose(did, Rejected(error=AmqpError(e.condition, e.message).error()))
            return
        except AmqpError as e:
            if not settled:
                session.dispose(did, Rejected(error=e.error()))
            return
        except CoreError as e:
            if not settled:
                session.dispose(did, Rejected(error=core_error(e)))
            return
        if c.held:
            self.held += 1
            adapter.hold_reading(1)
            c.add_callback(self._held_done)
        if settled:
            return
        if c.is_done:
            session.dispose(did, self._outcome(c, txn_id))
        else:
            c.add_callback(lambda done: session.dispose(did, self._outcome(done, txn_id)))

    @staticmethod
    def _outcome(c: Completion, txn_id: bytes | None) -> Any:
        if not c.ok:
            err = c.error
            if isinstance(err, CoreError):
                return Rejected(error=core_error(err))
            return Rejected(
                error=AmqpError("amqp:internal-error", f"could not store the message: {err}").error()
            )
        if txn_id is not None:
            return TransactionalState(txn_id=txn_id, outcome=ACCEPTED_STATE)
        return ACCEPTED_STATE

    def _held_done(self, _c: Completion) -> None:
        self.held -= 1
        self.adapter.hold_reading(-1)
        if not self.held and self.credit <= PRODUCER_CREDIT // 2:
            self.grant()
            self.adapter.ctx.request_flush()

    def close(self, remove: bool) -> None:
        if self.gone:
            return
        if self.producer and self.dest is not None and self.adapter.core_session is not None:
            self.adapter.core_session.remove_producer(self.dest)
        super().close(remove)


class OutgoingLink(Link):
    """A client's receiver link: a core subscription whose deliveries become transfers.

    Transfers never exceed the link credit. A non-durable topic subscription's link also
    takes up to its destination policy's topic prefetch (``topic_prefetch``, what other
    protocols' topic consumers get) of deliveries beyond it, held here and sent as soon as
    the receiver gives credit: a receiver that keeps up but is between two flows is not a
    slow consumer whose oldest messages the pending-message limit discards, only one that
    falls that far behind is. Queues (shared with other consumers), durable subscriptions
    and draining links take no more than their credit.
    """

    __slots__ = (
        "sub", "presettled", "delivery_count", "backlogged", "drain", "_drain_pending", "_transfer",
        "_handle_enc", "_tail", "auto_tags", "link_credit", "extra", "held", "_pack0", "_pack8",
        "_pack32", "_content", "_count",
    )  # fmt: skip

    def __init__(
        self, adapter: AmqpAdapter, session: Session, name: str, handle: int, presettled: bool
    ) -> None:
        super().__init__(adapter, session, name, handle)
        self.sub: Subscription | None = None
        self.presettled = presettled
        self.delivery_count = 0
        self.backlogged = 0
        self.drain = False
        self._drain_pending = False
        self._transfer = Transfer(
            handle=handle, delivery_id=0, delivery_tag=b"", message_format=0, settled=presettled or None
        )
        # the transfer performative as the codec encodes it, around the delivery id and tag:
        # handle, delivery-id, delivery-tag (8-byte binary), message-format 0, settled
        self._handle_enc = hd = _uint(handle)
        self._tail = tail = b"\x43\x41" if presettled else b"\x43"
        # the frame head and performative in one pack, per delivery-id encoding (uint0,
        # smalluint, uint): size, doff, type, channel, descriptor + list8 constructor, list
        # size and count, handle, delivery-id, delivery-tag (vbin8 of 8 bytes), the tail
        h, t = len(hd), len(tail)
        self._pack0 = struct.Struct(f">IBBH4sBB{h}sBBBQ{t}s").pack
        self._pack8 = struct.Struct(f">IBBH4sBB{h}sBBBBQ{t}s").pack
        self._pack32 = struct.Struct(f">IBBH4sBB{h}sBIBBQ{t}s").pack
        #: the performative's list content without the delivery-id; its field count
        self._content = h + 10 + t
        self._count = 3 + t
        #: core tags of pre-settled deliveries sent, to settle in the core at the next flush
        self.auto_tags: list[int] = []
        #: the link credit the receiver gave us and we have not used
        self.link_credit = 0
        #: deliveries the core may give beyond the link credit (held here until credit comes)
        self.extra = 0
        self.held: deque[Delivery] = deque()

    def subscribe(self, spec: Any) -> None:
        spec.ack_mode = CLIENT
        spec.credit_mode = CREDIT
        dest = spec.destination
        # a non-durable topic subscription takes its destination policy's topic prefetch
        # (the prefetch other protocols' topic consumers get) beyond its link credit
        buffered = (dest.kind == TOPIC or dest.kind == TEMP_TOPIC) and not spec.durable_name
        spec.prefetch = None if buffered else 0
        assert self.adapter.core_session is not None
        self.sub = sub = self.adapter.core_session.subscribe(spec, self)
        self.extra = sub.prefetch if buffered else 0

    # -- DeliverySink --------------------------------------------------------------------------
    def deliver(self, d: Delivery) -> None:
        session = self.session
        if session.blocked:
            self.backlogged += 1
            session.backlog.append((self, d))
            return
        if self.link_credit <= 0:
            self.held.append(d)  # within ``extra``: sent when the receiver gives credit
            return
        self.transmit(d)

    def send_backlogged(self, d: Delivery) -> None:
        """A delivery that waited for the session's window (``Session.unblock``)."""
        self.backlogged -= 1
        if self.gone:
            return
        if self.link_credit <= 0:
            self.held.append(d)
            return
        self.transmit(d)

    def _send_held(self) -> None:
        held = self.held
        session = self.session
        while held and self.link_credit > 0 and not session.blocked and not self.gone:
            self.transmit(held.popleft())

    def _grant_core(self) -> None:
        """The core subscription's credit: the link credit left, plus the extra deliveries a
        buffered link takes (not while draining), minus what waits here to be sent."""
        sub = self.sub
        if sub is None:
            return
        extra = 0 if self.drain else self.extra
        sub.set_credit(max(self.link_credit + extra - self.backlogged - len(self.held), 0))

    def closed(self, error: Exception | None) -> None:
        if self.gone:
            return
        err = core_error(error) if isinstance(error, CoreError) else None
        self.sub = None
        self.detach(err)
        self.adapter.ctx.request_flush()

    # -- sending ---------------------------------------------------------------------------------
    def transmit(self, d: Delivery) -> None:
        if self.gone:
            return
        session = self.session
        adapter = self.adapter
        msg = d.message
        dc = d.delivery_count
        payload = msg.encode_cache.get(CACHE_FIRST) if dc == 0 else None
        if payload is None:
            payload = encode_delivery(msg, dc)
        did = session.next_delivery_id
        session.next_delivery_id = (did + 1) & 0xFFFFFFFF
        tag = d.tag
        # the common case, one frame: the performative from the link's precomputed parts
        # (handle, then delivery-id, the 8-byte tag, message-format 0 and settled)
        base = self._content
        size = FRAME_HEADER_SIZE + 6 + base + len(payload)
        if size + 5 <= adapter.remote_max_frame:
            out = adapter.out
            ch = session.channel
            if did == 0:
                size += 1
                out += self._pack0(
                    size,
                    2,
                    0,
                    ch,
                    _TRANSFER_DESC,
                    base + 2,
                    self._count,
                    self._handle_enc,
                    0x43,
                    0xA0,
                    8,
                    tag,
                    self._tail,
                )
            elif did < 256:
                size += 2
                out += self._pack8(
                    size,
                    2,
                    0,
                    ch,
                    _TRANSFER_DESC,
                    base + 3,
                    self._count,
                    self._handle_enc,
                    0x52,
                    did,
                    0xA0,
                    8,
                    tag,
                    self._tail,
                )
            else:
                size += 5
                out += self._pack32(
                    size,
                    2,
                    0,
                    ch,
                    _TRANSFER_DESC,
                    base + 6,
                    self._count,
                    self._handle_enc,
                    0x70,
                    did,
                    0xA0,
                    8,
                    tag,
                    self._tail,
                )
            out += payload
            n = 1
        else:
            t = self._transfer
            t.delivery_id = did
            t.delivery_tag = _tag(tag)
            n = encode_transfer(adapter.out, session.channel, t, payload, adapter.remote_max_frame)
        self.delivery_count = (self.delivery_count + 1) & 0xFFFFFFFF
        self.link_credit -= 1
        if self.presettled:
            auto = self.auto_tags
            if not auto:
                adapter._autosettle.append(self)
            auto.append(tag)
        else:
            session.unsettled_out[did] = (self, tag)
        session.next_outgoing_id = (session.next_outgoing_id + n) & 0xFFFFFFFF
        window = session.remote_incoming_window - n
        session.remote_incoming_window = window
        if window <= 0 and not session.blocked:
            session.block()
        if not adapter.flush_requested:
            adapter.flush_requested = True
            adapter.ctx.request_flush()

    def on_flow(self, flow: Any) -> None:
        sub = self.sub
        if sub is None:
            return
        if flow.link_credit is not None:
            dc = flow.delivery_count if flow.delivery_count is not None else 0
            credit = (dc + flow.link_credit - self.delivery_count) & 0xFFFFFFFF
            if credit > 0x7FFFFFFF:  # the receiver is behind us: no credit
                credit = 0
            self.link_credit = credit
        self.drain = bool(flow.drain)
        if self.held and not self.adapter.delivery_paused:
            self._send_held()
        self._grant_core()
        if self.drain and not self._drain_pending:
            # let the dispatch pass that set_credit scheduled run first
            self._drain_pending = True
            self.adapter.call_soon(self._finish_drain)
        elif flow.echo:
            self._send_state()

    def _finish_drain(self) -> None:
        self._drain_pending = False
        sub = self.sub
        if sub is None or self.gone or not self.drain:
            return
        left = self.link_credit - self.backlogged
        if left > 0:
            self.delivery_count = (self.delivery_count + left) & 0xFFFFFFFF
            self.link_credit -= left
            sub.set_credit(0)
        self._send_state()
        self.adapter.ctx.request_flush()

    def _send_state(self) -> None:
        self.session.send_flow(
            handle=self.handle,
            delivery_count=self.delivery_count,
            link_credit=max(self.link_credit, 0) if self.sub is not None else 0,
            drain=self.drain or None,
        )

    def pause(self) -> None:
        if self.sub is not None:
            self.sub.pause()

    def resume(self) -> None:
        if self.sub is not None and not self.adapter.delivery_paused:
            if self.held:
                self._send_held()
                self._grant_core()
            self.sub.resume()

    def close(self, remove: bool) -> None:
        if self.gone:
            return
        self.gone = True
        self.held.clear()  # never sent: they go back with the subscription's in-flight
        sub, self.sub = self.sub, None
        adapter = self.adapter
        if sub is not None and adapter.core_session is not None:
            adapter.flush_autosettle()
            adapter.core_session.unsubscribe(sub)
        # deliveries the client did not settle went back to their queue with the subscription
        uns = self.session.unsettled_out
        for did in [k for k, v in uns.items() if v[0] is self]:
            del uns[did]
        if (
            remove
            and self.durable_name
            and adapter.conn is not None
            and adapter.conn.client_id
            and adapter.core_session is not None
        ):
            try:
                adapter.core_session.remove_durable(adapter.conn.client_id, self.durable_name)
            except CoreError:
                pass
        super().close(remove)


__all__ = ["ACCEPTED", "PRODUCER_CREDIT", "IncomingLink", "Link", "OutgoingLink"]
