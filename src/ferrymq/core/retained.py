"""Retained messages: the last message published with the retain property, per topic.

Protocol neutral. A message whose properties carry ``ActiveMQ.Retain = true`` (MQTT's
retain flag; any protocol may set the property) replaces the retained message of its
topic; one with an empty body clears it. The broker keeps a copy marked
``ActiveMQ.Retained = true`` and stores it durably under the store key ``$retained``
(``AddMessage`` + ``AddRef``; clearing is a ``RemoveRef``), whatever the publisher's
delivery mode, so retained messages survive a restart. A subscription whose spec says
``retroactive`` is handed the retained messages its pattern matches before anything new.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ferrymq.core.message import Message, new_message_id
from ferrymq.core.ports import AddMessage, AddRef, RecoveredRef, RemoveRef, StoreOp
from ferrymq.core.trie import pattern_matches

if TYPE_CHECKING:
    from ferrymq.core.queue import Queue

#: set by a publisher: keep this message as its topic's retained message
RETAIN_PROPERTY = "ActiveMQ.Retain"
#: set on the broker's copy: this delivery is a retained message, not a live one
RETAINED_PROPERTY = "ActiveMQ.Retained"
#: the store key holding one reference per retained message
STORE_KEY = "$retained"


def is_retain(message: Message) -> bool:
    v = message.properties.get(RETAIN_PROPERTY)
    return v is True or (isinstance(v, str) and v.lower() == "true")


def _empty(message: Message) -> bool:
    b = message.body
    return b is None or (isinstance(b, bytes | bytearray | str | memoryview) and len(b) == 0)


class RetainedMessages:
    """Topic path -> retained message copy. Synchronous; persistence through store ops."""

    __slots__ = ("by_path",)

    def __init__(self) -> None:
        self.by_path: dict[str, Message] = {}

    def __len__(self) -> int:
        return len(self.by_path)

    def recover(self, refs: list[RecoveredRef] | None) -> None:
        for r in refs or ():
            self.by_path[r.message.destination.path] = r.message

    def update(self, message: Message, ops: list[StoreOp]) -> None:
        """``message`` was published with the retain property: keep it, or clear the topic."""
        path = message.destination.path
        old = self.by_path.pop(path, None)
        if old is not None:
            ops.append(RemoveRef(STORE_KEY, old.message_id))
        if _empty(message):
            return
        props = dict(message.properties)
        props[RETAINED_PROPERTY] = True
        copy = message.copy(message_id=new_message_id(), properties=props)
        copy.size = message.size
        copy.producer_key = None
        self.by_path[path] = copy
        ops.append(AddMessage(copy))
        ops.append(AddRef(STORE_KEY, copy.message_id, 0))

    def matching(self, pattern: str) -> list[Message]:
        """Retained messages whose topic ``pattern`` (ActiveMQ syntax) matches."""
        if "*" not in pattern and ">" not in pattern:
            m = self.by_path.get(pattern)
            return [m] if m is not None else []
        return [m for p, m in self.by_path.items() if pattern_matches(pattern, p)]

    def replay(self, pattern: str, queue: Queue, selector: Any, ops: list[StoreOp]) -> int:
        """Put the retained messages matching ``pattern`` on a new subscription's queue."""
        n = 0
        for m in self.matching(pattern):
            if selector is not None and not selector.matches(m):
                continue
            e = queue.new_entry(m)
            if m.persistent and queue.store_key is not None:
                ops.append(AddRef(queue.store_key, m.message_id, 0))
            queue.enqueue(e)
            n += 1
        return n
