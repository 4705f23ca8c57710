"""MQTT names and messages to and from the core's, as ActiveMQ maps them (docs/mapping.md).

- Topic ``a/b/c`` is topic ``a.b.c``; in filters ``+`` is ``*`` and ``#`` is ``>``. A ``.``
  inside an MQTT level becomes ``/`` in the core name (the two separators swap), so every
  MQTT topic maps to a distinct core topic and back.
- The payload is a bytes body. QoS 1 and 2 publishes are persistent, QoS 0 ones are not.
  The publish QoS travels as the property ``ActiveMQ.MQTT.QoS`` and the retain flag as
  ``ActiveMQ.Retain``.
- Any core message becomes a PUBLISH: text bodies as UTF-8, bytes as they are, map and
  stream bodies as JSON. A message without the QoS property (from another protocol) has
  QoS 1 when persistent, else 0.
"""

from __future__ import annotations

import json
from typing import Any

from ferrymq.core import BYTES, EMPTY, MAP, STREAM, TEXT, TOPIC, DestinationName, Message

QOS_PROPERTY = "ActiveMQ.MQTT.QoS"
RETAIN_PROPERTY = "ActiveMQ.Retain"
RETAINED_PROPERTY = "ActiveMQ.Retained"

_TO_CORE_FILTER = str.maketrans({"/": ".", ".": "/", "+": "*", "#": ">"})
_TO_CORE_NAME = str.maketrans({"/": ".", ".": "/"})
_FROM_CORE_NAME = str.maketrans({".": "/", "/": "."})

#: cache key of the encoded (topic bytes, payload bytes) in Message.encode_cache
CACHE_KEY = ("mqtt", "publish")


def filter_to_core(topic_filter: str) -> str:
    """``a/+/#`` -> ``a.*.>`` (the codec has validated the filter)."""
    return topic_filter.translate(_TO_CORE_FILTER)


def name_to_core(topic: str) -> str:
    return topic.translate(_TO_CORE_NAME)


def name_from_core(dest: DestinationName) -> str:
    return dest.path.translate(_FROM_CORE_NAME)


def to_core(topic: str, payload: bytes, qos: int, retain: bool) -> Message:
    props: dict[str, Any] = {QOS_PROPERTY: qos}
    if retain:
        props[RETAIN_PROPERTY] = True
    return Message(
        DestinationName(TOPIC, name_to_core(topic)),
        payload,
        BYTES,
        properties=props,
        persistent=qos > 0,
        origin="mqtt",
    )


def message_qos(msg: Message) -> int:
    q = msg.properties.get(QOS_PROPERTY)
    if isinstance(q, int) and 0 <= q <= 2:
        return q
    if isinstance(q, str) and q in ("0", "1", "2"):
        return int(q)
    return 1 if msg.persistent else 0


def is_retained_copy(msg: Message) -> bool:
    return msg.properties.get(RETAINED_PROPERTY) is True


def payload_of(msg: Message) -> bytes:
    body = msg.body
    kind = msg.body_kind
    if kind == BYTES:
        return bytes(body) if not isinstance(body, bytes) else body
    if kind == TEXT:
        return body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if kind == EMPTY or body is None:
        return b""
    if kind in (MAP, STREAM):
        return json.dumps(body, default=_json_default).encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    return str(body).encode("utf-8")


def encoded_parts(msg: Message) -> tuple[bytes, bytes]:
    """(topic bytes, payload) of ``msg``, cached on the message for every MQTT subscriber."""
    parts = msg.encode_cache.get(CACHE_KEY)
    if parts is None:
        parts = msg.encode_cache[CACHE_KEY] = (
            name_from_core(msg.destination).encode("utf-8"),
            payload_of(msg),
        )
    return parts  # type: ignore[no-any-return]


def _json_default(o: Any) -> Any:
    if isinstance(o, bytes | bytearray):
        return bytes(o).decode("latin-1")
    return str(o)
