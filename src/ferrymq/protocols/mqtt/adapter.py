"""The MQTT 3.1.1 adapter: packets to core calls and back (R1, R2, R8).

Sans-I/O like the STOMP adapter: ``receive_data`` parses every complete packet and acts
on it; replies and deliveries go to an outbound list the transport drains once per tick.
While the CONNECT is being authenticated, later packets stay queued.

Sessions (docs/protocols/mqtt.md): a clean-session-0 client's subscriptions are durable
core subscriptions named ``<QoS name>:<filter>`` (``AT_MOST_ONCE``, ``AT_LEAST_ONCE``,
``EXACTLY_ONCE``), so their messages are kept, store-backed, while the client is away and
across restarts. Unacknowledged QoS 1/2 deliveries go back to the subscription when the
connection ends and are sent again, with DUP set, on reconnect. QoS 2 packet-identifier
state (received PUBLISH awaiting PUBREL, sent PUBREL awaiting PUBCOMP) is kept per client
id in memory and, for clean session 0, in the store (meta namespace ``mqtt.session``), so it
survives a restart.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
import weakref
from collections import deque
from typing import Any

from ferrymq.core import (
    ACCEPTED,
    AUTO,
    CLIENT,
    DONE,
    TOPIC,
    WRITE,
    ClientConnection,
    ClientSession,
    Completion,
    CoreError,
    Credentials,
    Delivery,
    DestinationName,
    InvalidRequest,
    NotFound,
    Subscription,
    SubscriptionSpec,
    Unauthorized,
)
from ferrymq.protocols.base import AdapterContext, ProtocolAdapter
from ferrymq.protocols.mqtt.mapping import (
    OUTBOUND_KEY,
    Outbound,
    filter_to_core,
    to_core,
)
from ferrymq.protocols.mqtt.packets import (
    CONNACK_BAD_CREDENTIALS,
    CONNACK_IDENTIFIER_REJECTED,
    CONNACK_NOT_AUTHORIZED,
    CONNACK_SERVER_UNAVAILABLE,
    Connect,
    Disconnect,
    MqttCodecError,
    MqttParser,
    Packet,
    PingReq,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    RawPublish,
    SubAck,
    Subscribe,
    Unsubscribe,
    encode,
)

log = logging.getLogger("ferrymq.mqtt")

#: a client is declared dead after its keep-alive times this (spec 3.1.2.10)
KEEP_ALIVE_GRACE = 1.5
#: durable subscription name prefix per granted QoS (clean session 0)
QOS_NAMES = ("AT_MOST_ONCE:", "AT_LEAST_ONCE:", "EXACTLY_ONCE:")
#: unacknowledged QoS 1/2 deliveries per non-durable subscription (durable ones use the
#: policy's durable topic prefetch); bounded so packet identifiers never run out
QOS_PREFETCH = 1000
PINGRESP = b"\xd0\x00"
#: one-byte bytes objects by value (PUBLISH first bytes)
_BYTE = tuple(bytes((i,)) for i in range(256))

_ids = itertools.count(1)
_id_prefix = f"ferrymq-{os.getpid() % 100000}-"


def _pid_packet(b0: int, pid: int) -> bytes:
    return bytes((b0, 2, pid >> 8, pid & 0xFF))


#: store meta namespace of the QoS 2 packet ids of clean-session-0 clients (key: client id)
STATE_NS = "mqtt.session"


class SessionState:
    """Packet-identifier state of one client id that outlives a connection (QoS 2).

    For clean session 0 it is also kept in the store, so that it outlives the broker."""

    __slots__ = ("inbound_qos2", "awaiting_pubcomp")

    def __init__(self) -> None:
        self.inbound_qos2: set[int] = set()  # PUBLISH received, PUBREL not yet
        self.awaiting_pubcomp: set[int] = set()  # PUBREL sent, PUBCOMP not yet

    def __bool__(self) -> bool:
        return bool(self.inbound_qos2 or self.awaiting_pubcomp)

    def encode(self) -> bytes | None:
        if not self:
            return None
        return json.dumps({"in": sorted(self.inbound_qos2), "out": sorted(self.awaiting_pubcomp)}).encode()

    @classmethod
    def decode(cls, raw: bytes) -> SessionState:
        st = cls()
        try:
            d = json.loads(raw)
            st.inbound_qos2 = {int(x) for x in d.get("in", ())}
            st.awaiting_pubcomp = {int(x) for x in d.get("out", ())}
        except (ValueError, TypeError, AttributeError) as e:
            log.warning("mqtt: ignoring an unreadable stored session state: %s", e)
        return st


#: broker -> client id -> session state (clean session 0 clients only)
_SESSIONS: weakref.WeakKeyDictionary[Any, dict[str, SessionState]] = weakref.WeakKeyDictionary()


class MqttSubscription:
    """The adapter's side of one topic filter: a DeliverySink."""

    __slots__ = ("adapter", "filter", "qos", "sub", "durable_name", "dollar_guard")

    def __init__(self, adapter: MqttAdapter, topic_filter: str, qos: int, durable_name: str | None) -> None:
        self.adapter = adapter
        self.filter = topic_filter
        self.qos = qos
        self.sub: Subscription | None = None
        self.durable_name = durable_name
        # spec 4.7.2: a filter starting with a wildcard does not match topics starting with $
        self.dollar_guard = topic_filter[:1] in ("+", "#")

    def deliver(self, d: Delivery) -> None:
        self.adapter._deliver(self, d)

    def closed(self, error: Exception | None) -> None:
        self.adapter._subscription_gone(self, error)


