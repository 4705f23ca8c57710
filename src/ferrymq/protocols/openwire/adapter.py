"""The OpenWire adapter: the ActiveMQ 5.x JMS client's commands to core calls and back.

Sans-I/O like the STOMP adapter: ``receive_data`` decodes every complete command and acts
on it; replies and dispatches go to an outbound list the transport drains once per tick.
While the ConnectionInfo is being authenticated later commands stay queued. A command that
must wait for the store (a persistent send, a commit) answers from its Completion's callback.
Errors leave through one door: an ExceptionResponse when the command wants a response, a
ConnectionError (and a close, for bad bytes and commands a client must not send) otherwise.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ferrymq import __version__
from ferrymq.core import (
    ACCEPTED,
    CLIENT,
    DONE,
    REJECTED,
    TEMP_QUEUE,
    TEMP_TOPIC,
    ClientConnection,
    ClientSession,
    Completion,
    CoreError,
    Credentials,
    Delivery,
    DestinationName,
    IllegalState,
    InvalidRequest,
    NotFound,
    Subscription,
    SubscriptionSpec,
    Transaction,
)
from ferrymq.protocols.base import AdapterContext, ProtocolAdapter

from . import codec, fastpath, mapping, spec
from .spec import DataStructure, OpenWireCodecError, ThrowableInfo
from .support import ProtocolViolation as _ProtocolViolation
from .support import TxRolledBack as _TxRolledBack
from .support import registry as _registry
from .support import throwable as _throwable

# MessageAck types
DELIVERED_ACK, POISON_ACK, STANDARD_ACK, REDELIVERED_ACK = 0, 1, 2, 3
INDIVIDUAL_ACK, UNMATCHED_ACK, EXPIRED_ACK = 4, 5, 6
# TransactionInfo types
TX_BEGIN, TX_PREPARE, TX_COMMIT_ONE_PHASE, TX_COMMIT_TWO_PHASE = 0, 1, 2, 3
TX_ROLLBACK, TX_RECOVER, TX_FORGET, TX_END = 4, 5, 6, 7
# DestinationInfo operations
DEST_ADD, DEST_REMOVE = 0, 1

ADVISORY_PREFIX = "ActiveMQ.Advisory."
#: entries kept in the per-connection name caches before they are cleared
_NAME_CACHE_LIMIT = 1024
TEMP_ADVISORIES = ("ActiveMQ.Advisory.TempQueue", "ActiveMQ.Advisory.TempTopic")
#: stop reading from a producer with this many responses waiting for the store
PENDING_HIGH = 2000
PENDING_LOW = 500
#: a peer is declared dead after its inactivity duration times this
INACTIVITY_GRACE = 1.5


# -- consumers ----------------------------------------------------------------------------------
class OpenWireConsumer:
    """One ConsumerInfo: a DeliverySink for one core subscription per destination."""

    __slots__ = (
        "adapter",
        "info",
        "consumer_id",
        "subs",
        "pending",
        "prefetch",
        "extension",
        "browser",
        "advisory",
        "pull_deadline",
        "pulling",
        "session_key",
        "__weakref__",
    )

    def __init__(self, adapter: OpenWireAdapter, info: DataStructure, session_key: Any) -> None:
        self.adapter = adapter
        self.info = info
        self.consumer_id = info.consumer_id
        self.subs: list[Subscription] = []
        #: MessageId key (``_mkey``) -> (subscription, tag), in dispatch order
        self.pending: dict[Any, tuple[Subscription, int]] = {}
        self.prefetch = max(0, int(info.prefetch_size))
        self.extension = 0  # in-flight deliveries the application has consumed (delivered acks)
        self.browser = bool(info.browser)
        self.advisory = False
        self.pull_deadline = 0.0
        self.pulling = False  # a MessagePull waits for a message (prefetch 0)
        self.session_key = session_key

    def deliver(self, d: Delivery) -> None:
        self.adapter._deliver(self, d)

    def closed(self, error: Exception | None) -> None:
        self.adapter._consumer_gone(self, error)


class OpenWireAdapter(ProtocolAdapter):
    name = "openwire"

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        lim = ctx.limits
        self.broker = ctx.broker
        inactivity_ms = int(lim.max_inactivity * 1000) if lim.max_inactivity else 30_000
        self.preferred = codec.make_wire_format_info(
            provider_version=__version__,
            max_frame_size=lim.max_frame_size,
            max_inactivity_duration=min(30_000, inactivity_ms),
            stack_trace_enabled=False,
        )
        self.parser = codec.OpenWireParser(
            codec.WireFormat(max_frame_size=lim.max_frame_size), preferred=self.preferred
        )
        self._out: list[bytes] = [self.parser.encode(self.preferred)]
        self._pending: deque[DataStructure] = deque()
        self._state = "new"  # new -> negotiated -> connecting -> connected -> closing
        self._close_after_flush = False
        self.conn: ClientConnection | None = None
        self.connection_id: str | None = None
        self.info: DataStructure | None = None
        self.sessions: dict[Any, ClientSession] = {}
        self.tx_session: ClientSession | None = None
        self.consumers: dict[Any, OpenWireConsumer] = {}
        self.producers: dict[Any, DataStructure] = {}
        self.transactions: dict[Any, Transaction] = {}
        #: MessageIds settled inside a transaction, forgotten at commit: tx key -> [(consumer, ids)]
        self._tx_acks: dict[Any, list[tuple[OpenWireConsumer, list[Any]]]] = {}
        self.temps: set[DestinationName] = set()
        self._inflight = 0  # commands waiting for a Completion
        self._held = 0  # sends held back by producer flow control
        self._reading_paused = False
        now = time.monotonic()
        self._last_recv = now
        self._last_send = now
        self._send_interval = 0.0
        self._recv_timeout = 0.0
        self._connect_deadline = now + lim.connect_timeout
        self._pulls: set[OpenWireConsumer] = set()
        #: id(destination structure) -> (it, its core names): the structures a producer sends
        #: to come from the marshal cache, the same object each time (kept alive here)
        self._targets: dict[int, tuple[Any, list[DestinationName]]] = {}
        #: id(producer id) -> (it, its session, its ProducerInfo); dropped whenever sessions or
        #: producers change
        self._producer_state: dict[int, tuple[Any, Any, Any]] = {}

    # -- input -------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if self._state == "closing":
            return
        self._last_recv = time.monotonic()
        try:
            commands = self.parser.feed(data)
        except OpenWireCodecError as e:
            done = getattr(e, "commands", ()) or ()
            # a WireFormatInfo the parser refused (bad magic) is not acted on
            self._pending.extend(
                c for c in done if self.parser.negotiated or type(c) is not spec.WireFormatInfo
            )
            self._drain()
            self._fatal(e)
            return
        if commands:
            self._pending.extend(commands)
            self._drain()
        limit = self.ctx.limits.max_incomplete_frame_bytes
        if self.parser.buffered > limit and self._state != "closing":
            self._fatal(OpenWireCodecError(f"incomplete command of more than {limit} bytes"))

    def _drain(self) -> None:
        pending = self._pending
        while pending and self._state in ("new", "negotiated", "connected"):
            cmd = pending.popleft()
            try:
                t = type(cmd)
                if self._state == "connected":
                    if t is _MessageAck and _simple_ack(cmd):
                        self._ack_run(cmd)
                        continue
                    if t in _MESSAGE_TYPES:  # what _handle does for it
                        self.on_message(cmd)
                        continue
                self._handle(cmd)
            except _ProtocolViolation as e:
                if cmd.response_required:
                    self._exception_response(cmd, InvalidRequest(str(e)))
                else:
                    self._fatal(InvalidRequest(str(e)))
            except (CoreError, _TxRolledBack) as e:
                self._command_failed(cmd, e)
            except OpenWireCodecError as e:
                # a message body or property map that does not decode
                if cmd.response_required:
                    self._exception_response(cmd, e)
                else:
                    self._fatal(e)

    def _handle(self, cmd: DataStructure) -> None:
        t = type(cmd)
        if self._state == "new":
            if t is spec.WireFormatInfo:
                self.on_wire_format_info(cmd)
                return
            raise _ProtocolViolation(f"a WireFormatInfo is expected first, got {t.__name__}")
        if t in _MESSAGE_TYPES:
            self._need_connection(cmd)
            self.on_message(cmd)
            return
        handler = self._handlers.get(t)
        if handler is None:
            raise _ProtocolViolation(f"{t.__name__} is not a command ferrymq accepts from a client")
        if self._state != "connected" and t not in (
            spec.ConnectionInfo,
            spec.KeepAliveInfo,
            spec.WireFormatInfo,
            spec.ShutdownInfo,
            spec.RemoveInfo,
            spec.ConnectionControl,
            spec.FlushCommand,
        ):
            raise _ProtocolViolation(f"{t.__name__} before ConnectionInfo")
        handler(self, cmd)

    def _need_connection(self, cmd: DataStructure) -> None:
        if self._state != "connected":
            raise _ProtocolViolation(f"{type(cmd).__name__} before ConnectionInfo")

    # -- output helpers -------------------------------------------------------------------------
    def _send(self, cmd: DataStructure) -> None:
        if self._state == "closing" and not isinstance(
            cmd, spec.ExceptionResponse | spec.ConnectionError | spec.Response
        ):
            return
        try:
            frame = self.parser.encode(cmd)
        except OpenWireCodecError as e:
            self.ctx.log.warning("openwire: cannot encode %s: %s", type(cmd).__name__, e)
            return
        out = self._out
        out.append(frame)
        if len(out) == 1:  # otherwise a flush is already due (``data_to_send`` empties it)
            self.ctx.request_flush()

    def _respond(self, cmd: DataStructure) -> None:
        if cmd.response_required:
            self._send_response(cmd.command_id)

    def _send_response(self, correlation_id: int) -> None:
        parser = self.parser
        if parser.fast_write:
            out = self._out
            out.append(fastpath.response_frame(parser, correlation_id))
            if len(out) == 1:
                self.ctx.request_flush()
        else:
            self._send(spec.Response(correlation_id=correlation_id))

    def _exception_response(self, cmd: DataStructure, err: BaseException) -> None:
        self._send(spec.ExceptionResponse(correlation_id=cmd.command_id, exception=_throwable(err)))

    def _command_failed(self, cmd: DataStructure, err: BaseException) -> None:
        if self.ctx.log.isEnabledFor(10):
            self.ctx.log.debug("openwire: %s failed: %s", type(cmd).__name__, err)
        if cmd.response_required:
            self._exception_response(cmd, err)
        else:
            self._send(spec.ConnectionError(exception=_throwable(err), connection_id=self._conn_id_struct()))

    def _conn_id_struct(self) -> DataStructure | None:
        return spec.ConnectionId(value=self.connection_id) if self.connection_id else None

    def _fatal(self, err: BaseException) -> None:
        if self._state == "closing":
            return
        peer = self.ctx.peer
        self.ctx.log.info("openwire %s:%s: closing the connection: %s", peer.address, peer.port, err)
        self._send(spec.ConnectionError(exception=_throwable(err), connection_id=self._conn_id_struct()))
        self._close()

    def _close(self) -> None:
        self._state = "closing"
        self._close_after_flush = True
        self._pending.clear()
        self._release()
        self.ctx.request_flush()

    def _after(self, completion: Completion, cb: Callable[[Completion], None]) -> None:
        """Run ``cb`` when ``completion`` resolves, counting what waits for the store."""
        if completion.is_done:
            cb(completion)
            return
        self._inflight += 1
        if self._inflight >= PENDING_HIGH:
            self._set_reading()

        def done(c: Completion) -> None:
            self._inflight -= 1
            self._set_reading()
            cb(c)

        completion.add_callback(done)

    def _hold(self, c: Completion) -> None:
        """Producer flow control: stop reading until the broker takes the send ``c``."""
        self._held += 1
        self._set_reading()
        c.add_callback(self._held_done)

    def _held_done(self, _c: Completion) -> None:
        self._held -= 1
        self._set_reading()

    def _set_reading(self) -> None:
        """Stop reading while sends are held or too many wait for the store; start again
        when neither is true (inbound back-pressure)."""
        if self._reading_paused:
            if not self._held and self._inflight <= PENDING_LOW:
                self._reading_paused = False
                self.ctx.resume_reading()
        elif self._held or self._inflight >= PENDING_HIGH:
            self._reading_paused = True
            self.ctx.pause_reading()

    # -- connection level ------------------------------------------------------------------------
    def on_wire_format_info(self, cmd: DataStructure) -> None:
        if self._state != "new":
            return  # a repeated WireFormatInfo changes nothing
        wf = self.parser.wire_format
        self._state = "negotiated"
        if wf.max_inactivity_duration > 0:
            ms = wf.max_inactivity_duration
            self._send_interval = ms / 1000.0 / 3
            self._recv_timeout = ms / 1000.0 * INACTIVITY_GRACE
        self._last_recv = time.monotonic() + wf.max_inactivity_duration_initial_delay / 1000.0
        peer = self.ctx.peer
        self._send(
            spec.BrokerInfo(
                broker_id=spec.BrokerId(value=f"ID:ferrymq-{getattr(self.broker, 'name', 'localhost')}"),
                broker_url=f"{'ssl' if peer.tls else 'tcp'}://{peer.address}",
                broker_name=getattr(self.broker, "name", "localhost"),
            )
        )

    def on_keep_alive_info(self, cmd: DataStructure) -> None:
        if cmd.response_required:
            self._send(spec.KeepAliveInfo())

    def on_connection_info(self, cmd: DataStructure) -> None:
        if self._state == "connected":
            if cmd.connection_id is not None and cmd.connection_id.value == self.connection_id:
                self._respond(cmd)
                return
            raise _ProtocolViolation("a connection carries one ConnectionInfo")
        if self._state != "negotiated":
            raise _ProtocolViolation("ConnectionInfo before WireFormatInfo")
        self._state = "connecting"
        creds = Credentials(cmd.user_name, cmd.password, self.ctx.peer.address, "openwire")
        c = self.ctx.authenticator.authenticate(creds)
        c.add_callback(lambda r: self._authenticated(r, cmd))

    def _authenticated(self, result: Completion, cmd: DataStructure) -> None:
        if self._state != "connecting":
            return
        if not result.ok:
            err = result.error
            self._state = "negotiated"
            msg = str(err) if isinstance(err, CoreError) else "authentication failed"
            self._send(
                spec.ExceptionResponse(
                    correlation_id=cmd.command_id, exception=ThrowableInfo("java.lang.SecurityException", msg)
                )
            )
            self._close()
            return
        peer = self.ctx.peer
        try:
            self.conn = self.broker.connect(
                cmd.client_id or None,
                result.result,
                "openwire",
                f"{peer.address}:{peer.port}",
                take_over=bool(cmd.failover_reconnect),
                on_kicked=self._kicked,
            )
        except CoreError as e:
            self._state = "negotiated"
            self._exception_response(cmd, e)
            self._close()
            return
        self.conn.max_subscriptions = self.ctx.limits.max_subscriptions_per_connection
        self.connection_id = cmd.connection_id.value if cmd.connection_id is not None else self.conn.id
        self.info = cmd
        self.tx_session = self.conn.open_session()
        self._state = "connected"
        self._respond(cmd)
        self._drain()

    def _kicked(self, error: Exception) -> None:
        self.conn = None
        self._fatal(error)

    def on_shutdown_info(self, cmd: DataStructure) -> None:
        self._respond(cmd)
        self._close()

    def on_connection_control(self, cmd: DataStructure) -> None:
        self._respond(cmd)

    def on_flush_command(self, cmd: DataStructure) -> None:
        self._respond(cmd)

    # -- sessions, producers ------------------------------------------------------------------------
    def on_session_info(self, cmd: DataStructure) -> None:
        assert self.conn is not None
        self._producer_state.clear()
        key = cmd.session_id
        if key not in self.sessions:
            self.sessions[key] = self.conn.open_session()
        self._respond(cmd)

    def _session(self, key: Any) -> ClientSession:
        s = self.sessions.get(key)
        if s is None:  # commands of a session the client never announced: use a fresh one
            assert self.conn is not None
            s = self.sessions[key] = self.conn.open_session()
        return s

    def on_producer_info(self, cmd: DataStructure) -> None:
        self._producer_state.clear()
        if cmd.producer_id in self.producers:
            self._respond(cmd)
            return
        if cmd.destination is not None:
            session = self._session(self._session_of(cmd.producer_id))
            for d in mapping.split_composite(cmd.destination):
                session.add_producer(d)
        self.producers[cmd.producer_id] = cmd
        self._respond(cmd)

    def on_remove_info(self, cmd: DataStructure) -> None:
        self._producer_state.clear()
        oid = cmd.object_id
        t = type(oid)
        if t is spec.ConsumerId:
            cons = self.consumers.pop(oid, None)
            if cons is not None:
                self._close_consumer(cons)
        elif t is spec.ProducerId:
            self._remove_producer(self.producers.pop(oid, None))
        elif t is spec.SessionId:
            for cid, cons in list(self.consumers.items()):
                if cons.session_key == oid:
                    del self.consumers[cid]
                    self._close_consumer(cons)
            for pid in [p for p in self.producers if p.session_id == oid.value]:
                self._remove_producer(self.producers.pop(pid))
            s = self.sessions.pop(oid, None)
            if s is not None:
                s.close()
        elif t is spec.ConnectionId:
            self._respond(cmd)
            self._release()
            self._state = "negotiated"
            return
        self._respond(cmd)

    def _remove_producer(self, info: DataStructure | None) -> None:
        if info is None or info.destination is None or self.conn is None:
            return
        session = self.sessions.get(self._session_of(info.producer_id))
        if session is not None and not session.closed:
            for d in mapping.split_composite(info.destination):
                session.remove_producer(d)

    # -- destinations ----------------------------------------------------------------------------
    def on_destination_info(self, cmd: DataStructure) -> None:
        assert self.conn is not None
        dest = mapping.name_to_core(cmd.destination)
        if dest.is_temporary:
            if cmd.operation_type == DEST_ADD:
                if dest not in self.temps:
                    self.conn.create_temp(dest.kind, path=dest.path)
                    self.temps.add(dest)
                    _registry(self.broker).announce(self.connection_id or "", dest, DEST_ADD)
            elif cmd.operation_type == DEST_REMOVE and dest in self.temps:
                self.temps.discard(dest)
                self.conn.delete_temp(dest)
                _registry(self.broker).announce(self.connection_id or "", dest, DEST_REMOVE)
        elif cmd.operation_type == DEST_REMOVE and dest.is_queue:
            self.broker.admin.delete_queue(dest)
        self._respond(cmd)

    # -- producing ----------------------------------------------------------------------------------
    def on_message(self, cmd: DataStructure) -> None:
        assert self.conn is not None
        dest = cmd.destination
        hit = self._targets.get(id(dest))
        if hit is not None and hit[0] is dest:
            targets = hit[1]
        else:
            targets = mapping.split_composite(dest)
            if not any(d.path.startswith(ADVISORY_PREFIX) for d in targets):  # checked below
                if len(self._targets) >= _NAME_CACHE_LIMIT:
                    self._targets.clear()
                self._targets[id(dest)] = (dest, targets)
        reply_to = mapping.name_to_core(cmd.reply_to) if cmd.reply_to is not None else None
        tx = self._tx(cmd.transaction_id) if cmd.transaction_id is not None else None
        pid = cmd.producer_id
        if tx is not None:
            session = self.tx_session
            producer = self.producers.get(pid)
        else:
            known = self._producer_state.get(id(pid))
            if known is None or known[0] is not pid:
                known = (pid, self._session(self._session_of(pid)), self.producers.get(pid))
                if len(self._producer_state) >= _NAME_CACHE_LIMIT:
                    self._producer_state.clear()
                self._producer_state[id(pid)] = known
            session, producer = known[1], known[2]
        assert session is not None
        populate = getattr(self.broker, "populate_user_id", False)
        if hit is not None and len(targets) == 1:
            # one destination, known to be no advisory topic (the loop below, for one)
            msg = mapping.to_core(cmd, targets[0], reply_to)
            if populate:
                msg.user_id = None
            msg.producer_key = self.conn
            c = session.send(msg, tx)
            if c.held:
                self._hold(c)
        else:
            completions = []
            for dest in targets:
                if dest.path.startswith(ADVISORY_PREFIX):
                    raise InvalidRequest(f"cannot send to the advisory topic {dest.path}")
                msg = mapping.to_core(cmd, dest, reply_to)
                if populate:
                    msg.user_id = None
                msg.producer_key = self.conn
                part = session.send(msg, tx)
                if part.held:
                    self._hold(part)
                completions.append(part)
            c = completions[0] if len(completions) == 1 else Completion.all(completions)
        if cmd.response_required:
            self._after(c, lambda r: self._send_done(cmd, r))
            return
        if producer is not None and producer.window_size > 0:
            size = mapping.message_size(cmd)
            pid = cmd.producer_id
            self._after(c, lambda r: self._producer_ack(pid, size, r))
        elif c is not DONE and not c.is_done:
            self._after(c, self._async_done)

    def _session_of(self, producer_id: Any) -> Any:
        if producer_id is None:
            return None
        return spec.SessionId(connection_id=producer_id.connection_id, value=producer_id.session_id)

    def _send_done(self, cmd: DataStructure, c: Completion) -> None:
        if c.ok:
            self._send_response(cmd.command_id)
        else:
            self._exception_response(cmd, c.error or IllegalState("send failed"))

    def _producer_ack(self, pid: Any, size: int, c: Completion) -> None:
        if not c.ok:
            self._async_done(c)
        self._send(spec.ProducerAck(producer_id=pid, size=size))

    def _async_done(self, c: Completion) -> None:
        if not c.ok:
            err = c.error or IllegalState("send failed")
            self._send(spec.ConnectionError(exception=_throwable(err), connection_id=self._conn_id_struct()))

    # -- transactions ---------------------------------------------------------------------------
    def _tx_key(self, txid: DataStructure) -> Any:
        if type(txid) is not spec.LocalTransactionId:
            raise InvalidRequest("XA transactions are not supported")
        return (txid.connection_id.value if txid.connection_id is not None else None, int(txid.value))

    def _tx(self, txid: DataStructure) -> Transaction:
        key = self._tx_key(txid)
        tx = self.transactions.get(key)
        if tx is None:  # a send or ack before BEGIN (or after a failover): start it
            assert self.tx_session is not None
            tx = self.transactions[key] = self.tx_session.begin(key)
        return tx

    def on_transaction_info(self, cmd: DataStructure) -> None:
        key = self._tx_key(cmd.transaction_id)
        op = cmd.type
        if op == TX_BEGIN:
            self._tx(cmd.transaction_id)
            self._respond(cmd)
        elif op == TX_COMMIT_ONE_PHASE:
            tx = self.transactions.pop(key, None)
            if tx is None:
                raise _TxRolledBack(f"transaction {key[1]} is not known to the broker (rolled back)")
            acks = self._tx_acks.pop(key, [])
            c = tx.commit()
            for cons, keys in acks:
                for k in keys:
                    cons.pending.pop(k, None)
            self._after(
                c, lambda r: self._send_done(cmd, r) if cmd.response_required else self._async_done(r)
            )
        elif op == TX_ROLLBACK:
            tx = self.transactions.pop(key, None)
            self._tx_acks.pop(key, None)
            if tx is not None:
                # acknowledged deliveries go back in flight to their consumer: the JMS client
                # redelivers them itself (and reports with redelivered or poison acks)
                tx.rollback(redeliver=False)
                self._refresh_credit_all()
            self._respond(cmd)
        elif op in (TX_END, TX_FORGET):
            self._respond(cmd)
        elif op == TX_RECOVER:
            if cmd.response_required:
                self._send(spec.DataArrayResponse(correlation_id=cmd.command_id, data=[]))
        else:
            raise InvalidRequest("two-phase (XA) transactions are not supported")

    # -- consuming ----------------------------------------------------------------------------------
    def on_consumer_info(self, cmd: DataStructure) -> None:
        assert self.conn is not None
        if cmd.consumer_id in self.consumers:
            self._respond(cmd)  # replayed after a failover of this same connection
            return
        session_key = spec.SessionId(
            connection_id=cmd.consumer_id.connection_id, value=cmd.consumer_id.session_id
        )
        cons = OpenWireConsumer(self, cmd, session_key)
        dests = mapping.split_composite(cmd.destination)
        if all(d.path.startswith(ADVISORY_PREFIX) for d in dests):
            cons.advisory = True
            self.consumers[cmd.consumer_id] = cons
            if any(d.path in TEMP_ADVISORIES for d in dests):
                _registry(self.broker).watchers[cons] = None
                self._replay_temps(cons)
            self._respond(cmd)
            return
        session = self._session(session_key)
        if cons.browser:
            self.consumers[cmd.consumer_id] = cons
            self._respond(cmd)
            for d in dests:
                for m in session.browse(d, cmd.selector or None):
                    self._dispatch(cons, mapping.from_core(m), 0)
            self._send(spec.MessageDispatch(consumer_id=cons.consumer_id, destination=cmd.destination))
            return
        durable = cmd.subscription_name if cmd.subscription_name else None
        try:
            for d in dests:
                spec_ = SubscriptionSpec(
                    d,
                    selector=cmd.selector or None,
                    ack_mode=CLIENT,
                    prefetch=cons.prefetch,
                    durable_name=durable if d.is_topic else None,
                    no_local=bool(cmd.no_local),
                    exclusive=bool(cmd.exclusive),
                    priority=int(cmd.priority),
                    retroactive=bool(cmd.retroactive),
                )
                cons.subs.append(session.subscribe(spec_, cons))
        except CoreError:
            for s in cons.subs:
                session.unsubscribe(s)
            raise
        self.consumers[cmd.consumer_id] = cons
        self._respond(cmd)

    def _close_consumer(self, cons: OpenWireConsumer) -> None:
        _registry(self.broker).watchers.pop(cons, None)
        self._pulls.discard(cons)
        for s in cons.subs:
            if not s.closed:
                s.session.unsubscribe(s)
        cons.subs.clear()
        cons.pending.clear()

    def _consumer_gone(self, cons: OpenWireConsumer, error: Exception | None) -> None:
        """The broker closed a subscription (its temporary queue was deleted)."""
        if self.consumers.get(cons.consumer_id) is cons and all(s.closed for s in cons.subs):
            del self.consumers[cons.consumer_id]
            self._send(spec.ConsumerControl(consumer_id=cons.consumer_id, close=True))

    def on_remove_subscription_info(self, cmd: DataStructure) -> None:
        assert self.conn is not None
        client_id = cmd.client_id or self.conn.client_id
        if not client_id:
            raise InvalidRequest("removing a durable subscription needs a client id")
        self.broker.remove_durable(client_id, cmd.subcription_name)
        self._respond(cmd)

    def on_consumer_control(self, cmd: DataStructure) -> None:
        cons = self.consumers.get(cmd.consumer_id)
        if cons is not None and not cons.browser and cmd.prefetch >= 0 and cmd.prefetch != cons.prefetch:
            cons.prefetch = cmd.prefetch
            for s in cons.subs:
                s.set_prefetch(cmd.prefetch)
        self._respond(cmd)

    def on_message_pull(self, cmd: DataStructure) -> None:
        cons = self.consumers.get(cmd.consumer_id)
        self._respond(cmd)
        if cons is None or cons.prefetch != 0 or not cons.subs:
            return
        cons.pulling = True
        for s in cons.subs:
            if s.credit <= 0:
                s.add_credit(1)
        timeout = int(cmd.timeout)
        if timeout == 0:
            cons.pull_deadline = 0.0  # wait as long as it takes
            self._pulls.discard(cons)
            return
        # -1: no wait (answer after the dispatch pass); > 0: wait that many milliseconds
        delay = 0.05 if timeout < 0 else timeout / 1000.0
        cons.pull_deadline = time.monotonic() + delay
        self._pulls.add(cons)

    def _pull_expired(self, cons: OpenWireConsumer) -> None:
        self._pulls.discard(cons)
        cons.pull_deadline = 0.0
        cons.pulling = False
        for s in cons.subs:
            if s.credit > 0:
                s.set_credit(0)
        self._send(spec.MessageDispatch(consumer_id=cons.consumer_id, destination=cons.info.destination))

    # -- acknowledgements ------------------------------------------------------------------------
    def _ack_run(self, cmd: DataStructure) -> None:
        """``cmd`` and the simple acks (:func:`_simple_ack`) right behind it in the queue, as
        :meth:`on_message_ack` would settle them one by one, settled together: one settlement
        per subscription, one credit refresh per consumer (the JMS client in auto-ack mode
        sends one ack per message, and a read brings dozens of them)."""
        pending = self._pending
        consumers = self.consumers
        cid: Any = None
        cons: OpenWireConsumer | None = None
        settled: dict[Subscription, list[int]] = {}
        touched: dict[OpenWireConsumer, None] = {}
        while True:
            c_id = cmd.consumer_id
            if c_id is not cid:
                cid = c_id
                cons = consumers.get(c_id)
                if cons is not None and (cons.advisory or cons.browser):
                    cons = None  # nothing to settle
            if cons is not None:
                last = cmd.last_message_id
                k = getattr(last, "_kc", None)
                st = cons.pending.pop(k if k is not None else _mkey(last), None)
                if st is not None:
                    sub, tag = st
                    tags = settled.get(sub)
                    if tags is None:
                        settled[sub] = [tag]
                        touched[cons] = None
                    else:
                        tags.append(tag)
                    if cons.extension:
                        cons.extension -= 1
            if not pending:
                break
            cmd = pending[0]
            # _simple_ack(cmd), inline
            if type(cmd) is not _MessageAck or cmd.response_required or cmd.transaction_id is not None:
                break
            last = cmd.last_message_id
            if last is None:
                break
            ack = cmd.ack_type
            if ack != INDIVIDUAL_ACK:
                if ack != STANDARD_ACK or cmd.message_count != 1:
                    break
                first = cmd.first_message_id
                if not (first is last or first is None or _same_id(first, last)):
                    break
            pending.popleft()
        for sub, tags in settled.items():
            sub.session.settle(sub, tags, ACCEPTED, None)
        for c in touched:
            self._refresh_credit(c)

    def on_message_ack(self, cmd: DataStructure) -> None:
        cons = self.consumers.get(cmd.consumer_id)
        if cons is None or cons.advisory or cons.browser:
            return  # acks for a closed, advisory or browsing consumer: nothing to settle
        ack = cmd.ack_type
        last = cmd.last_message_id
        if ack in (STANDARD_ACK, INDIVIDUAL_ACK) and cmd.transaction_id is None and last is not None:
            first = cmd.first_message_id
            if ack == INDIVIDUAL_ACK or (
                cmd.message_count == 1 and (first is None or first is last or _same_id(first, last))
            ):
                # one message settled outside a transaction (the JMS client's auto-ack): what
                # the general path below does for it, with one lookup
                st = cons.pending.pop(_mkey(last), None)
                if st is None:
                    return
                sub, tag = st
                sub.session.settle(sub, [tag], ACCEPTED, None)
                if cons.extension:
                    cons.extension -= 1
                self._refresh_credit(cons)
                self._respond(cmd)
                return
        if ack == DELIVERED_ACK:
            self._delivered(cons, last)
            return
        if ack in (INDIVIDUAL_ACK, UNMATCHED_ACK) or (
            cmd.message_count == 1 and last is not None and cmd.first_message_id in (None, last)
        ):
            lk = _mkey(last)
            picked = [lk] if lk in cons.pending else []
        else:
            picked = self._range(cons, last)
        if not picked:
            return
        if ack == REDELIVERED_ACK:
            for mid in picked:
                sub, tag = cons.pending[mid]
                e = sub.in_flight.get(tag)
                if e is not None:
                    e.delivery_count += 1
                    e.redelivered = True
            return
        outcome = REJECTED if ack == POISON_ACK else ACCEPTED
        tx = self._tx(cmd.transaction_id) if cmd.transaction_id is not None and ack != POISON_ACK else None
        by_sub: dict[Subscription, list[int]] = {}
        for mid in picked:
            sub, tag = cons.pending[mid]
            by_sub.setdefault(sub, []).append(tag)
        if ack == EXPIRED_ACK:
            self._expire(cons, by_sub)
        else:
            for sub, tags in by_sub.items():
                sub.session.settle(sub, tags, outcome, tx)
        if tx is not None:
            key = self._tx_key(cmd.transaction_id)
            self._tx_acks.setdefault(key, []).append((cons, picked))
        else:
            for mid in picked:
                cons.pending.pop(mid, None)
        cons.extension = max(0, cons.extension - len(picked))
        self._refresh_credit(cons)
        self._respond(cmd)

    def _range(self, cons: OpenWireConsumer, last: Any) -> list[Any]:
        """The keys of every pending delivery up to and including ``last`` (cumulative
        acknowledgement)."""
        target = cons.pending.get(_mkey(last))
        if target is None:
            return []
        out = []
        for mid, st in cons.pending.items():
            out.append(mid)
            if st is target:
                break
        return out

    def _delivered(self, cons: OpenWireConsumer, last: Any) -> None:
        if cons.prefetch == 0 or _mkey(last) not in cons.pending:
            return
        n = len(self._range(cons, last))
        if n > cons.extension:
            cons.extension = n
            self._refresh_credit(cons)

    def _refresh_credit(self, cons: OpenWireConsumer) -> None:
        if cons.prefetch == 0:
            # pull mode: credit only while a MessagePull waits (settling gives none back)
            want = 1 if cons.pulling else 0
            for sub in cons.subs:
                if not sub.closed and sub.credit != want:
                    sub.set_credit(want)
            return
        for sub in cons.subs:
            if sub.closed:
                continue
            ext = min(cons.extension, len(sub.in_flight))
            want = max(0, cons.prefetch + ext - len(sub.in_flight))
            if want != sub.credit:
                sub.set_credit(want)

    def _refresh_credit_all(self) -> None:
        for cons in self.consumers.values():
            if cons.subs:
                self._refresh_credit(cons)

    def _expire(self, cons: OpenWireConsumer, by_sub: dict[Subscription, list[int]]) -> None:
        for sub, tags in by_sub.items():
            q = sub.queue
            entries = [e for e in (sub.in_flight.pop(t, None) for t in tags) if e is not None]
            for e in entries:
                q.broker.expire_entry(q, e)

    # -- dispatch -----------------------------------------------------------------------------------
    def _deliver(self, cons: OpenWireConsumer, d: Delivery) -> None:
        msg = d.message
        native = msg.native
        cache = msg.encode_cache
        if (
            type(native) in _FAST_MESSAGE_TYPES
            and self.parser._fast_write is not None
            and cache.get(_NATIVE_KEY)
            and self._state != "closing"
        ):
            # the producer's own command, sent on with the broker's per-delivery values
            # (what mapping.from_core and for_delivery would set), encoded without copies
            sub = d.subscription
            k = getattr(native.message_id, "_kc", None)
            if k is not None and not cons.pulling:  # what _pending_add does
                pending = cons.pending
                if k in pending:
                    del pending[k]
                pending[k] = (sub, d.tag)
            else:
                self._pending_add(cons, native.message_id, d)
            in_time = int(msg.broker_in_time) if msg.broker_in_time else 0
            dest = _DEST_STRUCTS.get(msg.destination) or mapping.dest_struct(msg.destination)
            # what _fast_dispatch does
            try:
                if sub.topic:
                    memo = cache.get(_MEMO_KEY)
                    if memo is None:
                        memo = cache[_MEMO_KEY] = {}
                    frame = fastpath.shared_dispatch_frame(
                        self.parser,
                        memo,
                        cons.consumer_id,
                        native,
                        d.delivery_count,
                        dest,
                        msg.user_id,
                        in_time,
                    )
                else:
                    frame = fastpath.dispatch_frame(
                        self.parser, cons.consumer_id, native, d.delivery_count, dest, msg.user_id, in_time
                    )
            except OpenWireCodecError as e:
                self.ctx.log.warning("openwire: cannot encode a dispatch: %s", e)
                return
            out = self._out
            out.append(frame)
            if len(out) == 1:
                self.ctx.request_flush()
            return
        base = mapping.from_core(msg)
        self._pending_add(cons, base.message_id, d)
        self._dispatch(cons, base, d.delivery_count, _dispatch_memo(msg) if d.subscription.topic else None)

    def _fast_dispatch(
        self,
        cons: OpenWireConsumer,
        m: DataStructure,
        count: int,
        dest: Any,
        user_id: Any,
        in_time: int,
        memo: dict[Any, Any] | None = None,
    ) -> None:
        """One MessageDispatch frame; ``memo`` (a message's, for one dispatched to several
        consumers) shares the frames of connections whose marshal caches agree."""
        try:
            if memo is None:
                frame = fastpath.dispatch_frame(
                    self.parser, cons.consumer_id, m, count, dest, user_id, in_time
                )
            else:
                frame = fastpath.shared_dispatch_frame(
                    self.parser, memo, cons.consumer_id, m, count, dest, user_id, in_time
                )
        except OpenWireCodecError as e:
            self.ctx.log.warning("openwire: cannot encode a dispatch: %s", e)
            return
        out = self._out
        out.append(frame)
        if len(out) == 1:
            self.ctx.request_flush()

    def _pending_add(self, cons: OpenWireConsumer, mid: Any, d: Delivery) -> None:
        pending = cons.pending
        k = _mkey(mid)
        if k in pending:
            del pending[k]
        pending[k] = (d.subscription, d.tag)
        if cons.pulling:
            cons.pulling = False
            cons.pull_deadline = 0.0
            self._pulls.discard(cons)
            if len(cons.subs) > 1:
                self._refresh_credit(cons)

    def _dispatch(
        self, cons: OpenWireConsumer, base: DataStructure, count: int, memo: dict[Any, Any] | None = None
    ) -> None:
        if type(base) in _FAST_MESSAGE_TYPES and self.parser.fast_write and self._state != "closing":
            self._fast_dispatch(cons, base, count, base.destination, base.user_id, base.broker_in_time, memo)
            return
        msg = mapping.for_delivery(base, count)
        self._send(
            spec.MessageDispatch(
                consumer_id=cons.consumer_id,
                destination=msg.destination,
                message=msg,
                redelivery_counter=count,
            )
        )

    def _replay_temps(self, cons: OpenWireConsumer) -> None:
        broker = self.broker
        for q in list(broker.queues.values()):
            if q.name.kind == TEMP_QUEUE and not q.deleted:
                self._advise(cons, "", q.name, DEST_ADD)
        for t in list(broker.topics.values()):
            if t.name.kind == TEMP_TOPIC:
                self._advise(cons, "", t.name, DEST_ADD)

    def _advise(self, cons: OpenWireConsumer, connection_id: str, dest: DestinationName, op: int) -> None:
        if self._state != "connected":
            return
        reg = _registry(self.broker)
        reg.seq += 1
        topic = spec.ActiveMQTopic(physical_name=TEMP_ADVISORIES[0 if dest.kind == TEMP_QUEUE else 1])
        info = spec.DestinationInfo(
            connection_id=spec.ConnectionId(value=connection_id) if connection_id else None,
            destination=mapping.name_from_core(dest),
            operation_type=op,
        )
        producer = spec.ProducerId(connection_id="ID:ferrymq-advisory", session_id=0, value=0)
        msg = spec.ActiveMQMessage(
            producer_id=producer,
            destination=topic,
            message_id=spec.MessageId(producer_id=producer, producer_sequence_id=reg.seq),
            timestamp=int(time.time() * 1000),
            data_structure=info,
            type="Advisory",
        )
        self._send(spec.MessageDispatch(consumer_id=cons.consumer_id, destination=topic, message=msg))

    # -- transport side ---------------------------------------------------------------------------
    def data_to_send(self) -> list[bytes]:
        out = self._out
        if out:
            self._out = []
            self._last_send = time.monotonic()
        return out

    def should_close(self) -> bool:
        return self._close_after_flush and not self._out

    def tick(self, now: float) -> float | None:
        if self._state in ("new", "negotiated", "connecting"):
            if now >= self._connect_deadline:
                self._fatal(IllegalState("no ConnectionInfo within the connect timeout"))
                return None
            deadline: float | None = self._connect_deadline
        elif self._state == "connected":
            deadline = None
        else:
            return None
        if self._send_interval:
            due = self._last_send + self._send_interval
            if now >= due:
                self._send(spec.KeepAliveInfo())
                due = now + self._send_interval
            deadline = due if deadline is None else min(deadline, due)
        if self._recv_timeout:
            rdue = self._last_recv + self._recv_timeout
            if now >= rdue:
                self._fatal(IllegalState("no command or KeepAliveInfo within the inactivity duration"))
                return None
            deadline = rdue if deadline is None else min(deadline, rdue)
        if self._pulls:
            for cons in list(self._pulls):
                if cons.pull_deadline and now >= cons.pull_deadline:
                    self._pull_expired(cons)
                elif cons.pull_deadline:
                    deadline = cons.pull_deadline if deadline is None else min(deadline, cons.pull_deadline)
        return deadline

    def pause_delivery(self) -> None:
        if self.conn is not None:
            self.conn.pause_deliveries()

    def resume_delivery(self) -> None:
        if self.conn is not None:
            self.conn.resume_deliveries()

    def _release(self) -> None:
        """Give everything back to the core: subscriptions, transactions, temp destinations."""
        reg = _registry(self.broker)
        self._producer_state.clear()
        for cons in self.consumers.values():
            reg.watchers.pop(cons, None)
        self.consumers.clear()
        self._pulls.clear()
        conn, self.conn = self.conn, None
        if conn is not None:
            for dest in self.temps:
                reg.announce(self.connection_id or "", dest, DEST_REMOVE)
            self.temps.clear()
            for tx in self.transactions.values():
                tx.rollback(redeliver=True)
            self.transactions.clear()
            self._tx_acks.clear()
            self.sessions.clear()
            self.producers.clear()
            self.tx_session = None
            conn.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._state = "closing"
        self._release()

    _handlers: dict[type, Any] = {
        spec.WireFormatInfo: lambda self, cmd: None,
        spec.KeepAliveInfo: on_keep_alive_info,
        spec.ConnectionInfo: on_connection_info,
        spec.ShutdownInfo: on_shutdown_info,
        spec.ConnectionControl: on_connection_control,
        spec.FlushCommand: on_flush_command,
        spec.SessionInfo: on_session_info,
        spec.ProducerInfo: on_producer_info,
        spec.RemoveInfo: on_remove_info,
        spec.DestinationInfo: on_destination_info,
        spec.TransactionInfo: on_transaction_info,
        spec.ConsumerInfo: on_consumer_info,
        spec.RemoveSubscriptionInfo: on_remove_subscription_info,
        spec.ConsumerControl: on_consumer_control,
        spec.MessagePull: on_message_pull,
        spec.MessageAck: on_message_ack,
    }


_MESSAGE_TYPES = frozenset(mapping.MESSAGE_TYPES)
_MessageAck = spec.MessageAck
_NATIVE_KEY = mapping.NATIVE_KEY
_DEST_STRUCTS = mapping._DEST_STRUCTS
#: encode_cache key of a message's dispatch frames (see ``fastpath.shared_dispatch_frame``)
_MEMO_KEY = "openwire-dispatch"


def _dispatch_memo(msg: Any) -> dict[Any, Any]:
    cache = msg.encode_cache
    memo = cache.get(_MEMO_KEY)
    if memo is None:
        memo = cache[_MEMO_KEY] = {}
    return memo  # type: ignore[no-any-return]


def _mkey(mid: DataStructure | None) -> Any:
    """The key of a MessageId in ``OpenWireConsumer.pending`` (its cached ``_key()``: compared
    and hashed as a plain tuple; None for none)."""
    if mid is None:
        return None
    k = getattr(mid, "_kc", None)
    return k if k is not None else mid._key()


def _simple_ack(cmd: DataStructure) -> bool:
    """A MessageAck settling one message outside a transaction with no response wanted: a
    standard ack of one message, or an individual ack."""
    last = cmd.last_message_id
    if cmd.response_required or cmd.transaction_id is not None or last is None:
        return False
    ack = cmd.ack_type
    if ack == INDIVIDUAL_ACK:
        return True
    if ack != STANDARD_ACK or cmd.message_count != 1:
        return False
    first = cmd.first_message_id
    return first is last or first is None or _same_id(first, last)


def _same_id(a: DataStructure, b: DataStructure) -> bool:
    """``a == b`` for two MessageIds, comparing the keys the fast readers already made."""
    ka = getattr(a, "_kc", None)
    return (ka is not None and ka == getattr(b, "_kc", None)) or a == b


_FAST_MESSAGE_TYPES = frozenset(fastpath.MESSAGE_CLASSES)

__all__ = ["OpenWireAdapter", "OpenWireConsumer", "NotFound"]
