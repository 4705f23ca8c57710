"""OpenWire messages and destinations to and from the core's message and names.

The JMS message types map onto the core's body kinds (Text, Bytes, Map, Stream, Object,
plain ActiveMQMessage = empty). Object bodies stay opaque serialized bytes: nothing here
deserializes Java. A message that came from an OpenWire client keeps its decoded command in
``Message.native`` so another OpenWire consumer receives it unchanged (its message id,
producer id, compressed body and marshalled properties); messages from other protocols, and
copies the core made (dead letters, redrives), are built from the core fields.
"""

from __future__ import annotations

import itertools
from typing import Any

from ferrymq.core import (
    BYTES,
    EMPTY,
    MAP,
    OBJECT,
    QUEUE,
    STREAM,
    TEMP_QUEUE,
    TEMP_TOPIC,
    TEXT,
    TOPIC,
    DestinationName,
    InvalidRequest,
    Message,
    parse_uri,
    quick_message,
)

from . import props, spec
from .spec import DataStructure, OpenWireCodecError

#: encode_cache key of the OpenWire form of a core message
CACHE_KEY = "openwire"
#: encode_cache marker: ``native`` still describes this very message (not a core copy)
NATIVE_KEY = "openwire-native"
#: ActiveMQ's minimum accounted message size (ProducerAck sizes use the same formula)
MIN_MESSAGE_SIZE = 1024

_DEST_CLASSES: dict[str, type[DataStructure]] = {
    QUEUE: spec.ActiveMQQueue,
    TOPIC: spec.ActiveMQTopic,
    TEMP_QUEUE: spec.ActiveMQTempQueue,
    TEMP_TOPIC: spec.ActiveMQTempTopic,
}
_KINDS: dict[type[DataStructure], str] = {v: k for k, v in _DEST_CLASSES.items()}

_BODY_CLASSES: dict[str, type[DataStructure]] = {
    TEXT: spec.ActiveMQTextMessage,
    BYTES: spec.ActiveMQBytesMessage,
    MAP: spec.ActiveMQMapMessage,
    STREAM: spec.ActiveMQStreamMessage,
    OBJECT: spec.ActiveMQObjectMessage,
    EMPTY: spec.ActiveMQMessage,
}

#: the producer id of messages that did not come from an OpenWire producer
BROKER_PRODUCER = spec.ProducerId(connection_id="ID:ferrymq-broker", session_id=0, value=0)
_broker_seq = itertools.count(1)

MESSAGE_TYPES = tuple(_BODY_CLASSES.values()) + (spec.ActiveMQBlobMessage,)
_BYTES_MESSAGE = spec.ActiveMQBytesMessage


# -- destinations ----------------------------------------------------------------------------
def name_to_core(dest: DataStructure | None) -> DestinationName:
    """An ActiveMQ destination to a core name (composites are split by the adapter)."""
    if dest is None:
        raise InvalidRequest("the command names no destination")
    kind = _KINDS.get(type(dest))
    if kind is None:
        raise InvalidRequest(f"{type(dest).__name__} is not a destination")
    path = dest.physical_name
    if not path:
        raise InvalidRequest("destination name is empty")
    return DestinationName(kind, path)


def split_composite(dest: DataStructure) -> list[DestinationName]:
    """``a,b`` names several destinations (ActiveMQ's composite destinations); a part may
    switch kind with ``queue://`` or ``topic://``."""
    base = name_to_core(dest)
    if "," not in base.path:
        return [base]
    out: list[DestinationName] = []
    for part in base.path.split(","):
        part = part.strip()
        if not part:
            continue
        if "://" in part:
            out.append(parse_uri(part))
        else:
            out.append(DestinationName(base.kind, part))
    if not out:
        raise InvalidRequest("destination name is empty")
    return out


def name_from_core(dest: DestinationName | None) -> DataStructure | None:
    if dest is None:
        return None
    return _DEST_CLASSES[dest.kind](physical_name=dest.path)


_DEST_STRUCTS: dict[DestinationName, DataStructure] = {}


def dest_struct(dest: DestinationName) -> DataStructure:
    """``name_from_core(dest)``, one shared structure per name (it keeps its marshal-cache key
    and hash); not to be modified."""
    out = _DEST_STRUCTS.get(dest)
    if out is None:
        if len(_DEST_STRUCTS) >= 4096:
            _DEST_STRUCTS.clear()
        out = _DEST_STRUCTS[dest] = _DEST_CLASSES[dest.kind](physical_name=dest.path)
    return out


