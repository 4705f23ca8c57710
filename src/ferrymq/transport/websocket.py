"""WebSocket transport: STOMP and MQTT over ws:// and wss:// (DESIGN §1, R1).

A thin ``asyncio.Protocol`` over websockets' sans-I/O ``ServerProtocol``: it answers the
HTTP upgrade (any path), picks the adapter by the negotiated subprotocol, and feeds the
payload of every data frame to that adapter as one byte stream, so packets may be split
across WebSocket messages or packed several to a message. The adapter's output goes out
as one binary message per flush (STOMP output as a text message when it is valid UTF-8,
which is what browser STOMP clients expect).

Nothing here knows a protocol: app.py passes a ``{subprotocol: adapter factory}`` mapping
and the adapter to use when the client offers no subprotocol.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ferrymq.protocols.base import PeerInfo, ProtocolLimits
from ferrymq.transport.flush import FlushScheduler
from ferrymq.transport.stream import AdapterFactory, AdapterHost

log = logging.getLogger("ferrymq.transport")

_DATA = (Opcode.BINARY, Opcode.TEXT, Opcode.CONT)


def _text_ok(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class WebSocketConnection(AdapterHost):
    """One WebSocket connection: handshake, framing, and a protocol adapter behind it."""

    def __init__(
        self,
        listener: Any,
        loop: asyncio.AbstractEventLoop,
        flusher: FlushScheduler,
        subprotocols: Mapping[str, AdapterFactory],
        default: AdapterFactory | None,
        text_subprotocols: frozenset[str],
    ) -> None:
        super().__init__(listener, loop, flusher)
        self._factories = subprotocols
        self._default = default
        self._text_protocols = text_subprotocols
        self.ws: ServerProtocol | None = None
        self.peer: PeerInfo | None = None
        self.subprotocol: str | None = None
        self._text = False
        self._handshake_deadline = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, base: asyncio.BaseTransport) -> None:
        peer = self._admit(base, websocket=True)
        if peer is None:
            return
        self.peer = peer
        limits: ProtocolLimits = self._listener.limits
        offered = [Subprotocol(s) for s in self._factories]
        self.ws = ServerProtocol(
            subprotocols=offered, select_subprotocol=self._select, max_size=limits.max_frame_size, logger=log
        )
        self._handshake_deadline = time.monotonic() + limits.connect_timeout
        self._schedule_tick(self._handshake_deadline)

    @staticmethod
    def _select(protocol: ServerProtocol, offered: Any) -> Subprotocol | None:
        # the client's order of preference among those we serve; none offered: the default
        available = protocol.available_subprotocols or ()
        for s in offered:
            if s in available:
                return Subprotocol(s)
        if offered:
            from websockets.exceptions import NegotiationError

            raise NegotiationError("unsupported subprotocol; expected one of " + ", ".join(available))
        return None

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        if ws is None or self._closing:
            return
        ws.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        if self.ws is not None:
            self.ws.receive_eof()
            self._process()
        return None

    # -- input ---------------------------------------------------------------------------
    def _process(self) -> None:
        ws = self.ws
        assert ws is not None
        feed: list[bytes] = []
        for ev in ws.events_received():
            if isinstance(ev, Request):
                self._handshake(ev)
            elif isinstance(ev, Frame) and ev.opcode in _DATA and ev.data:
                feed.append(bytes(ev.data))
        adapter = self.adapter
        if feed and adapter is not None:
            try:
                adapter.receive_data(feed[0] if len(feed) == 1 else b"".join(feed))
            except Exception:
                log.exception("adapter %s failed on input from %s", adapter.name, self._listener.name)
                self._abort()
                return
        self._write_ws()
        if ws.state is State.CLOSED or (ws.state is State.CLOSING and ws.close_expected()):
            self._close_transport()
            return
        self._flusher.mark(self)

    def _handshake(self, request: Request) -> None:
        ws = self.ws
        assert ws is not None
        response = ws.accept(request)
        ws.send_response(response)
        if response.status_code != 101:
            log.info(
                "%s: refused a WebSocket handshake from %s: %s",
                self._listener.name,
                self.peer.address if self.peer else "?",
                response.reason_phrase,
            )
            return
        sub = ws.subprotocol
        factory = self._factories.get(sub) if sub else self._default
        if factory is None:
            ws.fail(1002, "no protocol for this subprotocol")
            return
        self.subprotocol = sub
        self._text = (sub in self._text_protocols) if sub else False
        assert self.peer is not None
        self._start_adapter(factory, self.peer)

    # -- output --------------------------------------------------------------------------
    def _write_ws(self) -> None:
        ws, transport = self.ws, self.transport
        if ws is None or transport is None:
            return
        chunks = ws.data_to_send()
        if not chunks:
            return
        eof = False
        out = []
        for c in chunks:
            if c:
                out.append(c)
            else:
                eof = True
        if out:
            transport.write(out[0] if len(out) == 1 else b"".join(out))
        if eof:
            self._close_transport()

    def flush(self) -> None:
        adapter, ws = self.adapter, self.ws
        if adapter is None or ws is None or self.transport is None:
            return
        try:
            chunks = adapter.data_to_send()
            if chunks and ws.state is State.OPEN:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                if self._text and _text_ok(data):
                    ws.send_text(data)
                else:
                    ws.send_binary(data)
            if adapter.should_close() and ws.state is State.OPEN:
                ws.send_close(1000)
                self._write_ws()
                self._close_transport()
                return
            self._write_ws()
            deadline = adapter.tick(time.monotonic())
        except Exception:
            log.exception("adapter %s failed while writing", adapter.name)
            self._abort()
            return
        if deadline is not None:
            self._schedule_tick(deadline)

    def _close_transport(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.close()

    # -- time ------------------------------------------------------------------------------
    def _on_timer(self) -> None:
        self._timer = None
        if self.transport is None:
            return
        if self.adapter is None:
            if time.monotonic() >= self._handshake_deadline:
                self._abort()  # no WebSocket handshake within the connect timeout
            return
        self.flush()


def websocket_connection_factory(
    subprotocols: Mapping[str, AdapterFactory],
    default: AdapterFactory | None = None,
    text_subprotocols: frozenset[str] = frozenset(),
) -> Callable[[Any, asyncio.AbstractEventLoop, FlushScheduler], WebSocketConnection]:
    """A ``connection_factory`` for :class:`ferrymq.transport.listener.Listener`."""

    def make(listener: Any, loop: asyncio.AbstractEventLoop, flusher: FlushScheduler) -> WebSocketConnection:
        return WebSocketConnection(listener, loop, flusher, subprotocols, default, text_subprotocols)

    return make
