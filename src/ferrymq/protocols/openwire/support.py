"""The OpenWire adapter's error mapping and the temporary-destination advisory registry.

Errors reach a JMS client as a ThrowableInfo naming the JMS exception class the ActiveMQ
client rebuilds (ferrymq never sends Java objects). Temporary destinations are announced on
ActiveMQ's advisory topics to every OpenWire connection of the same broker that watches them.
"""

from __future__ import annotations

import weakref
from typing import Any

from ferrymq.core import Condition, CoreError, DestinationName

from .spec import OpenWireCodecError, ThrowableInfo

_EXCEPTIONS = {
    Condition.NOT_FOUND: "javax.jms.InvalidDestinationException",
    Condition.UNAUTHORIZED: "java.lang.SecurityException",
    Condition.RESOURCE_LIMIT: "javax.jms.ResourceAllocationException",
    Condition.INVALID: "javax.jms.JMSException",
    Condition.CLIENT_ID_IN_USE: "javax.jms.InvalidClientIDException",
    Condition.ILLEGAL_STATE: "javax.jms.IllegalStateException",
    Condition.INTERNAL: "javax.jms.JMSException",
}


class ProtocolViolation(Exception):
    """A well-formed command a client may not send here (answered, then the connection closes
    unless the command asked for a response)."""


def throwable(err: BaseException) -> ThrowableInfo:
    if isinstance(err, CoreError):
        cls = _EXCEPTIONS.get(err.condition, "javax.jms.JMSException")
        if type(err).__name__ == "InvalidSelector":
            cls = "javax.jms.InvalidSelectorException"
        return ThrowableInfo(cls, err.message)
    if isinstance(err, TxRolledBack):
        return ThrowableInfo("javax.jms.TransactionRolledBackException", str(err))
    if isinstance(err, OpenWireCodecError):
        return ThrowableInfo("java.io.IOException", err.message)
    return ThrowableInfo("javax.jms.JMSException", str(err) or type(err).__name__)


class TxRolledBack(Exception):
    pass


# -- temporary destination advisories, shared by the OpenWire connections of one broker -------
class TempRegistry:
    """Which OpenWire connections watch the temp-destination advisory topics."""

    def __init__(self) -> None:
        self.watchers: dict[Any, None] = {}
        self.seq = 0

    def announce(self, connection_id: str, dest: DestinationName, op: int) -> None:
        for w in list(self.watchers):
            w.adapter._advise(w, connection_id, dest, op)


_registries: weakref.WeakKeyDictionary[Any, TempRegistry] = weakref.WeakKeyDictionary()


def registry(broker: Any) -> TempRegistry:
    r = _registries.get(broker)
    if r is None:
        r = _registries[broker] = TempRegistry()
    return r