#: id(producer id) -> (its key, the JMSMessageID prefix of its messages): the producer ids of a
#: connection's messages come from its marshal cache, the same object each time (its kept key
#: is replaced when a field of it is assigned)
_ID_PREFIXES: dict[int, tuple[Any, str]] = {}


def message_id_text(mid: DataStructure | None) -> str | None:
    """The JMSMessageID ActiveMQ shows for a MessageId."""
    if mid is None:
        return None
    if mid.text_view:
        return str(mid.text_view)
    p = mid.producer_id
    if p is None:
        return f"ID:unknown:{mid.producer_sequence_id}"
    seq = mid.producer_sequence_id
    known = _ID_PREFIXES.get(id(p))
    key = getattr(p, "_kc", None)
    if known is not None and known[0] is key and key is not None and type(seq) is int:
        return known[1] + str(seq)
    prefix = f"{p.connection_id}:{p.session_id}:{p.value}:"
    if key is not None:
        if len(_ID_PREFIXES) >= 4096:
            _ID_PREFIXES.clear()
        _ID_PREFIXES[id(p)] = (key, prefix)
    return f"{prefix}{seq}"


# -- OpenWire -> core ------------------------------------------------------------------------
def _body(cmd: DataStructure) -> tuple[str, Any]:
    content = cmd.content
    compressed = bool(cmd.compressed)
    t = type(cmd)
    if t is spec.ActiveMQTextMessage:
        return TEXT, props.decode_text_body(content, compressed=compressed) or ""
    if t is spec.ActiveMQBytesMessage:
        return BYTES, props.decode_bytes_body(content, compressed=compressed)
    if t is spec.ActiveMQMapMessage:
        return MAP, props.decode_map_body(content, compressed=compressed)
    if t is spec.ActiveMQStreamMessage:
        return STREAM, props.decode_stream_body(content, compressed=compressed)
    if t is spec.ActiveMQObjectMessage:
        return OBJECT, props.decode_object_body(content, compressed=compressed)
    if content:
        return BYTES, bytes(content)
    return EMPTY, b""


def message_size(cmd: DataStructure) -> int:
    """ActiveMQ's Message.getSize(): what ProducerAck reports back to a producer window."""
    size = MIN_MESSAGE_SIZE
    if cmd.marshalled_properties:
        size += len(cmd.marshalled_properties)
    if cmd.content:
        size += len(cmd.content)
    return size


def to_core(cmd: DataStructure, dest: DestinationName, reply_to: DestinationName | None) -> Message:
    """A core message for an OpenWire message command (raises OpenWireCodecError for a body or
    property map that does not decode, InvalidRequest for bad names)."""
    content = cmd.content
    if type(cmd) is _BYTES_MESSAGE and not cmd.compressed and type(content) is bytes:
        kind, body = BYTES, content  # what _body gives, without its calls
    else:
        kind, body = _body(cmd)
    raw_props = cmd.marshalled_properties
    properties = props.decode_map(raw_props, exact=False) if raw_props else None
    ts = cmd.timestamp
    # what Message(...) gives for these fields, without its keyword handling
    msg = quick_message(
        dest,
        body,
        kind,
        properties or {},
        bool(cmd.persistent),
        "openwire",
        0,
        message_id=message_id_text(cmd.message_id) or None,
        timestamp=(ts if type(ts) is int else int(ts)) if ts else 0,
    )
    p = cmd.priority
    msg.priority = p if type(p) is int and 0 <= p <= 9 else max(0, min(9, int(p)))
    e = cmd.expiration
    msg.expiration = e if type(e) is int and e >= 0 else max(0, int(e))
    msg.correlation_id = cmd.correlation_id
    msg.reply_to = reply_to
    msg.type = cmd.type
    msg.group_id = cmd.group_id
    msg.group_seq = int(cmd.group_sequence)
    msg.user_id = cmd.user_id
    msg.native = cmd
    msg.size = MIN_MESSAGE_SIZE + (len(raw_props) if raw_props else 0) + (len(content) if content else 0)
    msg.encode_cache[NATIVE_KEY] = True
    return msg


# -- core -> OpenWire ------------------------------------------------------------------------
def _prop_value(v: Any) -> Any:
    if isinstance(v, DestinationName):
        return str(v)
    if isinstance(v, bool | int | float | str | bytes | type(None) | dict | list):
        if isinstance(v, int) and not isinstance(v, bool) and not -(1 << 63) <= v < (1 << 63):
            return str(v)
        return v
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    return str(v)


