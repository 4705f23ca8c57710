"""What every protocol adapter is, and what it is given (DESIGN §4, R1, R7, R9).

Stdlib only: the transport imports this module and nothing else of the protocols.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ferrymq.protocols.errors import CodecError

__all__ = ["AdapterContext", "CodecError", "PeerInfo", "ProtocolAdapter", "ProtocolLimits"]


@dataclass(slots=True)
class ProtocolLimits:
    """Named limits; each is a config key under ``limits:`` (R9)."""

    #: largest frame/packet accepted; ActiveMQ's shipped config uses 100 MB
    max_frame_size: int = 100 * 1024 * 1024
    #: bytes of an incomplete frame we keep buffered before refusing the peer
    max_incomplete_frame_bytes: int = 100 * 1024 * 1024
    #: header entries per frame (STOMP) / properties per message
    max_headers: int = 1000
    #: length of one header line
    max_header_length: int = 64 * 1024
    #: subscriptions one connection may hold
    max_subscriptions_per_connection: int = 10_000
    #: outbound bytes queued for a slow reader before delivery pauses
    max_pending_outbound_bytes: int = 4 * 1024 * 1024
    #: connections per protocol (Amazon MQ mq.*.large: 2,000 per protocol)
    max_connections: int = 2000
    #: seconds a client has to finish CONNECT/OPEN after TCP accept
    connect_timeout: float = 30.0
    #: idle connections without heartbeats are reaped after this many seconds (Amazon MQ: 600)
    max_inactivity: float = 600.0


@dataclass(slots=True)
class PeerInfo:
    address: str
    port: int
    tls: bool = False
    websocket: bool = False
    listener: str = ""


@dataclass
class AdapterContext:
    """Everything an adapter may use. Ports only; app.py fills in the concrete objects."""

    broker: Any  # ferrymq.core.Broker (public API)
    authenticator: Any  # core.ports.Authenticator
    limits: ProtocolLimits
    peer: PeerInfo
    request_flush: Callable[[], None] = lambda: None
    #: inbound back-pressure (producer flow control): stop / restart reading the socket
    pause_reading: Callable[[], None] = lambda: None
    resume_reading: Callable[[], None] = lambda: None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("ferrymq.protocol"))
    options: dict[str, Any] = field(default_factory=dict)


class ProtocolAdapter:
    """Sans-I/O protocol endpoint: bytes in, bytes out, time as an input."""

    name: ClassVar[str] = ""

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx

    def receive_data(self, data: bytes) -> None:
        raise NotImplementedError

    def receive_eof(self) -> None:
        pass

    def data_to_send(self) -> list[bytes]:
        raise NotImplementedError

    def tick(self, now: float) -> float | None:
        """Handle heartbeats/timeouts due at ``now`` (monotonic); next deadline or None."""
        return None

    def should_close(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        pass

    def pause_delivery(self) -> None:
        pass

    def resume_delivery(self) -> None:
        pass
