"""A thin ``asyncio.Protocol`` around a sans-I/O ProtocolAdapter (R1, R6, R7)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from ferrymq.protocols.base import AdapterContext, PeerInfo, ProtocolAdapter, ProtocolLimits
from ferrymq.transport.flush import FlushScheduler

log = logging.getLogger("ferrymq.transport")

AdapterFactory = Callable[[AdapterContext], ProtocolAdapter]


class AdapterHost(asyncio.Protocol):
    """What every connection that drives a ProtocolAdapter shares: admission, the adapter's
    context, back-pressure both ways, one flush per tick, one timer, and the teardown."""

    def __init__(self, listener: Any, loop: asyncio.AbstractEventLoop, flusher: FlushScheduler) -> None:
        self._loop = loop
        self._listener = listener
        self._flusher = flusher
        self.transport: asyncio.Transport | None = None
        self.adapter: ProtocolAdapter | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._closing = False
        self._paused = False

    def _admit(self, base: asyncio.BaseTransport, websocket: bool = False) -> PeerInfo | None:
        """Take the transport; the peer, or None when the listener refuses it (aborted)."""
        transport = cast(asyncio.Transport, base)  # uvloop's transports are not subclasses
        self.transport = transport
        peername = transport.get_extra_info("peername") or ("?", 0)
        listener = self._listener
        peer = PeerInfo(str(peername[0]), int(peername[1]) if len(peername) > 1 else 0,
                        tls=transport.get_extra_info("sslcontext") is not None, websocket=websocket,
                        listener=listener.name)
        if not listener.admit(self, peer):
            transport.abort()
            return None
        limits: ProtocolLimits = listener.limits
        transport.set_write_buffer_limits(high=limits.max_pending_outbound_bytes,
                                          low=limits.max_pending_outbound_bytes // 4)
        return peer

    def _start_adapter(self, factory: AdapterFactory, peer: PeerInfo) -> ProtocolAdapter:
        ctx = self._listener.make_context(peer)
        ctx.request_flush = self._request_flush
        ctx.pause_reading = self._pause_reading
        ctx.resume_reading = self._resume_reading
        adapter = self.adapter = factory(ctx)
        self._schedule_tick(adapter.tick(time.monotonic()))
        return adapter

    # -- asyncio.Protocol ---------------------------------------------------------------
    def pause_writing(self) -> None:
        if self.adapter is not None:
            self.adapter.pause_delivery()

    def resume_writing(self) -> None:
        if self.adapter is not None:
            self.adapter.resume_delivery()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._listener.release(self)
        adapter, self.adapter = self.adapter, None
        if adapter is not None:
            try:
                adapter.connection_lost(exc)
            except Exception:
                log.exception("adapter %s failed while closing", adapter.name)
        self.transport = None

    # -- output and control ----------------------------------------------------------------
    def _request_flush(self) -> None:
        self._flusher.mark(self)

    def flush(self) -> None:
        raise NotImplementedError

    def _abort(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.abort()

    def _pause_reading(self) -> None:
        if self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.transport is not None and self._paused:
            self._paused = False
            self.transport.resume_reading()

    # -- time ------------------------------------------------------------------------------
    def _schedule_tick(self, deadline: float | None) -> None:
        if deadline is None:
            return
        if self._timer is not None:
            if self._timer_at <= deadline:
                return
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_later(max(0.0, deadline - time.monotonic()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.adapter is not None:
            self.flush()


class StreamConnection(AdapterHost):
    """A TCP or TLS byte stream straight into the adapter."""

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        peer = self._admit(base)
        if peer is None:
            return
        self._start_adapter(self._listener.adapter_factory, peer)
        self._request_flush()

    def data_received(self, data: bytes) -> None:
        adapter = self.adapter
        if adapter is None or self._closing:
            return
        try:
            adapter.receive_data(data)
        except Exception:  # a bug in an adapter must not take the broker down
            log.exception("adapter %s failed on input from %s", adapter.name, self._listener.name)
            self._abort()
            return
        self._flusher.mark(self)

    def eof_received(self) -> bool | None:
        if self.adapter is not None:
            self.adapter.receive_eof()
            self._flusher.mark(self)
        return None

    def flush(self) -> None:
        adapter, transport = self.adapter, self.transport
        if adapter is None or transport is None:
            return
        try:
            chunks = adapter.data_to_send()
            if chunks:
                transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            if adapter.should_close():
                self._closing = True
                transport.close()
                return
            deadline = adapter.tick(time.monotonic())
        except Exception:
            log.exception("adapter %s failed while writing", adapter.name)
            self._abort()
            return
        if deadline is not None:
            self._schedule_tick(deadline)