def _encode_props(properties: dict[str, Any]) -> bytes | None:
    if not properties:
        return None
    clean = {str(k): _prop_value(v) for k, v in properties.items()}
    try:
        return props.encode_map(clean)
    except OpenWireCodecError:
        return props.encode_map({k: (v if isinstance(v, str) else str(v)) for k, v in clean.items()})


def _encode_body(msg: Message) -> bytes | None:
    kind, body = msg.body_kind, msg.body
    if kind == TEXT:
        return props.encode_text_body(body if isinstance(body, str) else msg.text())
    if kind == BYTES:
        return props.encode_bytes_body(bytes(body) if body is not None else b"")
    if kind == MAP:
        return props.encode_map_body({str(k): _prop_value(v) for k, v in dict(body or {}).items()})
    if kind == STREAM:
        items = [_prop_value(v) for v in list(body or [])]
        return props.encode_stream_body([v if not isinstance(v, dict | list) else str(v) for v in items])
    if kind == OBJECT:
        return props.encode_object_body(bytes(body) if isinstance(body, bytes | bytearray) else b"")
    return None


_new = object.__new__
_set = object.__setattr__


def _clone(obj: DataStructure) -> DataStructure:
    """A shallow copy of ``obj`` (what ``copy.copy`` gives, without its generic machinery)."""
    out = _new(type(obj))
    for name, value in zip(obj.field_names, obj._values(obj), strict=True):
        _set(out, name, value)
    if obj._key_cached:
        _set(out, "_kc", None)
        _set(out, "_hc", None)
    return out


def from_core(msg: Message) -> DataStructure:
    """The OpenWire message a consumer receives for ``msg`` (before per-delivery fields),
    cached on the message."""
    cached = msg.encode_cache.get(CACHE_KEY)
    if cached is not None:
        return cached
    native = msg.native
    if msg.encode_cache.get(NATIVE_KEY) and isinstance(native, MESSAGE_TYPES):
        out: Any = _clone(native)
        out.transaction_id = None
        out.response_required = False
        out.command_id = 0
        out.destination = dest_struct(msg.destination)
        out.user_id = msg.user_id
        out.redelivery_counter = 0
        out.broker_in_time = int(msg.broker_in_time) if msg.broker_in_time else 0
        msg.encode_cache[CACHE_KEY] = out
        return out
    properties = dict(msg.properties)
    original = properties.pop("originalDestination", None)
    original_dest = None
    if isinstance(original, str) and original:
        original_dest = name_from_core(parse_uri(original))
    elif isinstance(original, DestinationName):
        original_dest = name_from_core(original)
    if msg.content_type is not None and "content-type" not in properties:
        properties["content-type"] = msg.content_type
    native_id = native.message_id if isinstance(native, MESSAGE_TYPES) else None
    if native_id is not None and message_id_text(native_id) == msg.message_id:
        mid = native_id
        producer = native.producer_id or BROKER_PRODUCER
    else:
        producer = BROKER_PRODUCER
        mid = spec.MessageId(
            text_view=msg.message_id, producer_id=producer, producer_sequence_id=next(_broker_seq)
        )
    cls = _BODY_CLASSES.get(msg.body_kind, spec.ActiveMQBytesMessage)
    built = cls(
        producer_id=producer,
        destination=name_from_core(msg.destination),
        original_destination=original_dest,
        message_id=mid,
        group_id=msg.group_id,
        group_sequence=msg.group_seq,
        correlation_id=msg.correlation_id,
        persistent=msg.persistent,
        expiration=msg.expiration,
        priority=msg.priority,
        reply_to=name_from_core(msg.reply_to),
        timestamp=msg.timestamp,
        type=msg.type,
        content=_encode_body(msg),
        marshalled_properties=_encode_props(properties),
        user_id=msg.user_id,
    )
    msg.encode_cache[CACHE_KEY] = built
    return built


def for_delivery(base: DataStructure, redelivery_counter: int) -> DataStructure:
    """The message as dispatched: ActiveMQ carries the redelivery count in the message too
    (the client derives JMSRedelivered from it)."""
    if not redelivery_counter:
        return base
    out: Any = _clone(base)
    out.redelivery_counter = redelivery_counter
    return out
