"""The STOMP 1.0/1.1/1.2 adapter: frames to core calls and back (R1, R2, R8).

Sans-I/O: ``receive_data`` parses every complete frame and acts on it; replies and
deliveries go to an outbound list the transport drains once per tick. While the CONNECT
is being authenticated, later frames stay queued so order is kept without a task.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from ferrymq import __version__
from ferrymq.core import (
    ACCEPTED,
    AUTO,
    CLIENT,
    REJECTED,
    TEMP_QUEUE,
    TEMP_TOPIC,
    TOPIC,
    ClientConnection,
    ClientSession,
    Completion,
    CoreError,
    Credentials,
    Delivery,
    DestinationName,
    Subscription,
    SubscriptionSpec,
)
from ferrymq.protocols.base import AdapterContext, ProtocolAdapter
from ferrymq.protocols.stomp.frames import HEARTBEAT, Frame, FrameParser, StompCodecError, encode_frame
from ferrymq.protocols.stomp.mapping import SendTemplate, encode_message_part, parse_destination, to_core

SUPPORTED = ("1.0", "1.1", "1.2")
ACK_MODES = {"auto": AUTO, "client": CLIENT, "client-individual": CLIENT}
SERVER = f"ferrymq/{__version__}"
#: we accept client heart-beats no more often than this, and send ours at least this rarely
MIN_HEARTBEAT_MS = 1000
#: a client is declared dead after its heart-beat interval times this
HEARTBEAT_GRACE = 1.5
#: stop reading from a producer with this many receipts waiting for the store; start
#: again at the low mark (inbound back-pressure, so commits and replies keep flowing)
RECEIPTS_HIGH = 2000
RECEIPTS_LOW = 500

_ESC_11 = str.maketrans({"\\": "\\\\", "\n": "\\n", ":": "\\c"})
_ESC_12 = str.maketrans({"\\": "\\\\", "\n": "\\n", ":": "\\c", "\r": "\\r"})
_ESC_10 = str.maketrans({"\n": " ", "\r": " "})


def _escaper(version: str) -> Any:
    if version == "1.0":
        def escape10(s: str) -> str:
            return s.translate(_ESC_10) if "\n" in s or "\r" in s else s

        return escape10
    table = _ESC_12 if version == "1.2" else _ESC_11

    def escape(s: str) -> str:
        # most values need nothing, and message ids only their colons: substring tests and
        # str.replace are far cheaper than str.translate
        if "\\" in s or "\n" in s or "\r" in s:
            return s.translate(table)
        if ":" in s:
            return s.replace(":", "\\c")
        return s

    return escape


class StompSubscription:
    """The adapter's side of one SUBSCRIBE: a DeliverySink."""

    __slots__ = ("adapter", "sub_id", "ack", "sub", "ack_ids", "dest_text", "durable", "head")

    def __init__(self, adapter: StompAdapter, sub_id: str, ack: str, dest_text: str, durable: str | None) -> None:
        self.adapter = adapter
        self.sub_id = sub_id
        self.ack = ack
        self.sub: Subscription | None = None
        self.ack_ids: dict[int, str] = {}
        self.dest_text = dest_text
        self.durable = durable
        self.head = ("MESSAGE\nsubscription:" + adapter._escape(sub_id) + "\n").encode("utf-8")

    def deliver(self, d: Delivery) -> None:
        self.adapter._deliver(self, d)

    def closed(self, error: Exception | None) -> None:
        self.adapter._subscription_gone(self, error)


