"""The AMQP 1.0 adapter: protocol headers, SASL, open/begin/attach/flow/transfer/disposition/
detach/end/close on top of the core (R1, R2, R8).

Sans-I/O: ``receive_data`` parses every complete frame and acts on it; frames go to one
output buffer the transport drains once per tick (dispositions and pre-settled
acknowledgements are batched there). While SASL or the open is being authenticated, later
frames stay queued and reading stops, so order is kept without a task. Errors have one door:
a codec error or a connection-scoped ``AmqpError`` closes the connection with its condition
(after an ``open`` of our own if we had not sent one yet); a link-scoped error detaches the
link; a session-scoped error ends the session; the broker and other clients carry on.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from ferrymq import __version__
from ferrymq.core import (
    ACCEPTED,
    MODIFIED,
    REJECTED,
    RELEASED,
    TEMP_QUEUE,
    TEMP_TOPIC,
    TOPIC,
    ClientConnection,
    ClientIdInUse,
    ClientSession,
    Completion,
    CoreError,
    Credentials,
    NotFound,
    Subscription,
    SubscriptionSpec,
    Transaction,
)
from ferrymq.protocols.amqp.connection import (
    DECODE_ERROR,
    FRAMING_ERROR,
    HANDLE_IN_USE,
    ILLEGAL_STATE,
    INVALID_FIELD,
    NOT_FOUND,
    RESOURCE_LIMIT,
    TX_UNKNOWN,
    UNATTACHED_HANDLE,
    UNAUTHORIZED,
    AmqpError,
    Session,
    core_error,
)
from ferrymq.protocols.amqp.coordinator import CoordinatorLink
from ferrymq.protocols.amqp.framing import (
    AMQP_HEADER,
    FRAME_SASL,
    HEARTBEAT,
    SASL_HEADER,
    FrameParser,
    ProtocolHeader,
    encode_frame_into,
)
from ferrymq.protocols.amqp.links import IncomingLink, Link, OutgoingLink
from ferrymq.protocols.amqp.mapping import KIND_CAPABILITY, name_from_core, name_to_core
from ferrymq.protocols.amqp.performatives import (
    RCV_FIRST,
    RECEIVER,
    SENDER,
    SND_SETTLED,
    Accepted,
    Attach,
    Begin,
    Close,
    Coordinator,
    Detach,
    Disposition,
    End,
    Error,
    Flow,
    Modified,
    Open,
    Rejected,
    Released,
    Source,
    Target,
    TransactionalState,
    Transfer,
)
from ferrymq.protocols.amqp.sasl import (
    ANONYMOUS,
    PLAIN,
    SaslCode,
    SaslInit,
    SaslMechanisms,
    SaslOutcome,
    parse_plain,
)
from ferrymq.protocols.amqp.types import AmqpCodecError, Described, Symbol, UInt, ULong, UShort
from ferrymq.protocols.base import AdapterContext, ProtocolAdapter

#: the largest frame we accept (and advertise); larger messages arrive over several frames
MAX_FRAME_SIZE = 1024 * 1024
CHANNEL_MAX = 1023
HANDLE_MAX = 4095
#: our idle timeout (ActiveMQ's default); we heartbeat at half the peer's
IDLE_TIMEOUT_MS = 30_000
MIN_IDLE_TIMEOUT_MS = 1000
SERVER = f"ferrymq/{__version__}"

JMS_SELECTOR_IDS = (
    Symbol("jms-selector"),
    ULong(0x0000468C00000004),
    Symbol("apache.org:selector-filter:string"),
)
NO_LOCAL_IDS = (Symbol("no-local"), ULong(0x0000468C00000003), Symbol("apache.org:no-local-filter:list"))
COPY = "copy"
SOLE_CONNECTION = Symbol("sole-connection-for-container")
OFFERED = [Symbol("ANONYMOUS-RELAY"), Symbol("DELAYED_DELIVERY")]
TERMINAL = (Accepted, Rejected, Released, Modified)


class AmqpAdapter(ProtocolAdapter):
    name = "amqp"

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        self.broker = ctx.broker
        self.parser = FrameParser(MAX_FRAME_SIZE)
        self.parser.expect_header()
        self.out = bytearray()
        self._state = "header"  # header sasl sasl-auth header2 open-wait opening open closing
        self._sasl_done = False
        self._sent_header = False
        self._sent_open = False
        self._close_after_flush = False
        self._pending: deque[Any] = deque()
        self.principal: Any = None
        self.conn: ClientConnection | None = None
        self.core_session: ClientSession | None = None
        self.conn_label = ""
        self.sessions: dict[int, Session] = {}  # by the peer's channel
        self._local_channels: set[int] = set()
        self.dirty_sessions: list[Session] = []
        #: pre-settled links with deliveries to settle in the core at the next flush
        self._autosettle: list[OutgoingLink] = []
        #: a flush is requested and data_to_send has not run since
        self.flush_requested = False
        self.remote_max_frame = 512
        self.channel_max = CHANNEL_MAX
        self.max_message_size = ctx.limits.max_frame_size
        self.container_id = ""
        lim = ctx.limits
        now = time.monotonic()
        self._last_recv = now
        self._last_send = now
        self._connect_deadline = now + lim.connect_timeout
        self._send_interval = 0.0
        self._recv_timeout = 0.0
        self._held = 0
        self._reading_paused = False
        self.delivery_paused = False
        self.allow_anonymous = bool(getattr(ctx.authenticator, "allow_anonymous", False))
        self.idle_timeout_ms = int(ctx.options.get("amqp_idle_timeout_ms", IDLE_TIMEOUT_MS))

    # -- output helpers --------------------------------------------------------------------------
    def send_frame(self, channel: int, performative: Any) -> None:
        encode_frame_into(self.out, channel, performative)

    def call_soon(self, cb: Callable[[], None]) -> None:
        self.broker.clock.call_soon(cb)

    def flush_autosettle(self) -> None:
        """Settle (accepted) in the core what pre-settled links sent since the last flush."""
        if not self._autosettle or self.core_session is None:
            return
        links, self._autosettle = self._autosettle, []
        for link in links:
            tags, link.auto_tags = link.auto_tags, []
            sub = link.sub
            if sub is not None and not sub.closed and tags:
                self.core_session.settle(sub, tags, ACCEPTED)

    def hold_reading(self, delta: int) -> None:
        """Producer flow control: stop reading while any send is held."""
        self._held += delta
        if self._held > 0 and not self._reading_paused:
            self._reading_paused = True
            self.ctx.pause_reading()
        elif self._held <= 0 and self._reading_paused and self._state == "open":
            self._reading_paused = False
            self.ctx.resume_reading()

    def transaction(self, txn_id: Any) -> Transaction:
        if self.core_session is None:
            raise AmqpError(ILLEGAL_STATE, "not open")
        try:
            return self.core_session.transaction(bytes(txn_id))
        except CoreError:
            raise AmqpError(TX_UNKNOWN, f"unknown transaction {bytes(txn_id)!r}", "link") from None

    # -- input ----------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if self._state == "closing":
            return
        self._last_recv = time.monotonic()
        try:
            events = self.parser.feed(data)
        except AmqpCodecError as e:
            self._fail(e.condition, e.message)
            return
        pending = self._pending
        for ev in events:
            if pending or self._state in ("sasl-auth", "opening"):
                pending.append(ev)
            else:
                self._event(ev)
            if self._state == "closing":
                return
        if self.parser.buffered > self.ctx.limits.max_incomplete_frame_bytes:
            self._fail(RESOURCE_LIMIT, "incomplete frame too large")

    def _drain_pending(self) -> None:
        pending = self._pending
        while pending and self._state not in ("sasl-auth", "opening", "closing"):
            self._event(pending.popleft())
        self.ctx.request_flush()

    def _event(self, ev: Any) -> None:
        perf = ev.performative
        try:
            if type(perf) is Transfer and self._state == "open":  # the common frame first
                self.on_transfer(ev.channel, perf, ev.payload)
                return
            if perf is None:  # heartbeat
                return
            if isinstance(perf, ProtocolHeader):
                self._on_header(perf)
                return
            state = self._state
            if state == "sasl":
                if not isinstance(perf, SaslInit):
                    raise AmqpError(FRAMING_ERROR, f"expected sasl-init, got {type(perf).__name__}")
                self._on_sasl_init(perf)
                return
            if state == "open-wait":
                if not isinstance(perf, Open):
                    raise AmqpError(FRAMING_ERROR, f"expected open, got {type(perf).__name__}")
                self.on_open(perf)
                return
            if state != "open":
                raise AmqpError(FRAMING_ERROR, f"unexpected {type(perf).__name__} before the protocol header")
            handler = self._handlers.get(type(perf))
            if handler is None:
                raise AmqpError(FRAMING_ERROR, f"{type(perf).__name__} is not allowed here")
            handler(self, ev.channel, perf, ev.payload)
        except AmqpCodecError as e:
            self._fail(e.condition, e.message)
        except AmqpError as e:
            self._error(e, ev.channel, perf)
        except CoreError as e:
            err = core_error(e)
            self._error(
                AmqpError(
                    str(err.condition),
                    e.message,
                    "link" if isinstance(perf, Attach | Transfer) else "connection",
                ),
                ev.channel,
                perf,
            )

    def _error(self, e: AmqpError, channel: int, perf: Any) -> None:
        if e.scope == "link":
            session = self.sessions.get(channel)
            handle = getattr(perf, "handle", None)
            if session is not None and handle is not None:
                link = session.links.get(handle)
                if link is not None:
                    link.detach(e.error())
                    return
                self.send_frame(session.channel, Detach(handle=handle, closed=True, error=e.error()))
                return
        if e.scope == "session":
            session = self.sessions.get(channel)
            if session is not None:
                self._end_session(session, e.error())
                return
        self._fail(e.condition, e.description, e.info)

    # -- headers and SASL --------------------------------------------------------------------------
    def _on_header(self, h: ProtocolHeader) -> None:
        state = self._state
        if state == "header" and h.is_sasl:
            self.out += SASL_HEADER
            mechs = [PLAIN, ANONYMOUS] if self.allow_anonymous else [PLAIN]
            encode_frame_into(self.out, 0, SaslMechanisms(sasl_server_mechanisms=mechs), b"", FRAME_SASL)
            self._state = "sasl"
            return
        if state in ("header", "header2") and h.is_amqp:
            self.out += AMQP_HEADER
            self._sent_header = True
            self._state = "open-wait"
            self.parser.max_frame_size = MAX_FRAME_SIZE
            return
        # unsupported, invalid or out of place: answer with the header we speak and close
        if not self._sent_header:
            self.out += SASL_HEADER if state == "header" and not h.is_amqp else AMQP_HEADER
        self._sent_header = True
        self._state = "closing"
        self._close_after_flush = True
        self.ctx.request_flush()

    def _on_sasl_init(self, init: SaslInit) -> None:
        mech = str(init.mechanism)
        if mech == PLAIN:
            try:
                _authz, user, password = parse_plain(init.initial_response)
            except AmqpCodecError:
                self._sasl_outcome(SaslCode.AUTH)
                return
            creds = Credentials(user, password, self.ctx.peer.address, "amqp")
        elif mech == ANONYMOUS and self.allow_anonymous:
            creds = Credentials(None, None, self.ctx.peer.address, "amqp")
        else:
            self._sasl_outcome(SaslCode.AUTH)
            return
        self._state = "sasl-auth"
        c = self.ctx.authenticator.authenticate(creds)
        if not c.is_done:
            self.ctx.pause_reading()
        c.add_callback(self._sasl_authenticated)

    def _sasl_authenticated(self, c: Completion) -> None:
        if self._state != "sasl-auth":
            return
        if not c.ok:
            self._sasl_outcome(SaslCode.AUTH)
            return
        self.principal = c.result
        self._sasl_done = True
        encode_frame_into(self.out, 0, SaslOutcome(code=SaslCode.OK), b"", FRAME_SASL)
        self._state = "header2"
        self.parser.expect_header()
        if not self._reading_paused:
            self.ctx.resume_reading()
        self._drain_pending()

    def _sasl_outcome(self, code: SaslCode) -> None:
        encode_frame_into(self.out, 0, SaslOutcome(code=code), b"", FRAME_SASL)
        self._state = "closing"
        self._close_after_flush = True
        self._pending.clear()
        self.ctx.request_flush()

    # -- open / close ---------------------------------------------------------------------------
    def on_open(self, o: Open) -> None:
        self.container_id = o.container_id
        self.remote_max_frame = max(512, min(int(o.max_frame_size), MAX_FRAME_SIZE))
        self.channel_max = min(int(o.channel_max), CHANNEL_MAX)
        if o.idle_time_out:
            self._send_interval = max(int(o.idle_time_out), MIN_IDLE_TIMEOUT_MS) / 2000.0
        if self.idle_timeout_ms:
            self._recv_timeout = self.idle_timeout_ms / 1000.0
        self._state = "opening"
        if self._sasl_done:
            self._opened(Completion.done(self.principal), o)
            return
        c = self.ctx.authenticator.authenticate(Credentials(None, None, self.ctx.peer.address, "amqp"))
        if not c.is_done:
            self.ctx.pause_reading()
        c.add_callback(lambda r: self._opened(r, o))

    def _opened(self, c: Completion, o: Open) -> None:
        if self._state != "opening":
            return
        self._state = "open"
        if not c.ok:
            self._fail(UNAUTHORIZED, "authentication required: use SASL PLAIN")
            return
        self.principal = c.result
        desired = o.desired_capabilities or []
        cid = o.container_id or None
        remote = f"{self.ctx.peer.address}:{self.ctx.peer.port}"
        try:
            try:
                self.conn = self.broker.connect(cid, self.principal, "amqp", remote, on_kicked=self._kicked)
            except ClientIdInUse:
                if SOLE_CONNECTION in desired:
                    raise
                # another connection of the same container: no client id (no durable subscriptions)
                self.conn = self.broker.connect(None, self.principal, "amqp", remote, on_kicked=self._kicked)
        except CoreError as e:
            err = core_error(e)
            self._fail(str(err.condition), e.message, err.info)
            return
        assert self.conn is not None
        self.conn.max_subscriptions = self.ctx.limits.max_subscriptions_per_connection
        self.conn_label = self.conn.id
        self.core_session = self.conn.open_session()
        self._send_open()
        if not self._reading_paused:
            self.ctx.resume_reading()
        self._drain_pending()

    def _send_open(self) -> None:
        if self._sent_open:
            return
        self._sent_open = True
        self.send_frame(
            0,
            Open(
                container_id=str(getattr(self.broker, "name", "ferrymq")),
                max_frame_size=UInt(MAX_FRAME_SIZE),
                channel_max=UShort(CHANNEL_MAX),
                idle_time_out=UInt(self.idle_timeout_ms) if self.idle_timeout_ms else None,
                offered_capabilities=OFFERED,
                properties={Symbol("product"): "ferrymq", Symbol("version"): __version__},
            ),
        )

    def on_close(self, channel: int, c: Close, payload: Any) -> None:
        self._release()
        self.send_frame(0, Close())
        self._state = "closing"
        self._close_after_flush = True
        self.ctx.request_flush()

    def _fail(self, condition: str, description: str, info: Any = None) -> None:
        """Close the connection with an error (the one door for connection errors)."""
        if self._state == "closing":
            return
        if not self._sent_header:
            self.out += AMQP_HEADER
            self._sent_header = True
        if self._state in ("sasl", "sasl-auth"):
            encode_frame_into(self.out, 0, SaslOutcome(code=SaslCode.SYS_PERM), b"", FRAME_SASL)
        else:
            self._send_open()
            self.send_frame(
                0, Close(error=Error(condition=Symbol(condition), description=description[:1000], info=info))
            )
        self._state = "closing"
        self._close_after_flush = True
        self._pending.clear()
        self._release()
        self.ctx.request_flush()

    def _kicked(self, error: Exception) -> None:
        self.conn = None
        self.core_session = None
        self._fail(INVALID_FIELD, str(error), {Symbol("invalid-field"): Symbol("container-id")})

    def _release(self) -> None:
        for session in list(self.sessions.values()):
            self._drop_session(session)
        if self.conn is not None:
            conn, self.conn = self.conn, None
            self.flush_autosettle()
            conn.close()
        self.core_session = None

    # -- sessions ---------------------------------------------------------------------------
    def on_begin(self, channel: int, b: Begin, payload: Any) -> None:
        if b.remote_channel is not None:
            raise AmqpError(ILLEGAL_STATE, "the broker does not begin sessions")
        if channel > self.channel_max:
            raise AmqpError(RESOURCE_LIMIT, f"channel {channel} exceeds channel-max {self.channel_max}")
        if channel in self.sessions:
            raise AmqpError(ILLEGAL_STATE, f"channel {channel} already has a session")
        local = next(i for i in range(self.channel_max + 2) if i not in self._local_channels)
        if local > self.channel_max:
            raise AmqpError(RESOURCE_LIMIT, "no free channel")
        handle_max = min(int(b.handle_max), HANDLE_MAX)
        s = Session(
            self,
            local,
            channel,
            int(b.next_outgoing_id),
            int(b.incoming_window),
            int(b.outgoing_window),
            handle_max,
        )
        self.sessions[channel] = s
        self._local_channels.add(local)
        f = s.flow_fields()
        self.send_frame(
            local,
            Begin(
                remote_channel=UShort(channel),
                next_outgoing_id=UInt(0),
                incoming_window=UInt(f["incoming_window"]),
                outgoing_window=UInt(f["outgoing_window"]),
                handle_max=UInt(handle_max),
            ),
        )

    def _session(self, channel: int) -> Session:
        s = self.sessions.get(channel)
        if s is None:
            raise AmqpError(ILLEGAL_STATE, f"no session on channel {channel}")
        return s

    def on_end(self, channel: int, e: End, payload: Any) -> None:
        s = self._session(channel)
        self._drop_session(s)
        self.send_frame(s.channel, End())

    def _end_session(self, s: Session, error: Error) -> None:
        self._drop_session(s)
        self.send_frame(s.channel, End(error=error))

    def _drop_session(self, s: Session) -> None:
        s.flush_dispositions()
        s.ended = True
        for link in list(s.links.values()):
            link.close(False)
        s.links.clear()
        s.backlog.clear()
        self.sessions.pop(s.remote_channel, None)
        self._local_channels.discard(s.channel)

    # -- links ----------------------------------------------------------------------------------
    def on_attach(self, channel: int, a: Attach, payload: Any) -> None:
        s = self._session(channel)
        handle = int(a.handle)
        if handle in s.links:
            raise AmqpError(HANDLE_IN_USE, f"handle {handle} is already attached", "session")
        if handle > s.handle_max:
            raise AmqpError(RESOURCE_LIMIT, f"handle {handle} exceeds handle-max {s.handle_max}", "session")
        if a.role == SENDER:
            self._attach_incoming(s, a, handle)
        else:
            self._attach_outgoing(s, a, handle)

    def _refuse(self, s: Session, a: Attach, handle: int, error: Error) -> None:
        """ActiveMQ's way to refuse a link: attach with no terminus, then detach with the error."""
        our_role = RECEIVER if a.role == SENDER else SENDER
        self.send_frame(
            s.channel,
            Attach(
                name=a.name,
                handle=UInt(handle),
                role=our_role,
                source=a.source if our_role == RECEIVER else None,
                target=a.target if our_role == SENDER else None,
                initial_delivery_count=UInt(0) if our_role == SENDER else None,
            ),
        )
        self.send_frame(s.channel, Detach(handle=UInt(handle), closed=True, error=error))

    def _attach_incoming(self, s: Session, a: Attach, handle: int) -> None:
        target = a.target
        dc = int(a.initial_delivery_count or 0)
        if isinstance(target, Coordinator):
            self._open_incoming(s, a, CoordinatorLink(self, s, a.name, handle, dc), target, None)
            return
        if target is not None and not isinstance(target, Target):
            self._refuse(
                s, a, handle, Error(condition=Symbol(INVALID_FIELD), description="unknown target type")
            )
            return
        link = IncomingLink(self, s, a.name, handle, dc)
        assert self.conn is not None and self.core_session is not None
        try:
            if target is not None and target.dynamic:
                kind = TEMP_TOPIC if "temporary-topic" in (target.capabilities or []) else TEMP_QUEUE
                link.dest = self.conn.create_temp(kind)
                link.dynamic = True
                target = Target(
                    address=name_from_core(link.dest), dynamic=True, capabilities=[KIND_CAPABILITY[kind]]
                )
            elif target is not None and target.address:
                link.dest = name_to_core(target.address, target.capabilities)
            if link.dest is not None:
                self.core_session.add_producer(link.dest)
                link.producer = True
        except CoreError as e:
            if link.dynamic and link.dest is not None:
                self.conn.delete_temp(link.dest)
            self._refuse(s, a, handle, core_error(e))
            return
        self._open_incoming(s, a, link, target, ULong(self.max_message_size))

    def _open_incoming(
        self, s: Session, a: Attach, link: IncomingLink, target: Any, max_message_size: ULong | None
    ) -> None:
        """Register an incoming link, answer the peer's attach and grant the first credit."""
        s.links[link.handle] = link
        self.send_frame(
            s.channel,
            Attach(
                name=a.name,
                handle=UInt(link.handle),
                role=RECEIVER,
                snd_settle_mode=a.snd_settle_mode,
                rcv_settle_mode=RCV_FIRST,
                source=a.source,
                target=target,
                max_message_size=max_message_size,
            ),
        )
        link.grant()

    def _attach_outgoing(self, s: Session, a: Attach, handle: int) -> None:
        source = a.source
        assert self.conn is not None and self.core_session is not None
        link = OutgoingLink(self, s, a.name, handle, a.snd_settle_mode == SND_SETTLED)
        selector = None
        no_local = False
        filters: dict[Any, Any] = {}
        try:
            if source is not None and not isinstance(source, Source):
                raise AmqpError(INVALID_FIELD, "unknown source type", "link")
            if source is not None and source.filter:
                for key, value in source.filter.items():
                    desc = value.descriptor if isinstance(value, Described) else None
                    if key in JMS_SELECTOR_IDS or desc in JMS_SELECTOR_IDS:
                        selector = str(value.value if isinstance(value, Described) else value)
                        filters[key] = value
                    elif key in NO_LOCAL_IDS or desc in NO_LOCAL_IDS:
                        no_local = True
                        filters[key] = value
            if source is None or (not source.address and not source.dynamic):
                # reattach to a durable subscription by link name (ActiveMQ)
                cid = self.conn.client_id
                found = [d for d in self.broker.durable_subscriptions_of(cid)] if cid else []
                match = next((d for d in found if d[0] == a.name), None)
                if match is None:
                    raise NotFound(f"unknown subscription link: {a.name}")
                name, pattern, selector, no_local = match
                from ferrymq.core import DestinationName

                link.dest = DestinationName(TOPIC, pattern)
                link.durable_name = name
                source = Source(
                    address=name_from_core(link.dest),
                    durable=2,
                    expiry_policy=Symbol("never"),
                    distribution_mode=Symbol(COPY),
                )
            elif source.dynamic:
                kind = TEMP_TOPIC if "temporary-topic" in (source.capabilities or []) else TEMP_QUEUE
                link.dest = self.conn.create_temp(kind)
                link.dynamic = True
                source = Source(
                    address=name_from_core(link.dest), dynamic=True, capabilities=[KIND_CAPABILITY[kind]]
                )
            else:
                link.dest = name_to_core(source.address, source.capabilities)
                if link.dest.kind == TOPIC and int(source.durable) in (1, 2):
                    link.durable_name = a.name
                source = Source(
                    address=source.address,
                    durable=source.durable,
                    expiry_policy=source.expiry_policy,
                    timeout=source.timeout,
                    distribution_mode=source.distribution_mode,
                    filter=filters or None,
                    default_outcome=source.default_outcome,
                    outcomes=source.outcomes,
                    capabilities=source.capabilities,
                )
            spec = SubscriptionSpec(
                link.dest, selector=selector, durable_name=link.durable_name, no_local=no_local
            )
            link.subscribe(spec)
        except AmqpError as e:
            self._refuse(s, a, handle, e.error())
            return
        except CoreError as e:
            if link.dynamic and link.dest is not None:
                self.conn.delete_temp(link.dest)
            err = core_error(e)
            if "selector" in e.message.lower():
                err = Error(condition=Symbol(INVALID_FIELD), description=e.message[:1000])
            self._refuse(s, a, handle, err)
            return
        s.links[handle] = link
        self.send_frame(
            s.channel,
            Attach(
                name=a.name,
                handle=UInt(handle),
                role=SENDER,
                snd_settle_mode=a.snd_settle_mode,
                rcv_settle_mode=RCV_FIRST,
                source=source,
                target=a.target,
                initial_delivery_count=UInt(0),
            ),
        )
        if s.blocked or self.delivery_paused:
            link.pause()

    def _link(self, s: Session, handle: Any) -> Link:
        link = s.links.get(int(handle)) if handle is not None else None
        if link is None:
            raise AmqpError(UNATTACHED_HANDLE, f"handle {handle} is not attached", "session")
        return link

    def on_detach(self, channel: int, d: Detach, payload: Any) -> None:
        s = self._session(channel)
        link = s.links.pop(int(d.handle), None)
        if link is None:
            return  # we detached it already (our detach crossed theirs)
        link.close(bool(d.closed))
        self.send_frame(s.channel, Detach(handle=d.handle, closed=d.closed))

    def on_flow(self, channel: int, f: Flow, payload: Any) -> None:
        s = self._session(channel)
        s.on_flow(f)
        if f.handle is not None:
            link = s.links.get(int(f.handle))
            if link is None:
                raise AmqpError(
                    UNATTACHED_HANDLE, f"flow for handle {f.handle}, which is not attached", "session"
                )
            link.on_flow(f)
        elif f.echo:
            s.send_flow()

    def on_transfer(self, channel: int, t: Transfer, payload: Any) -> None:
        s = self.sessions.get(channel)
        if s is None:
            raise AmqpError(ILLEGAL_STATE, f"no session on channel {channel}")
        s.next_incoming_id = (s.next_incoming_id + 1) & 0xFFFFFFFF
        link = s.links.get(t.handle)  # a UInt hashes and compares as its int
        if link is None:
            raise AmqpError(
                UNATTACHED_HANDLE, f"transfer on handle {t.handle}, which is not attached", "session"
            )
        if not isinstance(link, IncomingLink):
            raise AmqpError(ILLEGAL_STATE, "transfer on a link where the broker is the sender", "session")
        try:
            link.on_transfer(t, payload)
        except AmqpError as e:
            if e.scope == "link":
                link.detach(e.error())
                return
            raise

    def on_disposition(self, channel: int, d: Disposition, payload: Any) -> None:
        s = self._session(channel)
        if d.role != RECEIVER:
            return  # the client settles its own transfers: we settle first, nothing to do
        first = int(d.first)
        last = int(d.last) if d.last is not None else first
        state = d.state
        tx = None
        if isinstance(state, TransactionalState):
            tx = self.transaction(state.txn_id)
            state = state.outcome
        if state is None:
            if not d.settled:
                return
            outcome = ACCEPTED
        elif isinstance(state, Accepted):
            outcome = ACCEPTED
        elif isinstance(state, Released):
            outcome = RELEASED
        elif isinstance(state, Rejected):
            outcome = REJECTED
        elif isinstance(state, Modified):
            outcome = (
                REJECTED if state.undeliverable_here else MODIFIED if state.delivery_failed else RELEASED
            )
        else:
            return  # received: not terminal
        uns = s.unsettled_out
        if last - first < len(uns):
            ids = [i for i in range(first, last + 1) if i in uns]
        else:
            ids = sorted(i for i in uns if first <= i <= last)
        groups: dict[int, tuple[Subscription, list[int]]] = {}
        for did in ids:
            link, tag = uns.pop(did)
            sub = link.sub
            if sub is None:
                continue
            g = groups.get(sub.id)
            if g is None:
                groups[sub.id] = (sub, [tag])
            else:
                g[1].append(tag)
            if not d.settled:
                s.dispose(did, d.state, SENDER)
        assert self.core_session is not None
        for sub, tags in groups.values():
            self.core_session.settle(sub, tags, outcome, tx)

    _handlers: dict[type, Callable[..., None]] = {
        Begin: on_begin,
        Attach: on_attach,
        Flow: on_flow,
        Transfer: on_transfer,
        Disposition: on_disposition,
        Detach: on_detach,
        End: on_end,
        Close: on_close,
    }

    # -- transport side -----------------------------------------------------------------------------
    def data_to_send(self) -> list[bytes]:
        if self.dirty_sessions:
            dirty, self.dirty_sessions = self.dirty_sessions, []
            for s in dirty:
                s.flush_dispositions()
        if self._autosettle:
            self.flush_autosettle()
        self.flush_requested = False
        out = self.out
        if not out:
            return []
        self.out = bytearray()
        self._last_send = time.monotonic()
        # the filled buffer goes to the transport as it is (bytes-like; never written again)
        return [cast(bytes, out)]

    def should_close(self) -> bool:
        return self._close_after_flush and not self.out

    def tick(self, now: float) -> float | None:
        state = self._state
        if state == "closing":
            return None
        if state != "open":
            if now >= self._connect_deadline:
                self._fail(RESOURCE_LIMIT, "the connection was not opened within the connect timeout")
                return None
            return self._connect_deadline
        deadline: float | None = None
        if self._send_interval:
            due = self._last_send + self._send_interval
            if now >= due:
                self.out += HEARTBEAT
                self.ctx.request_flush()
                due = now + self._send_interval
            deadline = due
        if self._recv_timeout:
            rdue = self._last_recv + self._recv_timeout
            if now >= rdue:
                self._fail(RESOURCE_LIMIT, "local-idle-timeout expired")
                return None
            deadline = rdue if deadline is None else min(deadline, rdue)
        return deadline

    def pause_delivery(self) -> None:
        self.delivery_paused = True
        for s in self.sessions.values():
            for link in s.links.values():
                link.pause()

    def resume_delivery(self) -> None:
        self.delivery_paused = False
        for s in self.sessions.values():
            if not s.blocked:
                for link in s.links.values():
                    link.resume()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._state = "closing"
        self._release()


__all__ = ["AmqpAdapter", "DECODE_ERROR", "NOT_FOUND"]
