"""The ports the core depends on (R10). Other packages implement them; app.py wires them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ferrymq.core.completion import Completion
from ferrymq.core.message import Message

# ---------------------------------------------------------------------------- store ops
# A "store key" names one ordered list of message references: a queue ("q:<path>"), a
# durable subscription ("d:<client id>:<name>"), scheduled jobs ("$sched"), MQTT retained
# messages ("$retained") ... The message itself is stored once and deleted with its last
# reference.


@dataclass(slots=True)
class AddMessage:
    message: Message


@dataclass(slots=True)
class AddRef:
    store_key: str
    message_id: str
    delivery_count: int = 0
    #: routed just now: this reference cannot already be on disk, so a RemoveRef that
    #: cancels it in the store's open batch need not be written either
    fresh: bool = False


@dataclass(slots=True)
class RemoveRef:
    store_key: str
    message_id: str
    #: a consumer acknowledged the message (not a move, purge or dead-letter): when this
    #: cancels the last reference routed in the store's open batch, the message has been
    #: delivered and acknowledged everywhere it went, and its sender need not wait for a commit
    acked: bool = False


@dataclass(slots=True)
class SetDeliveryCount:
    store_key: str
    message_id: str
    delivery_count: int


@dataclass(slots=True)
class DropKey:
    """Remove every reference held under ``store_key`` (queue delete, unsubscribe)."""

    store_key: str


@dataclass(slots=True)
class PutMeta:
    """Small durable records: durable subscription specs, MQTT sessions, schedules.
    ``value=None`` deletes the record."""

    namespace: str
    key: str
    value: bytes | None


StoreOp = AddMessage | AddRef | RemoveRef | SetDeliveryCount | DropKey | PutMeta


@dataclass(slots=True)
class RecoveredRef:
    message: Message
    delivery_count: int


@dataclass
class Recovery:
    refs: dict[str, list[RecoveredRef]] = field(default_factory=dict)
    meta: dict[str, dict[str, bytes]] = field(default_factory=dict)


class MessageStore(Protocol):
    async def open(self) -> Recovery: ...

    def submit(self, ops: Sequence[StoreOp]) -> Completion:
        """Atomic per call; calls made in one loop tick are committed in one transaction;
        batches commit in call order. The completion resolves after the commit."""
        ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------------------- clock
class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float:
        """Wall clock, seconds since the epoch."""
        ...

    def monotonic(self) -> float: ...

    def call_soon(self, cb: Callable[[], None]) -> Any: ...

    def call_later(self, delay: float, cb: Callable[[], None]) -> TimerHandle: ...


# ---------------------------------------------------------------------------- security
@dataclass(frozen=True, slots=True)
class Principal:
    username: str
    groups: frozenset[str] = frozenset()
    anonymous: bool = False
    admin: bool = False


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str | None
    password: str | None
    peer: str = ""
    protocol: str = ""


class Authenticator(Protocol):
    def authenticate(self, credentials: Credentials) -> Completion:
        """Resolves with a Principal, or fails with core.errors.Unauthorized."""
        ...


READ = "read"
WRITE = "write"
ADMIN = "admin"


class Authorizer(Protocol):
    def allowed(self, principal: Principal, action: str, destination: Any) -> bool: ...


class AllowAll:
    def allowed(self, principal: Principal, action: str, destination: Any) -> bool:
        return True