class MqttAdapter(ProtocolAdapter):
    name = "mqtt"

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        lim = ctx.limits
        self.parser = MqttParser(max_packet_size=lim.max_frame_size, server=True)
        self.broker = ctx.broker
        self._out: list[bytes] = []
        self._flush_requested = False
        self._pending: deque[Packet | RawPublish] = deque()
        self._replies: deque[tuple[Completion, bytes]] = deque()  # in request order
        self._reply_done = self._on_reply_done  # one bound method for every reply callback
        self._state = "new"  # new -> connecting -> connected -> closing
        self._close_after_flush = False
        self.conn: ClientConnection | None = None
        self.session: ClientSession | None = None
        self.client_id = ""
        self.clean_session = True
        self.subs: dict[str, MqttSubscription] = {}
        self.state = SessionState()
        self._inflight: dict[int, tuple[MqttSubscription, int, int]] = {}  # pid -> (sub, tag, qos)
        self._next_pid = 0
        self._will: Any = None
        now = time.monotonic()
        self._last_recv = now
        self._recv_timeout = 0.0
        self._connect_deadline = now + lim.connect_timeout

    # -- input ---------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if self._state == "closing":
            return
        self._last_recv = time.monotonic()
        try:
            packets = self.parser.feed_fast(data)
        except MqttCodecError as e:
            self._pending.extend(e.packets)
            self._drain()
            if self._state == "new" and e.code is not None:
                self._out.append(bytes((0x20, 2, 0, int(e.code))))  # type: ignore[call-overload]
            self._fail(f"malformed packet: {e.message}")
            return
        if packets:
            if self._state == "connected" and not self._pending:
                self._run(packets)
            else:
                self._pending.extend(packets)
                self._drain()

    def _run(self, packets: list[Packet | RawPublish]) -> None:
        """Act on ``packets`` of a connected client in order. Consecutive PUBACKs settle as one
        batch per subscription, before any other kind of packet is acted on."""
        handlers = self._handlers
        inflight = self._inflight
        acks: dict[MqttSubscription, list[int]] | None = None
        for p in packets:
            if self._state != "connected":
                break
            t = type(p)
            try:
                if t is tuple:
                    self._publish(p[0], p[1], p[2], p[3], p[5])  # type: ignore[index,arg-type]
                    continue
                if t is PubAck:
                    pid: int = p.packet_id  # type: ignore[union-attr,assignment]
                    entry = inflight.get(pid)
                    if entry is None or entry[2] != 1:
                        continue  # unknown or already acknowledged: ignored
                    del inflight[pid]
                    if acks is None:
                        acks = {entry[0]: [entry[1]]}
                    else:
                        tags = acks.get(entry[0])
                        if tags is None:
                            acks[entry[0]] = [entry[1]]
                        else:
                            tags.append(entry[1])
                    continue
                if acks is not None:
                    a, acks = acks, None
                    self._settle_acks(a)
                handler = handlers.get(t)
                if handler is None:
                    self._fail(f"{t.__name__} is not a packet a client may send now")
                    continue
                handler(self, p)
            except CoreError as e:
                self._fail(e.message)
        if acks is not None:
            try:
                self._settle_acks(acks)
            except CoreError as e:
                self._fail(e.message)

    def _settle_acks(self, acks: dict[MqttSubscription, list[int]]) -> None:
        session = self.session
        if session is None:
            return
        for ms, tags in acks.items():
            sub = ms.sub
            if sub is not None and not sub.closed:
                session.settle(sub, tags, ACCEPTED)

    def _drain(self) -> None:
        pending = self._pending
        handlers = self._handlers
        while pending and (self._state == "connected" or self._state == "new"):
            p = pending.popleft()
            if type(p) is tuple:
                p = Publish(*p)
            try:
                if self._state == "new":
                    if type(p) is Connect:
                        self.on_connect(p)
                    else:
                        self._fail(f"the first packet must be CONNECT, not {type(p).__name__}")
                    continue
                handler = handlers.get(type(p))
                if handler is None:
                    self._fail(f"{type(p).__name__} is not a packet a client may send now")
                    continue
                handler(self, p)
            except CoreError as e:
                self._fail(e.message)

    # -- CONNECT -------------------------------------------------------------------------
    def _connack(self, code: int, session_present: bool = False) -> None:
        self._out.append(bytes((0x20, 2, 1 if session_present else 0, code)))

    def on_connect(self, c: Connect) -> None:
        cid = c.client_id
        if not cid:
            if not c.clean_session:
                self._connack(CONNACK_IDENTIFIER_REJECTED)
                self._fail("an empty client id needs clean session 1")
                return
            cid = f"{_id_prefix}{next(_ids)}"
        self.client_id = cid
        self.clean_session = c.clean_session
        self._state = "connecting"
        password = c.password.decode("utf-8", "replace") if c.password is not None else None
        creds = Credentials(c.username, password, self.ctx.peer.address, "mqtt")
        done = self.ctx.authenticator.authenticate(creds)
        done.add_callback(lambda r: self._authenticated(r, c))

    def _authenticated(self, result: Completion, c: Connect) -> None:
        if self._state != "connecting":
            return
        if not result.ok:
            self._connack(CONNACK_BAD_CREDENTIALS if c.username is not None else CONNACK_NOT_AUTHORIZED)
            self._fail(f"authentication failed for {c.username!r}")
            return
        broker = self.broker
        cid = self.client_id
        try:
            conn = broker.connect(
                cid,
                result.result,
                "mqtt",
                f"{self.ctx.peer.address}:{self.ctx.peer.port}",
                take_over=True,
                on_kicked=self._kicked,
            )
        except CoreError as e:
            self._connack(CONNACK_SERVER_UNAVAILABLE)
            self._fail(e.message)
            return
        if c.will_topic is not None:
            will = to_core(c.will_topic, c.will_message or b"", c.will_qos, c.will_retain)
            try:
                conn.check(WRITE, will.destination)
            except Unauthorized:
                conn.close()
                self._connack(CONNACK_NOT_AUTHORIZED)
                self._fail(f"not authorized to publish the will to {c.will_topic}")
                return
            will.producer_key = conn
            self._will = will
        self.conn = conn
        conn.max_subscriptions = self.ctx.limits.max_subscriptions_per_connection
        self.session = conn.open_session()
        sessions = _SESSIONS.setdefault(broker, {})
        durables = [d for d in broker.durable_subscriptions_of(cid) if d[0].startswith(QOS_NAMES)]
        if self.clean_session:
            old = sessions.pop(cid, None)
            if broker.take_recovered_meta(STATE_NS, cid) is not None or old:
                broker.store_meta(STATE_NS, cid, None)
            for name, *_ in durables:
                try:
                    broker.remove_durable(cid, name)
                except CoreError:
                    log.warning("mqtt: could not remove durable subscription %s of %s", name, cid)
            present = False
        else:
            state = sessions.get(cid)
            if state is None:
                raw = broker.take_recovered_meta(STATE_NS, cid)
                state = sessions[cid] = SessionState.decode(raw) if raw is not None else SessionState()
            self.state = state
            present = bool(durables) or bool(state)
        self._connack(0, present)
        if c.keep_alive:
            self._recv_timeout = c.keep_alive * KEEP_ALIVE_GRACE
        self._state = "connected"
        if not self.clean_session:
            for name, *_ in durables:
                prefix, _, topic_filter = name.partition(":")
                qos = QOS_NAMES.index(prefix + ":")
                self._subscribe_one(topic_filter, qos, retroactive=False)
            for pid in sorted(self.state.awaiting_pubcomp):
                self._out.append(_pid_packet(0x62, pid))
        self._request_flush()
        self._drain()

    def _kicked(self, error: Exception) -> None:
        # another connection took this client id over: the network connection is closed
        # without a DISCONNECT, so the will is published
        self.conn = None
        self.session = None
        self._publish_will()
        self._fail(str(error))
        self._request_flush()

    # -- helpers ---------------------------------------------------------------------------
    def _request_flush(self) -> None:
        """Ask the transport for one flush (one request per tick)."""
        if not self._flush_requested:
            self._flush_requested = True
            self.ctx.request_flush()

    def _fail(self, reason: str) -> None:
        """Close the network connection (after what is already queued for it)."""
        if self._state == "closing":
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("mqtt %s from %s: closing: %s", self.client_id, self.ctx.peer.address, reason)
        self._state = "closing"
        self._close_after_flush = True
        self._pending.clear()
        self._request_flush()

    def _reply(self, c: Completion, data: bytes) -> None:
        """Queue an acknowledgement that may only go out once ``c`` is durable, in order.

        A completion that resolves later only asks for a flush; :meth:`data_to_send` moves
        the acknowledgements whose completions are done, in order, to the output."""
        if c.is_done and not self._replies:
            if c.ok:
                self._out.append(data)
            else:
                self._fail(f"could not store a message: {c.error}")
            return
        self._replies.append((c, data))
        c.add_callback(self._reply_done)

    def _on_reply_done(self, _c: Completion) -> None:
        if not self._flush_requested:
            self._flush_requested = True
            self.ctx.request_flush()

    def _replies_ready(self) -> None:
        q = self._replies
        out = self._out
        while q and q[0][0].is_done:
            c, data = q.popleft()
            if not c.ok:
                self._fail(f"could not store a message: {c.error}")
                q.clear()
                return
            if self._state != "closing":
                out.append(data)

    def _publish_will(self) -> None:
        will, self._will = self._will, None
        if will is None:
            return
        try:
            self.broker.send(will)
        except CoreError as e:
            log.warning("mqtt: could not publish the will of %s: %s", self.client_id, e)

    def _alloc_pid(self) -> int:
        inflight = self._inflight
        busy = self.state.awaiting_pubcomp
        for _ in range(65535):
            pid = self._next_pid + 1
            if pid > 65535:
                pid = 1
            self._next_pid = pid
            if pid not in inflight and pid not in busy:
                return pid
        raise InvalidRequest("no free packet identifier")

    # -- packets ---------------------------------------------------------------------------
    def on_publish(self, p: Publish) -> None:
        self._publish(p.topic, p.payload, p.qos, p.retain, p.packet_id)

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool, pid: int | None) -> None:
        if qos == 2 and pid in self.state.inbound_qos2:
            # a re-sent PUBLISH we already routed (method B, spec 4.3.3): acknowledge again
            self._reply(Completion.done(), _pid_packet(0x50, pid))
            return
        msg = to_core(topic, payload, qos, retain)
        msg.producer_key = self.conn
        session = self.session
        assert session is not None
        try:
            done = session.send(msg)
        except (Unauthorized, InvalidRequest, NotFound) as e:
            # MQTT 3.1.1 cannot refuse one PUBLISH: it is dropped and acknowledged
            log.warning("mqtt %s: PUBLISH to %s dropped: %s", self.client_id, topic, e)
            done = DONE
        if qos == 0:
            if done is not DONE and (not done.is_done or not done.ok):
                done.add_callback(self._check_stored)
            return
        assert pid is not None
        if qos == 1:
            self._reply(done, _pid_packet(0x40, pid))
        else:
            self.state.inbound_qos2.add(pid)
            # PUBREC once both the message and the packet id are durable
            self._reply(Completion.all([done, self._save_state()]), _pid_packet(0x50, pid))

    def _check_stored(self, c: Completion) -> None:
        if not c.ok:
            self._fail(f"could not store a message: {c.error}")

    def _save_state(self) -> Completion:
        """Store the session's packet ids (clean session 0); resolves once durable."""
        if self.clean_session or not self.client_id:
            return DONE
        return self.broker.store_meta(STATE_NS, self.client_id, self.state.encode())

    def on_pubrel(self, p: PubRel) -> None:
        inbound = self.state.inbound_qos2
        if p.packet_id in inbound:
            inbound.discard(p.packet_id)
            # PUBCOMP frees the id for the client: not before the broker forgot it for good
            self._reply(self._save_state(), _pid_packet(0x70, p.packet_id))
        else:
            self._reply(DONE, _pid_packet(0x70, p.packet_id))

    def on_puback(self, p: PubAck) -> None:
        # the connected path (_run) batches PUBACKs; this one serves packets queued while
        # the CONNECT was authenticated
        entry = self._inflight.get(p.packet_id)
        if entry is None or entry[2] != 1:
            return  # unknown or already acknowledged: ignored
        del self._inflight[p.packet_id]
        self._settle(entry)

    def on_pubrec(self, p: PubRec) -> None:
        pid = p.packet_id
        entry = self._inflight.get(pid)
        if entry is not None and entry[2] != 2:
            return
        awaiting = self.state.awaiting_pubcomp
        if pid not in awaiting:
            awaiting.add(pid)
            # submitted before the message's removal: never the removal without the id
            self._save_state()
        if entry is not None:
            del self._inflight[pid]
            self._settle(entry)
        self._out.append(_pid_packet(0x62, pid))

    def on_pubcomp(self, p: PubComp) -> None:
        awaiting = self.state.awaiting_pubcomp
        if p.packet_id in awaiting:
            awaiting.discard(p.packet_id)
            self._save_state()

    def _settle(self, entry: tuple[MqttSubscription, int, int]) -> None:
        ms, tag, _ = entry
        sub = ms.sub
        if sub is not None and not sub.closed and self.session is not None:
            self.session.settle(sub, [tag], ACCEPTED)

    def on_subscribe(self, p: Subscribe) -> None:
        codes = [self._subscribe_one(f, q, retroactive=True) for f, q in p.topics]
        self._out.append(encode(SubAck(p.packet_id, codes)))

    def _subscribe_one(self, topic_filter: str, qos: int, *, retroactive: bool) -> int:
        assert self.session is not None and self.conn is not None
        old = self.subs.pop(topic_filter, None)
        if old is not None:
            self._drop_sub(old)
        durable = None
        if not self.clean_session:
            durable = QOS_NAMES[qos] + topic_filter
            for other in QOS_NAMES:
                name = other + topic_filter
                if name != durable and any(
                    d[0] == name for d in self.broker.durable_subscriptions_of(self.client_id)
                ):
                    self.broker.remove_durable(self.client_id, name)
        spec = SubscriptionSpec(
            DestinationName(TOPIC, filter_to_core(topic_filter)),
            ack_mode=AUTO if qos == 0 else CLIENT,
            prefetch=None if durable or qos == 0 else QOS_PREFETCH,
            durable_name=durable,
            retroactive=retroactive,
        )
        ms = MqttSubscription(self, topic_filter, qos, durable)
        try:
            ms.sub = self.session.subscribe(spec, ms)
        except CoreError as e:
            log.warning("mqtt %s: SUBSCRIBE %s refused: %s", self.client_id, topic_filter, e)
            return 0x80
        self.subs[topic_filter] = ms
        return qos

    def _drop_sub(self, ms: MqttSubscription) -> None:
        for pid in [pid for pid, e in self._inflight.items() if e[0] is ms]:
            del self._inflight[pid]
        if ms.sub is not None and self.session is not None:
            sub, ms.sub = ms.sub, None
            self.session.unsubscribe(sub)

    def on_unsubscribe(self, p: Unsubscribe) -> None:
        for topic_filter in p.topics:
            ms = self.subs.pop(topic_filter, None)
            if ms is not None:
                self._drop_sub(ms)
            if not self.clean_session:
                names = {d[0] for d in self.broker.durable_subscriptions_of(self.client_id)}
                for prefix in QOS_NAMES:
                    if prefix + topic_filter in names:
                        self.broker.remove_durable(self.client_id, prefix + topic_filter)
        self._out.append(_pid_packet(0xB0, p.packet_id))

    def on_pingreq(self, p: PingReq) -> None:
        self._out.append(PINGRESP)

    def on_disconnect(self, p: Disconnect) -> None:
        self._will = None  # a clean disconnect discards the will (spec 3.14.4)
        self._fail("DISCONNECT")

    def on_connect_again(self, p: Connect) -> None:
        self._fail("a second CONNECT is a protocol violation")

    _handlers: dict[type, Any] = {
        Publish: on_publish,
        PubAck: on_puback,
        PubRec: on_pubrec,
        PubRel: on_pubrel,
        PubComp: on_pubcomp,
        Subscribe: on_subscribe,
        Unsubscribe: on_unsubscribe,
        PingReq: on_pingreq,
        Disconnect: on_disconnect,
        Connect: on_connect_again,
    }

    # -- deliveries ------------------------------------------------------------------------
    def _deliver(self, ms: MqttSubscription, d: Delivery) -> None:
        msg = d.message
        cache = msg.encode_cache
        o: Outbound | None = cache.get(OUTBOUND_KEY)
        if o is None:
            o = cache[OUTBOUND_KEY] = Outbound(msg)
        if ms.dollar_guard and o.dollar:
            sub = ms.sub
            if sub is not None and not sub.presettled and self.session is not None:
                self.session.settle(sub, [d.tag], ACCEPTED)
            return
        qos = o.qos
        if ms.qos < qos:
            qos = ms.qos
        out = self._out
        if qos == 0:
            head = o._head0
            out.append(head if head is not None else o.head0())
            out.append(o.payload)
            sub = ms.sub
            if sub is not None and not sub.presettled and self.session is not None:
                self.session.settle(sub, [d.tag], ACCEPTED)
        else:
            inflight = self._inflight
            pid = self._next_pid + 1
            if pid > 65535 or pid in inflight or pid in self.state.awaiting_pubcomp:
                pid = self._alloc_pid()
            else:
                self._next_pid = pid
            inflight[pid] = (ms, d.tag, qos)
            mid = o._middle
            if mid is None:
                mid = o.middle()
            b0 = 0x30 | qos << 1 | o.retain
            if d.redelivered:
                b0 |= 8
            out.append(_BYTE[b0] + mid + bytes((pid >> 8, pid & 0xFF)))
            out.append(o.payload)
        if not self._flush_requested:
            self._flush_requested = True
            self.ctx.request_flush()

    def _subscription_gone(self, ms: MqttSubscription, error: Exception | None) -> None:
        if self.subs.get(ms.filter) is ms:
            del self.subs[ms.filter]
            self._fail(f"subscription {ms.filter} was closed by the broker: {error}")

    # -- transport side ----------------------------------------------------------------------
    def data_to_send(self) -> list[bytes]:
        self._flush_requested = False
        if self._replies:
            self._replies_ready()
        out = self._out
        if out:
            self._out = []
        return out

    def should_close(self) -> bool:
        return self._close_after_flush and not self._out

    def tick(self, now: float) -> float | None:
        if self._state in ("new", "connecting"):
            if now >= self._connect_deadline:
                self._fail("no CONNECT within the connect timeout")
                return None
            return self._connect_deadline
        if self._state != "connected" or not self._recv_timeout:
            return None
        due = self._last_recv + self._recv_timeout
        if now >= due:
            self._fail("keep-alive expired")
            return None
        return due

    def pause_delivery(self) -> None:
        if self.conn is not None:
            self.conn.pause_deliveries()

    def resume_delivery(self) -> None:
        if self.conn is not None:
            self.conn.resume_deliveries()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._state = "closing"
        self._publish_will()
        if self.conn is not None:
            conn, self.conn = self.conn, None
            conn.close()
        if self.clean_session and self.client_id:
            sessions = _SESSIONS.get(self.broker)
            if sessions is not None and sessions.get(self.client_id) is self.state:
                del sessions[self.client_id]
