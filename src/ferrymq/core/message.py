"""The neutral, JMS-shaped message (R3).

A ``Message`` is immutable once routed: every subscriber shares one instance, and each
adapter caches its encoded form in ``encode_cache`` keyed by its own wire key. Per
delivery state (delivery count, redelivered flag, tags) lives in :mod:`delivery`.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from ferrymq.core.names import DestinationName

# Body kinds, as the JMS message types.
TEXT = "text"
BYTES = "bytes"
MAP = "map"
STREAM = "stream"
OBJECT = "object"
EMPTY = "empty"
BODY_KINDS = (TEXT, BYTES, MAP, STREAM, OBJECT, EMPTY)

DEFAULT_PRIORITY = 4

_prefix = f"ID:ferrymq-{os.getpid()}-{int(time.time() * 1000) % 10**9}-"
_counter = itertools.count(1)


def new_message_id() -> str:
    return f"{_prefix}{next(_counter)}"


class Message:
    __slots__ = (
        "message_id", "destination", "body", "body_kind", "properties",
        "persistent", "priority", "expiration", "timestamp", "correlation_id",
        "reply_to", "type", "group_id", "group_seq", "content_type", "user_id",
        "origin", "native", "encode_cache", "size", "producer_key", "broker_in_time",
    )

    def __init__(
        self,
        destination: DestinationName,
        body: Any = b"",
        body_kind: str = BYTES,
        *,
        message_id: str | None = None,
        properties: dict[str, Any] | None = None,
        persistent: bool = False,
        priority: int = DEFAULT_PRIORITY,
        expiration: int = 0,
        timestamp: int = 0,
        correlation_id: str | None = None,
        reply_to: DestinationName | None = None,
        type: str | None = None,
        group_id: str | None = None,
        group_seq: int = 0,
        content_type: str | None = None,
        user_id: str | None = None,
        origin: str = "",
        native: Any = None,
        producer_key: object = None,
    ) -> None:
        self.message_id = message_id or new_message_id()
        self.destination = destination
        self.body = body
        self.body_kind = body_kind
        self.properties = properties if properties is not None else {}
        self.persistent = persistent
        self.priority = priority
        self.expiration = expiration  # absolute epoch ms, 0 = never
        self.timestamp = timestamp or int(time.time() * 1000)
        self.correlation_id = correlation_id
        self.reply_to = reply_to
        self.type = type
        self.group_id = group_id
        self.group_seq = group_seq
        self.content_type = content_type
        self.user_id = user_id
        self.origin = origin
        self.native = native
        self.encode_cache: dict[Any, Any] = {}
        self.producer_key = producer_key  # identifies the producing connection (no-local)
        self.broker_in_time = 0.0
        self.size = _estimate_size(body) + 64 + 32 * len(self.properties)

    def copy(self, **changes: Any) -> Message:
        """A new message with the same content and fresh caches (DLQ, redrive, routing copies)."""
        m = Message.__new__(Message)
        for slot in Message.__slots__:
            setattr(m, slot, getattr(self, slot))
        m.properties = dict(self.properties)
        m.encode_cache = {}
        for k, v in changes.items():
            setattr(m, k, v)
        return m

    def expired(self, now_ms: int) -> bool:
        return self.expiration != 0 and self.expiration <= now_ms

    def text(self) -> str:
        """The body as text, whatever its kind (for logs, consoles and cross mappings)."""
        b = self.body
        if isinstance(b, str):
            return b
        if isinstance(b, bytes | bytearray | memoryview):
            return bytes(b).decode("utf-8", "replace")
        return repr(b)

    def __repr__(self) -> str:  # pragma: no cover
        return f"<Message {self.message_id} to {self.destination} {self.body_kind} {self.size}B>"


_new = object.__new__
_time = time.time


def quick_message(
    destination: DestinationName,
    body: Any,
    body_kind: str,
    properties: dict[str, Any],
    persistent: bool,
    origin: str,
    size: int,
    *,
    message_id: str | None = None,
    timestamp: int = 0,
) -> Message:
    """A message with the other fields at their defaults, made without ``Message.__init__``'s
    keyword handling (the hot path of every adapter's inbound mapping). ``size`` is the body's
    size in bytes (as ``_estimate_size`` would give); ``message_id`` and ``timestamp`` as for
    ``Message`` (a new id, the current time when not given)."""
    m: Message = _new(Message)
    m.message_id = message_id or f"{_prefix}{next(_counter)}"
    m.destination = destination
    m.body = body
    m.body_kind = body_kind
    m.properties = properties
    m.persistent = persistent
    m.priority = DEFAULT_PRIORITY
    m.expiration = 0
    m.timestamp = timestamp or int(_time() * 1000)
    m.correlation_id = None
    m.reply_to = None
    m.type = None
    m.group_id = None
    m.group_seq = 0
    m.content_type = None
    m.user_id = None
    m.origin = origin
    m.native = None
    m.encode_cache = {}
    m.producer_key = None
    m.broker_in_time = 0.0
    m.size = size + 64 + 32 * len(properties)
    return m


def _estimate_size(body: Any) -> int:
    t = type(body)
    if t is bytes or t is str:
        return len(body)
    if isinstance(body, bytes | bytearray | memoryview | str):
        return len(body)
    if isinstance(body, dict):
        return sum(len(str(k)) + _estimate_size(v) for k, v in body.items())
    if isinstance(body, list | tuple):
        return sum(_estimate_size(v) for v in body)
    return 16
