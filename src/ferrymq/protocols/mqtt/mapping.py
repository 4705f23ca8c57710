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

from ferrymq.core import BYTES, EMPTY, MAP, STREAM, TEXT, TOPIC, DestinationName, Message, quick_message
from ferrymq.protocols.mqtt.packets import encode_publish_middle

QOS_PROPERTY = "ActiveMQ.MQTT.QoS"
RETAIN_PROPERTY = "ActiveMQ.Retain"
RETAINED_PROPERTY = "ActiveMQ.Retained"

_TO_CORE_FILTER = str.maketrans({"/": ".", ".": "/", "+": "*", "#": ">"})
_TO_CORE_NAME = str.maketrans({"/": ".", ".": "/"})
_FROM_CORE_NAME = str.maketrans({".": "/", "/": "."})

#: cache key of the encoded (topic bytes, payload bytes) in Message.encode_cache
CACHE_KEY = ("mqtt", "publish")
#: cache key of a message's :class:`Outbound` in Message.encode_cache
OUTBOUND_KEY = ("mqtt", "outbound")
#: broker-internal topics that, like $ topics, a filter starting with a wildcard does not match
ADVISORY = "ActiveMQ.Advisory."

#: core destination per MQTT topic name; bounded, shared (names are immutable)
_DEST_CACHE: dict[str, DestinationName] = {}
_DEST_CACHE_MAX = 4096


def filter_to_core(topic_filter: str) -> str:
    """``a/+/#`` -> ``a.*.>`` (the codec has validated the filter)."""
    return topic_filter.translate(_TO_CORE_FILTER)


def name_to_core(topic: str) -> str:
    return topic.translate(_TO_CORE_NAME)


def name_from_core(dest: DestinationName) -> str:
    return dest.path.translate(_FROM_CORE_NAME)


def topic_to_core(topic: str) -> DestinationName:
    """The core topic of MQTT topic name ``topic`` (cached per name)."""
    dest = _DEST_CACHE.get(topic)
    if dest is None:
        if len(_DEST_CACHE) >= _DEST_CACHE_MAX:
            _DEST_CACHE.clear()
        dest = _DEST_CACHE[topic] = DestinationName(TOPIC, topic.translate(_TO_CORE_NAME))
    return dest


def to_core(topic: str, payload: bytes, qos: int, retain: bool) -> Message:
    """The core message of a PUBLISH, with its :class:`Outbound` already in its encode cache
    (every MQTT delivery of it shares the topic bytes and header pieces worked out here)."""
    props: dict[str, Any] = {QOS_PROPERTY: qos}
    if retain:
        props[RETAIN_PROPERTY] = True
    t = _PUB_TOPIC.get(topic)
    if t is None:
        t = _pub_topic(topic)
    if type(payload) is not bytes:
        payload = bytes(payload)
    n = len(payload)
    m = quick_message(t[0], payload, BYTES, props, qos > 0, "mqtt", n)
    # Outbound(m) without its lookups: delivered to subscribers the RETAIN bit is 0
    o: Outbound = _new(Outbound)
    o.topic = t[1]
    o.dollar = t[2]
    heads = o._heads = t[3]
    o.payload = payload
    o.qos = qos
    o.retain = 0
    o._head0 = heads.get(n << 2)
    o._middle = None
    m.encode_cache[OUTBOUND_KEY] = o
    return m


_new = object.__new__

#: (core destination, MQTT topic bytes, is a $ or advisory topic, header pieces) per MQTT
#: topic name a client published to; bounded, shared
_PUB_TOPIC: dict[str, tuple[DestinationName, bytes, bool, dict[int, bytes]]] = {}


def _pub_topic(topic: str) -> tuple[DestinationName, bytes, bool, dict[int, bytes]]:
    dest = topic_to_core(topic)
    out = _TOPIC_OUT.get(dest.path)
    if out is None:
        out = _topic_out(dest.path)
    if len(_PUB_TOPIC) >= _DEST_CACHE_MAX:
        _PUB_TOPIC.clear()
    t = _PUB_TOPIC[topic] = (dest, out[0], out[1], out[2])
    return t


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


class Outbound:
    """What every MQTT delivery of one message shares, cached on the message.

    ``qos`` is the message's own QoS and ``retain`` the RETAIN bit (1 for a retained copy);
    ``dollar`` is true for topics a filter starting with a wildcard does not match. The
    header pieces are made on first use: :meth:`head0` is the whole QoS 0 header (first
    byte, Remaining Length, topic), :meth:`middle` the part of a QoS 1/2 header between the
    first byte and the packet identifier.
    """

    __slots__ = ("topic", "payload", "qos", "retain", "dollar", "_heads", "_head0", "_middle")

    def __init__(self, msg: Message) -> None:
        path = msg.destination.path
        t = _TOPIC_OUT.get(path)
        if t is None:
            t = _topic_out(path)
        self.topic, self.dollar, self._heads = t
        body = msg.body
        self.payload = body if type(body) is bytes and msg.body_kind == BYTES else payload_of(msg)
        props = msg.properties
        q = props.get(QOS_PROPERTY)
        self.qos = q if type(q) is int and 0 <= q <= 2 else message_qos(msg)
        self.retain = 1 if props and props.get(RETAINED_PROPERTY) is True else 0
        self._head0: bytes | None = None
        self._middle: bytes | None = None

    def head0(self) -> bytes:
        h = self._head0
        if h is None:
            # shared by every message of this topic, payload size and retain bit
            key = len(self.payload) << 2 | self.retain
            h = self._heads.get(key)
            if h is None:
                h = encode_publish_middle(self.topic, len(self.payload), 0, 0x30 | self.retain)
                _remember(self._heads, key, h)
            self._head0 = h
        return h

    def middle(self) -> bytes:
        m = self._middle
        if m is None:
            key = len(self.payload) << 2 | 2
            m = self._heads.get(key)
            if m is None:
                m = encode_publish_middle(self.topic, len(self.payload), 1)
                _remember(self._heads, key, m)
            self._middle = m
        return m


#: (MQTT topic bytes, is a $ or advisory topic, header pieces by payload size and kind) per
#: core topic path; bounded, shared
_TOPIC_OUT: dict[str, tuple[bytes, bool, dict[int, bytes]]] = {}
_HEADS_MAX = 64


def _topic_out(path: str) -> tuple[bytes, bool, dict[int, bytes]]:
    if len(_TOPIC_OUT) >= _DEST_CACHE_MAX:
        _TOPIC_OUT.clear()
    t = _TOPIC_OUT[path] = (
        path.translate(_FROM_CORE_NAME).encode("utf-8"),
        path[:1] == "$" or path.startswith(ADVISORY),
        {},
    )
    return t


def _remember(heads: dict[int, bytes], key: int, value: bytes) -> None:
    if len(heads) >= _HEADS_MAX:
        heads.clear()
    heads[key] = value


def outbound(msg: Message) -> Outbound:
    """The :class:`Outbound` of ``msg``, made once for every MQTT subscriber."""
    o = msg.encode_cache.get(OUTBOUND_KEY)
    if o is None:
        o = msg.encode_cache[OUTBOUND_KEY] = Outbound(msg)
    return o  # type: ignore[no-any-return]


def _json_default(o: Any) -> Any:
    if isinstance(o, bytes | bytearray):
        return bytes(o).decode("latin-1")
    return str(o)