class StompAdapter(ProtocolAdapter):
    name = "stomp"

    def __init__(self, ctx: AdapterContext) -> None:
        super().__init__(ctx)
        lim = ctx.limits
        self.parser = FrameParser(max_frame_size=lim.max_frame_size, max_headers=lim.max_headers,
                                  max_header_length=lim.max_header_length)
        self.parser.stop_after_connect = True
        self.broker = ctx.broker
        self.version = "1.0"
        self._escape = _escaper("1.0")
        self._out: list[bytes] = []
        self._pending: deque[Frame] = deque()  # frames waiting for the CONNECT to finish
        self._receipts: deque[list[Any]] = deque()  # [completion, bytes] in request order
        self._state = "new"  # new -> connecting -> connected -> closing
        self._close_after_flush = False
        self.conn: ClientConnection | None = None
        self.session: ClientSession | None = None
        self.subs: dict[str, StompSubscription] = {}
        self._acks: dict[str, tuple[StompSubscription, int]] = {}
        self._temp: dict[tuple[str, str], DestinationName] = {}
        self._dest_cache: dict[str, DestinationName] = {}
        self._send_template: SendTemplate | None = None  # of the last SEND's headers
        self._last_receipt: tuple[str, bytes] | None = None  # the last receipt id and its frame
        now = time.monotonic()
        self._last_recv = now
        self._last_send = now
        self._send_interval = 0.0
        self._recv_timeout = 0.0
        self._connect_deadline = now + lim.connect_timeout
        self._reparse = False
        self._flush_requested = False
        self._cache_key = ("stomp", "1.0")
        self._reading_paused = False
        self._held_sends = 0

    # -- input ---------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if self._state == "closing":
            return
        self._last_recv = time.monotonic()
        parser = self.parser
        while True:
            try:
                items = parser.feed(data)
            except StompCodecError as e:
                for item in e.frames:
                    if item is not HEARTBEAT:
                        self._pending.append(item)  # type: ignore[arg-type]
                self._drain()
                self._error(e.message)
                return
            for item in items:
                if item is not HEARTBEAT:
                    self._pending.append(item)  # type: ignore[arg-type]
            self._drain()
            if self._state == "closing":
                return
            if self._reparse and parser.buffered:
                # the CONNECT was handled (the version is set): parse what followed it
                self._reparse = False
                data = b""
                continue
            break
        limit = self.ctx.limits.max_incomplete_frame_bytes
        if parser.buffered > limit:
            self._error(f"incomplete frame of more than {limit} bytes")

    def _drain(self) -> None:
        while self._pending and self._state in ("new", "connected"):
            frame = self._pending.popleft()
            try:
                self._handle(frame)
            except CoreError as e:
                self._error(e.message, frame)
            except StompCodecError as e:
                self._error(e.message, frame)

    def _handle(self, frame: Frame) -> None:
        cmd = frame.command
        if self._state == "new":
            if cmd == "CONNECT" or cmd == "STOMP":
                self.on_connect(frame)
                return
            self._error(f"a CONNECT frame is expected first, got {cmd}", frame)
            return
        handler = self._handlers.get(cmd)
        if handler is None:
            self._error(f"{cmd} is not a frame a client may send", frame)
            return
        handler(self, frame)

    # -- CONNECT -------------------------------------------------------------------------
    def on_connect(self, frame: Frame) -> None:
        h = frame.headers
        accept = h.get("accept-version")
        if accept is None:
            version = "1.0"
        else:
            offered = {v.strip() for v in accept.split(",")}
            common = [v for v in SUPPORTED if v in offered]
            if not common:
                self._out.append(encode_frame("ERROR", {
                    "version": ",".join(SUPPORTED), "content-type": "text/plain",
                    "message": f"supported protocol versions are {' '.join(SUPPORTED)}"}, b"", "1.0"))
                self._close()
                return
            version = common[-1]
        hb = h.get("heart-beat", "0,0")
        try:
            cx, cy = (int(x) for x in hb.split(","))
            if cx < 0 or cy < 0:
                raise ValueError
        except ValueError:
            self._error(f"invalid heart-beat header {hb!r}: expected two non-negative integers", frame)
            return
        self.version = version
        self._last_receipt = None
        self._cache_key = ("stomp", version)
        self.parser.version = version
        self.parser.stop_after_connect = False
        self._reparse = True
        self._escape = _escaper(version)
        self._state = "connecting"
        creds = Credentials(h.get("login"), h.get("passcode"), self.ctx.peer.address, "stomp")
        c = self.ctx.authenticator.authenticate(creds)
        if not c.is_done:  # read nothing more from an unauthenticated peer meanwhile
            self.ctx.pause_reading()
            c.add_callback(lambda _r: None if self._reading_paused else self.ctx.resume_reading())
        c.add_callback(lambda r: self._authenticated(r, frame, cx, cy))

    def _authenticated(self, result: Completion, frame: Frame, cx: int, cy: int) -> None:
        if self._state != "connecting":
            return
        if not result.ok:
            err = result.error
            self._state = "new"
            self._error(str(err) if isinstance(err, CoreError) else "authentication failed", frame)
            return
        try:
            self.conn = self.broker.connect(frame.headers.get("client-id") or None, result.result, "stomp",
                                            f"{self.ctx.peer.address}:{self.ctx.peer.port}",
                                            on_kicked=self._kicked)
        except CoreError as e:
            self._state = "new"
            self._error(e.message, frame)
            return
        self.conn.max_subscriptions = self.ctx.limits.max_subscriptions_per_connection
        self.session = self.conn.open_session()
        self._state = "connected"
        # heart-beats: we send every max(our minimum, what the client wants), and expect the
        # client's every max(what it offers, our minimum)
        sx = max(cy, MIN_HEARTBEAT_MS) if cy else 0
        sy = max(cx, MIN_HEARTBEAT_MS) if cx else 0
        self._send_interval = sx / 1000.0
        self._recv_timeout = sy / 1000.0 * HEARTBEAT_GRACE
        headers = {"version": self.version, "server": SERVER, "session": self.conn.id}
        if self.version != "1.0":
            headers["heart-beat"] = f"{sx},{sy}"
        self._out.append(encode_frame("CONNECTED", headers, b"", self.version))
        self._receipt(frame)
        self.ctx.request_flush()
        self._drain()

    def _kicked(self, error: Exception) -> None:
        self.conn = None
        self._error(str(error))
        self.ctx.request_flush()

    # -- helpers ---------------------------------------------------------------------------
    def _dest(self, text: str) -> DestinationName:
        hit = self._dest_cache.get(text)
        if hit is not None:
            return hit
        kind, path, remote = parse_destination(text)
        if kind in (TEMP_QUEUE, TEMP_TOPIC) and not remote:
            key = (kind, path)
            name = self._temp.get(key)
            if name is None:
                assert self.conn is not None
                name = self._temp[key] = self.conn.create_temp(kind, path)
            return name
        name = DestinationName(kind, path)
        if len(self._dest_cache) < 256:
            self._dest_cache[text] = name
        return name

    def _tx(self, frame: Frame) -> Any:
        txid = frame.headers.get("transaction")
        if txid is None:
            return None
        assert self.session is not None
        return self.session.transaction(txid)

    def _receipt(self, frame: Frame, completion: Completion | None = None) -> None:
        rid = frame.headers.get("receipt")
        if rid is None:
            return
        last = self._last_receipt
        if last is not None and last[0] == rid:
            data = last[1]  # clients often ask the same receipt id on every frame
        else:
            data = encode_frame("RECEIPT", [("receipt-id", rid)], b"", self.version)
            self._last_receipt = (rid, data)
        if completion is None or (completion.is_done and not self._receipts):
            if completion is not None and not completion.ok:
                self._error(f"could not store the message: {completion.error}", frame)
                return
            self._out.append(data)
            return
        entry = [completion, data, frame]
        self._receipts.append(entry)
        completion.add_callback(lambda _c: self._receipts_ready())
        if len(self._receipts) >= RECEIPTS_HIGH and not self._reading_paused:
            self._reading_paused = True
            self.ctx.pause_reading()

    def _receipts_ready(self) -> None:
        q = self._receipts
        wrote = False
        while q and q[0][0].is_done:
            c, data, frame = q.popleft()
            if not c.ok:
                self._error(f"could not store the message: {c.error}", frame)
                return
            if self._state != "closing":
                self._out.append(data)
                wrote = True
        if wrote:
            self.ctx.request_flush()
        if self._reading_paused and len(q) <= RECEIPTS_LOW and not self._held_sends:
            self._reading_paused = False
            self.ctx.resume_reading()

    def _error(self, message: str, frame: Frame | None = None, details: str = "") -> None:
        if self._state == "closing":
            return
        headers = [("content-type", "text/plain"), ("message", message.replace("\n", " "))]
        if frame is not None and "receipt" in frame.headers:
            headers.append(("receipt-id", frame.headers["receipt"]))
        body = (details or message).encode("utf-8")
        headers.append(("content-length", str(len(body))))
        try:
            self._out.append(encode_frame("ERROR", headers, body, self.version))
        except StompCodecError:
            self._out.append(encode_frame("ERROR", [("message", "protocol error")], b"", "1.0"))
        self._close()

    def _close(self) -> None:
        self._state = "closing"
        self._close_after_flush = True
        self._pending.clear()
        self._release_core()
        self.ctx.request_flush()

    def _release_core(self) -> None:
        """Detach from the core now: nothing more is delivered to a connection that is
        going away, and its unacknowledged messages go back to their queues."""
        if self.conn is not None:
            conn, self.conn = self.conn, None
            conn.close()

    # -- frames --------------------------------------------------------------------------
    def on_send(self, frame: Frame) -> None:
        h = frame.headers
        dest_text = h.get("destination")
        if not dest_text:
            self._error("SEND frame has no destination header", frame)
            return
        assert self.session is not None
        reply_to = self._dest(h["reply-to"]) if h.get("reply-to") else None
        tx = self._tx(frame)
        targets = [self._dest(d.strip()) for d in dest_text.split(",")] if "," in dest_text else [self._dest(dest_text)]
        tpl = self._send_template
        if tpl is None or tpl.headers is not h:
            tpl = self._send_template = SendTemplate(h)
        completions = []
        for dest in targets:  # a comma-separated destination is composite: one copy each
            msg = to_core(h, frame.body, dest, reply_to, tpl)
            msg.producer_key = self.conn
            completions.append(self.session.send(msg, tx))
        c = completions[0] if len(completions) == 1 else Completion.all(completions)
        for part in completions:
            if part.held:  # producer flow control: stop reading until the broker takes it
                self._held_sends += 1
                if not self._reading_paused:
                    self._reading_paused = True
                    self.ctx.pause_reading()
                part.add_callback(self._held_done)
        self._receipt(frame, c)

    def _held_done(self, _c: Completion) -> None:
        self._held_sends -= 1
        if self._held_sends == 0 and self._reading_paused and len(self._receipts) <= RECEIPTS_LOW:
            self._reading_paused = False
            self.ctx.resume_reading()

    def on_subscribe(self, frame: Frame) -> None:
        h = frame.headers
        dest_text = h.get("destination")
        if not dest_text:
            self._error("SUBSCRIBE frame has no destination header", frame)
            return
        sub_id = h.get("id")
        if sub_id is None:
            if self.version != "1.0":
                self._error("SUBSCRIBE frame has no id header", frame)
                return
            sub_id = dest_text
        if sub_id in self.subs:
            self._error(f"subscription id {sub_id} is already in use on this connection", frame)
            return
        ack = h.get("ack", "auto")
        if ack not in ACK_MODES:
            self._error(f"invalid ack mode {ack!r}: use auto, client or client-individual", frame)
            return
        dest = self._dest(dest_text)
        durable = h.get("activemq.subscriptionName") or h.get("activemq.subcriptionName") \
            or h.get("durable-subscription-name")
        prefetch = None
        if "activemq.prefetchSize" in h:
            try:
                prefetch = int(h["activemq.prefetchSize"])
                if prefetch < 0:
                    raise ValueError
            except ValueError:
                self._error(f"invalid activemq.prefetchSize {h['activemq.prefetchSize']!r}", frame)
                return
        try:
            priority = int(h.get("activemq.priority", "0"))
        except ValueError:
            priority = 0
        spec = SubscriptionSpec(
            dest,
            selector=h.get("selector") or None,
            ack_mode=ACK_MODES[ack],
            prefetch=prefetch,
            durable_name=durable if dest.kind == TOPIC and durable else None,
            no_local=h.get("activemq.noLocal", "false").lower() == "true",
            exclusive=h.get("activemq.exclusive", "false").lower() == "true",
            priority=priority,
        )
        ss = StompSubscription(self, sub_id, ack, dest_text, spec.durable_name)
        assert self.session is not None
        self.subs[sub_id] = ss
        try:
            ss.sub = self.session.subscribe(spec, ss)
        except CoreError:
            del self.subs[sub_id]
            raise
        self._receipt(frame)

    def on_unsubscribe(self, frame: Frame) -> None:
        h = frame.headers
        sub_id = h.get("id") or (h.get("destination") if self.version == "1.0" else None)
        if sub_id is None:
            self._error("UNSUBSCRIBE frame has no id header", frame)
            return
        ss = self.subs.pop(sub_id, None)
        durable = h.get("activemq.subscriptionName") or h.get("durable-subscription-name")
        assert self.session is not None and self.conn is not None
        if ss is None and not durable:
            self._error(f"no subscription with id {sub_id}", frame)
            return
        if ss is not None and ss.sub is not None:
            self._forget_acks(ss)
            self.session.unsubscribe(ss.sub)
        if durable and self.conn.client_id:
            self.session.remove_durable(self.conn.client_id, durable)
        self._receipt(frame)

    def _ack_target(self, frame: Frame) -> tuple[StompSubscription, int] | None:
        h = frame.headers
        if self.version == "1.2":
            key = h.get("id")
            if key is None:
                self._error(f"{frame.command} frame has no id header", frame)
                return None
        else:
            mid = h.get("message-id")
            if mid is None:
                self._error(f"{frame.command} frame has no message-id header", frame)
                return None
            key = mid
            if self.version == "1.1":
                sub = h.get("subscription")
                if sub is not None:
                    key = f"{sub}\0{mid}"
                else:  # lenient: find the message in any subscription
                    key = next((k for k in self._acks if k.endswith("\0" + mid)), key)
        target = self._acks.get(key)
        if target is None:
            self._error(f"{frame.command} for an unknown or already acknowledged message: {key!r}", frame)
            return None
        return target

    def on_ack(self, frame: Frame) -> None:
        self._settle(frame, ACCEPTED)

    def on_nack(self, frame: Frame) -> None:
        # ActiveMQ: a NACK is a poison acknowledgement; the message goes to the DLQ
        self._settle(frame, REJECTED)

    def _settle(self, frame: Frame, outcome: Any) -> None:
        target = self._ack_target(frame)
        if target is None:
            return
        ss, tag = target
        sub = ss.sub
        assert sub is not None and self.session is not None
        tags = sub.tags_up_to(tag) if ss.ack == "client" else [tag]
        for t in tags:
            key = ss.ack_ids.pop(t, None)
            if key is not None:
                self._acks.pop(key, None)
        c = self.session.settle(sub, tags, outcome, self._tx(frame))
        self._receipt(frame, c)

    def on_begin(self, frame: Frame) -> None:
        txid = frame.headers.get("transaction")
        if not txid:
            self._error("BEGIN frame has no transaction header", frame)
            return
        assert self.session is not None
        self.session.begin(txid)
        self._receipt(frame)

    def on_commit(self, frame: Frame) -> None:
        tx = self._tx(frame)
        if tx is None:
            self._error("COMMIT frame has no transaction header", frame)
            return
        self._receipt(frame, tx.commit())

    def on_abort(self, frame: Frame) -> None:
        tx = self._tx(frame)
        if tx is None:
            self._error("ABORT frame has no transaction header", frame)
            return
        tx.rollback(redeliver=True)
        self._receipt(frame)

    def on_disconnect(self, frame: Frame) -> None:
        rid = frame.headers.get("receipt")
        self._state = "disconnecting"
        self._release_core()
        if rid is None:
            self._close()
            return
        data = encode_frame("RECEIPT", [("receipt-id", rid)], b"", self.version)
        pending = [e[0] for e in self._receipts]
        done = Completion.all(pending) if pending else None

        def finish(_c: Any = None) -> None:
            self._receipts_ready()
            self._out.append(data)
            self._close()

        if done is None or done.is_done:
            finish()
        else:
            done.add_callback(finish)

    _handlers: dict[str, Any] = {
        "SEND": on_send, "SUBSCRIBE": on_subscribe, "UNSUBSCRIBE": on_unsubscribe, "ACK": on_ack,
        "NACK": on_nack, "BEGIN": on_begin, "COMMIT": on_commit, "ABORT": on_abort,
        "DISCONNECT": on_disconnect,
    }

    # -- deliveries ------------------------------------------------------------------------
    def _deliver(self, ss: StompSubscription, d: Delivery) -> None:
        msg = d.message
        key = self._cache_key
        part = msg.encode_cache.get(key)
        if part is None:
            part = msg.encode_cache[key] = encode_message_part(msg, self.version, self._escape)
        out = self._out
        if ss.ack == "auto" and not d.redelivered:
            # the common case: a per-subscription head written beside the shared part
            out.append(ss.head)
            out.append(part)
            if not self._flush_requested:
                self._flush_requested = True
                self.ctx.request_flush()
            return
        esc = self._escape
        head = "MESSAGE\nsubscription:" + esc(ss.sub_id) + "\n"
        if ss.ack != "auto":
            if self.version == "1.2":
                ack_id = f"{ss.sub_id}:{d.tag}"
                head += "ack:" + esc(ack_id) + "\n"
            elif self.version == "1.1":
                ack_id = f"{ss.sub_id}\0{msg.message_id}"
            else:
                ack_id = msg.message_id
            ss.ack_ids[d.tag] = ack_id
            self._acks[ack_id] = (ss, d.tag)
        if d.redelivered:
            head += "redelivered:true\n"
        out.append(head.encode("utf-8"))
        out.append(part)
        if not self._flush_requested:
            self._flush_requested = True
            self.ctx.request_flush()

    def _forget_acks(self, ss: StompSubscription) -> None:
        for key in ss.ack_ids.values():
            self._acks.pop(key, None)
        ss.ack_ids.clear()

    def _subscription_gone(self, ss: StompSubscription, error: Exception | None) -> None:
        if self.subs.get(ss.sub_id) is ss:
            del self.subs[ss.sub_id]
            self._forget_acks(ss)
            self._error(f"subscription {ss.sub_id} was closed by the broker: {error}")

    # -- transport side ----------------------------------------------------------------------
    def data_to_send(self) -> list[bytes]:
        self._flush_requested = False
        out = self._out
        if out:
            self._out = []
            self._last_send = time.monotonic()
        return out

    def should_close(self) -> bool:
        return self._close_after_flush and not self._out

    def tick(self, now: float) -> float | None:
        if self._state in ("new", "connecting"):
            if now >= self._connect_deadline:
                self._error("no CONNECT frame within the connect timeout")
                return None
            return self._connect_deadline
        if self._state != "connected":
            return None
        deadline: float | None = None
        if self._send_interval:
            due = self._last_send + self._send_interval
            if now >= due:
                self._out.append(b"\n")
                self.ctx.request_flush()
                due = now + self._send_interval
            deadline = due
        if self._recv_timeout:
            rdue = self._last_recv + self._recv_timeout
            if now >= rdue:
                self._error("no heart-beat or frame received within the negotiated interval")
                return None
            deadline = rdue if deadline is None else min(deadline, rdue)
        return deadline

    def pause_delivery(self) -> None:
        if self.conn is not None:
            self.conn.pause_deliveries()

    def resume_delivery(self) -> None:
        if self.conn is not None:
            self.conn.resume_deliveries()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._state = "closing"
        self._release_core()
