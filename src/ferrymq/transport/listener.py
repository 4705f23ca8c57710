"""TCP and TLS listeners: accept, admit (connection limit, CIDR allow rules), hand each
connection to a StreamConnection driving its protocol adapter."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Callable
from typing import Any

from ferrymq.protocols.base import AdapterContext, PeerInfo, ProtocolLimits
from ferrymq.transport.flush import FlushScheduler
from ferrymq.transport.stream import AdapterFactory, StreamConnection

log = logging.getLogger("ferrymq.transport")


class Listener:
    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        adapter_factory: AdapterFactory,
        context_factory: Callable[[PeerInfo], AdapterContext],
        limits: ProtocolLimits,
        *,
        ssl_context: ssl.SSLContext | None = None,
        allow: list[str] | None = None,
        connection_factory: Callable[..., asyncio.Protocol] | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.adapter_factory = adapter_factory
        self._context_factory = context_factory
        self.limits = limits
        self.ssl_context = ssl_context
        self.allow = [ipaddress.ip_network(c, strict=False) for c in (allow or [])]
        self.connections: set[Any] = set()
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._flusher: FlushScheduler | None = None
        self._connection_factory = connection_factory or StreamConnection

    @property
    def bound_port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self.port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._flusher = FlushScheduler(loop)
        flusher = self._flusher
        factory = self._connection_factory
        self._server = await loop.create_server(
            lambda: factory(self, loop, flusher), self.host, self.port, ssl=self.ssl_context,
            reuse_address=True, backlog=1024,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for c in list(self.connections):
                t = getattr(c, "transport", None)
                if t is not None:
                    t.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5)
            except TimeoutError:
                pass
            self._server = None

    def admit(self, conn: Any, peer: PeerInfo) -> bool:
        if self.allow:
            try:
                ip = ipaddress.ip_address(peer.address)
            except ValueError:
                ip = None
            if ip is None or not any(ip in net for net in self.allow):
                self.refused += 1
                log.warning("%s: refused %s (not in the allowed networks)", self.name, peer.address)
                return False
        if len(self.connections) >= self.limits.max_connections:
            self.refused += 1
            log.warning("%s: refused %s: %d connections is the limit", self.name, peer.address,
                        self.limits.max_connections)
            return False
        self.connections.add(conn)
        return True

    def release(self, conn: Any) -> None:
        self.connections.discard(conn)

    def make_context(self, peer: PeerInfo) -> AdapterContext:
        return self._context_factory(peer)
