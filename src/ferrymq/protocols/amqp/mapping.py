"""AMQP 1.0 messages and addresses to and from the core's message and names, as ActiveMQ's
``jms`` transformer maps them (docs/mapping.md, AMQP section).

Addresses: ``queue://a``, ``topic://a``, ``temp-queue://a``, ``temp-topic://a``; a bare
name is a queue unless the terminus carries the ``topic`` (or ``temporary-*``) capability.

Messages: the header gives durability, priority and ttl; the properties section the JMS
headers; application-properties the JMS properties; the body section the JMS type (data ->
bytes, amqp-value string/binary/map/list/null -> text/bytes/map/stream/empty,
amqp-sequence -> stream). Every message is encoded once from the core fields (cached per
message: message-annotations and the bare message); each delivery writes its own header
(delivery-count) in front of the cached bytes.
"""

from __future__ import annotations

import time
import uuid
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
    validate_path,
)
from ferrymq.protocols.amqp.message import (
    _ENCODE_MAP,
    BODY_DATA,
    BODY_NONE,
    BODY_SEQUENCE,
    BODY_VALUE,
    AmqpMessage,
    ApplicationProperties,
    Header,
    MessageAnnotations,
    Properties,
    _e_data,
    decode_message,
)
from ferrymq.protocols.amqp.types import (
    Byte,
    Int,
    Long,
    Short,
    Symbol,
    Timestamp,
    UByte,
    UInt,
    ULong,
    _compound,
    _encode,
)

#: encode_cache key: (message-annotations + bare message) bytes of a core message
CACHE_KEY = ("amqp", "rest")
#: encode_cache key: the whole payload for a first delivery (header with delivery-count 0)
CACHE_FIRST = ("amqp", "first")

PREFIXES = (
    ("queue://", QUEUE),
    ("topic://", TOPIC),
    ("temp-queue://", TEMP_QUEUE),
    ("temp-topic://", TEMP_TOPIC),
)
CAPABILITY_KINDS = {
    "queue": QUEUE,
    "topic": TOPIC,
    "temporary-queue": TEMP_QUEUE,
    "temporary-topic": TEMP_TOPIC,
}
KIND_CAPABILITY = {v: Symbol(k) for k, v in CAPABILITY_KINDS.items()}

#: ``Message.native`` tag of an amqp-value body that has no JMS type (kept for AMQP consumers)
NATIVE_VALUE = "amqp-value"

JMS_DEST = Symbol("x-opt-jms-dest")
JMS_REPLY_TO = Symbol("x-opt-jms-reply-to")
JMS_MSG_TYPE = Symbol("x-opt-jms-msg-type")
DELIVERY_TIME = Symbol("x-opt-delivery-time")
DELIVERY_DELAY = Symbol("x-opt-delivery-delay")
#: x-opt-jms-dest / x-opt-jms-reply-to values
DEST_TYPES = {QUEUE: 0, TOPIC: 1, TEMP_QUEUE: 2, TEMP_TOPIC: 3}
DEST_KINDS = {v: k for k, v in DEST_TYPES.items()}
#: x-opt-jms-msg-type values (qpid-jms): message, object, map, bytes, stream, text
MSG_TYPES = {0: EMPTY, 1: OBJECT, 2: MAP, 3: BYTES, 4: STREAM, 5: TEXT}

JMS_AMQP = "JMS_AMQP_"
MA_PREFIX = "JMS_AMQP_MA_"
CONTENT_ENCODING = "JMS_AMQP_ContentEncoding"
REPLY_TO_GROUP_ID = "JMS_AMQP_ReplyToGroupID"
FIRST_ACQUIRER = "JMS_AMQP_FirstAcquirer"
SERIALIZED_JAVA = Symbol("application/x-java-serialized-object")


# -- addresses --------------------------------------------------------------------------------
def name_to_core(
    address: Any, capabilities: list[Any] | None = None, default_kind: str | None = None
) -> DestinationName:
    """A terminus address (with its capabilities) to a core name; ActiveMQ's rules."""
    if not isinstance(address, str) or not address:
        raise InvalidRequest("the terminus has no address")
    kind = None
    path = address
    for prefix, k in PREFIXES:
        if address.startswith(prefix):
            kind, path = k, address[len(prefix) :]
            break
    if kind is None:
        kind = default_kind
        if capabilities:
            for cap in capabilities:
                k2 = CAPABILITY_KINDS.get(str(cap))
                if k2 is not None:
                    kind = k2
                    break
        if kind is None:
            kind = QUEUE
    why = validate_path(path)
    if why:
        raise InvalidRequest(why)
    return DestinationName(kind, path)


def name_from_core(dest: DestinationName) -> str:
    """The qualified name ActiveMQ puts in terminus addresses, ``to`` and ``reply-to``."""
    return f"{dest.kind}://{dest.path}"


# -- ids ----------------------------------------------------------------------------------------
def id_to_core(value: Any, message_id: bool) -> str | None:
    """An AMQP message-id/correlation-id (string, uuid, ulong, binary) as a JMS id string;
    the type survives in a prefix so the way back restores it (ActiveMQ's encoding)."""
    if value is None:
        return None
    if isinstance(value, str):
        if message_id and not value.startswith("ID:"):
            return "ID:AMQP_NO_PREFIX:" + value
        return str(value)
    if isinstance(value, uuid.UUID):
        return f"ID:AMQP_UUID:{value}"
    if isinstance(value, bytes):
        return "ID:AMQP_BINARY:" + value.hex().upper()
    if isinstance(value, int):
        return f"ID:AMQP_ULONG:{int(value)}"
    return str(value)


def id_from_core(text: str) -> Any:
    if not text.startswith("ID:AMQP_"):
        return text
    rest = text[8:]
    try:
        if rest.startswith("NO_PREFIX:"):
            return rest[10:]
        if rest.startswith("UUID:"):
            return uuid.UUID(rest[5:])
        if rest.startswith("ULONG:"):
            return ULong(int(rest[6:]))
        if rest.startswith("BINARY:"):
            return bytes.fromhex(rest[7:])
        if rest.startswith("STRING:"):
            return rest[7:]
    except ValueError:
        pass
    return text


# -- AMQP -> core -------------------------------------------------------------------------------
_SIGNED = (Byte, Short, Int, Long)


def _prop_value(v: Any) -> Any:
    """An application property as a JMS property value (plain Python types)."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        # JMS has byte/short/int/long: keep those AMQP types so AMQP consumers see them again
        return v if type(v) in _SIGNED else int(v)
    if isinstance(v, float):
        return v
    if isinstance(v, str):
        return str(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    return str(v)


def _body_value(v: Any) -> Any:
    """A map or list body item as a plain Python value (recursively)."""
    if isinstance(v, dict):
        return {str(k): _body_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_body_value(x) for x in v]
    return _prop_value(v)


def _reply_to(value: Any, kind_code: Any) -> DestinationName | None:
    if not isinstance(value, str) or not value:
        return None
    default = DEST_KINDS.get(int(kind_code)) if isinstance(kind_code, int) else None
    try:
        return name_to_core(value, None, default)
    except InvalidRequest:
        return None


def to_core(payload: bytes | memoryview, dest: DestinationName | None) -> Message:
    """A transfer payload as a core message. ``dest`` None is the anonymous relay: the
    message's ``to`` names the destination. Raises AmqpCodecError for bad bytes and
    InvalidRequest when the message has no usable destination."""
    data = bytes(payload)
    am = decode_message(data)
    props_out: dict[str, Any] = {}
    h = am.header
    p = am.properties
    ma = am.message_annotations
    now = int(time.time() * 1000) if ma or (h is not None and h.ttl) else 0
    persistent = False
    priority = 4
    expiration = 0
    ttl = None
    if h is not None:
        persistent = bool(h.durable)
        priority = min(int(h.priority), 9)
        if h.ttl:
            ttl = int(h.ttl)
            expiration = now + ttl
        if h.first_acquirer:
            props_out[FIRST_ACQUIRER] = True
    msg_type = None
    dest_code = reply_code = None
    if ma:
        for k, v in ma.items():
            key = str(k)
            if key == JMS_MSG_TYPE:
                msg_type = v
            elif key == JMS_DEST:
                dest_code = v
            elif key == JMS_REPLY_TO:
                reply_code = v
            elif key == DELIVERY_DELAY and isinstance(v, int) and v > 0:
                props_out["AMQ_SCHEDULED_DELAY"] = int(v)
            elif key == DELIVERY_TIME and isinstance(v, int):
                if v > now:
                    props_out["AMQ_SCHEDULED_DELAY"] = int(v) - now
            else:
                props_out[MA_PREFIX + key] = _prop_value(v)
    message_id = correlation_id = None
    reply_to = None
    mtype = content_type = group_id = user_id = None
    group_seq = 0
    timestamp = 0
    if p is not None:
        message_id = id_to_core(p.message_id, True)
        correlation_id = id_to_core(p.correlation_id, False)
        if p.user_id is not None:
            user_id = bytes(p.user_id).decode("utf-8", "replace")
        if dest is None:
            dest = _reply_to(p.to, dest_code)
        mtype = p.subject
        reply_to = _reply_to(p.reply_to, reply_code)
        if p.content_type is not None:
            content_type = str(p.content_type)
        if p.content_encoding is not None:
            props_out[CONTENT_ENCODING] = str(p.content_encoding)
        if p.absolute_expiry_time:
            expiration = int(p.absolute_expiry_time)
        if p.creation_time:
            timestamp = int(p.creation_time)
        group_id = p.group_id
        if p.group_sequence is not None:
            group_seq = int(p.group_sequence)
        if p.reply_to_group_id is not None:
            props_out[REPLY_TO_GROUP_ID] = p.reply_to_group_id
    if dest is None:
        raise InvalidRequest(
            "the message has no destination: the link is anonymous and the message sets no 'to'"
        )
    if am.application_properties:
        for k, v in am.application_properties.items():
            props_out[str(k)] = _prop_value(v)
    kind, body = _body_to_core(am, msg_type, content_type)
    native = None
    if kind == OBJECT and am.body_kind == BODY_VALUE and not isinstance(am.body, bytes | bytearray):
        native = (NATIVE_VALUE, am.body)
    m = Message(
        dest,
        body,
        kind,
        message_id=message_id,
        properties=props_out,
        persistent=persistent,
        priority=priority,
        expiration=expiration,
        timestamp=timestamp,
        correlation_id=correlation_id,
        reply_to=reply_to,
        type=mtype,
        group_id=group_id,
        group_seq=group_seq,
        content_type=content_type,
        user_id=user_id,
        origin="amqp",
        native=native,
    )
    return m


def _body_to_core(am: AmqpMessage, msg_type: Any, content_type: str | None) -> tuple[str, Any]:
    bk = am.body_kind
    body = am.body
    forced = MSG_TYPES.get(int(msg_type)) if isinstance(msg_type, int) else None
    if bk == BODY_DATA:
        data = body[0] if len(body) == 1 else b"".join(body)
        if forced == TEXT or (forced is None and content_type is not None and _is_text(content_type)):
            try:
                return TEXT, data.decode("utf-8")
            except UnicodeDecodeError:
                return BYTES, data
        if forced == OBJECT or content_type == SERIALIZED_JAVA:
            return OBJECT, data
        return BYTES, data
    if bk == BODY_VALUE:
        if body is None:
            return (TEXT, "") if forced == TEXT else (EMPTY, b"")
        if isinstance(body, str):
            return TEXT, str(body)
        if isinstance(body, bytes | bytearray):
            return (OBJECT if forced == OBJECT else BYTES), bytes(body)
        if isinstance(body, dict):
            return MAP, {str(k): _body_value(v) for k, v in body.items()}
        if isinstance(body, list):
            return STREAM, [_body_value(v) for v in body]
        # another AMQP type (a number, a uuid, a described value ...): an object message whose
        # AMQP value goes back out as it came (``native``); other protocols see its text
        return OBJECT, str(body).encode("utf-8")
    if bk == BODY_SEQUENCE:
        items: list[Any] = []
        for seq in body:
            items.extend(_body_value(v) for v in seq)
        return STREAM, items
    assert bk == BODY_NONE
    return EMPTY, b""


def _is_text(content_type: str) -> bool:
    ct = content_type.lower()
    return (
        ct.startswith("text/")
        or "charset=" in ct
        or ct in ("application/json", "application/xml", "application/javascript", "application/ecmascript")
    )


# -- core -> AMQP -------------------------------------------------------------------------------
def _amqp_prop(v: Any) -> Any:
    if isinstance(v, DestinationName):
        return name_from_core(v)
    if v is None or isinstance(v, bool | int | float | str | bytes):
        return v
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    return str(v)


def _amqp_body_value(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _amqp_body_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_amqp_body_value(x) for x in v]
    return _amqp_prop(v)


#: the properties section's field encoders (every field defaults to null)
_PROPS_ENC = Properties.SPEC.encoders
_PROPS_HEAD = b"\x00\x53\x73"
#: encoded message-annotations that hold only x-opt-jms-dest, by its value
_MA_DEST_ONLY: dict[int, bytes] = {}


def _encode_ma(ma: dict[Any, Any], out: bytearray) -> None:
    if len(ma) == 1:
        code = ma.get(JMS_DEST)
        if type(code) is Byte:
            hit = _MA_DEST_ONLY.get(code)
            if hit is None:
                buf = bytearray()
                _ENCODE_MAP[MessageAnnotations](ma, buf)
                hit = _MA_DEST_ONLY[code] = bytes(buf)
            out += hit
            return
    _ENCODE_MAP[MessageAnnotations](ma, out)


def _encode_properties(values: list[Any], out: bytearray) -> None:
    """The properties section from its 13 field values, as ``Properties.encode`` writes it:
    null for None, trailing nulls trimmed (every field's default is null)."""
    count = len(values)
    while count and values[count - 1] is None:
        count -= 1
    out += _PROPS_HEAD
    if not count:
        out.append(0x45)
        return
    content = bytearray()
    enc = _PROPS_ENC
    for i in range(count):
        v = values[i]
        if v is None:
            content.append(0x40)
        else:
            enc[i](v, content)
    _compound(out, count, content, 0xC0, 0xD0)


def encode_rest(msg: Message) -> bytes:
    """Message annotations and the bare message for ``msg`` (cached per message)."""
    ma: dict[Any, Any] = {JMS_DEST: Byte(DEST_TYPES[msg.destination.kind])}
    # properties fields: message-id, user-id, to, subject, reply-to, correlation-id,
    # content-type, content-encoding, absolute-expiry-time, creation-time, group-id,
    # group-sequence, reply-to-group-id
    pv: list[Any] = [
        id_from_core(msg.message_id),
        msg.user_id.encode("utf-8") if msg.user_id is not None else None,
        name_from_core(msg.destination),
        msg.type,
        None,
        id_from_core(msg.correlation_id) if msg.correlation_id is not None else None,
        Symbol(msg.content_type) if msg.content_type is not None else None,
        None,
        Timestamp(msg.expiration) if msg.expiration else None,
        Timestamp(msg.timestamp) if msg.timestamp else None,
        msg.group_id,
        UInt(msg.group_seq) if msg.group_seq > 0 else None,
        None,
    ]
    if msg.reply_to is not None:
        pv[4] = name_from_core(msg.reply_to)
        ma[JMS_REPLY_TO] = Byte(DEST_TYPES[msg.reply_to.kind])
    app: dict[str, Any] = {}
    if msg.properties:
        for k, v in msg.properties.items():
            if k.startswith(JMS_AMQP):
                if k.startswith(MA_PREFIX):
                    ma[Symbol(k[len(MA_PREFIX) :])] = _amqp_prop(v)
                elif k == CONTENT_ENCODING:
                    pv[7] = Symbol(str(v))
                elif k == REPLY_TO_GROUP_ID:
                    pv[12] = str(v)
                continue
            if k.startswith("AMQ_SCHEDULED_"):
                continue
            app[k] = _amqp_prop(v)
    kind = msg.body_kind
    b = msg.body
    buf = bytearray()
    body: Any
    if kind == BYTES:
        body_kind, body = BODY_DATA, [bytes(b) if b is not None else b""]
    elif kind == TEXT:
        body_kind, body = BODY_VALUE, b if isinstance(b, str) else msg.text()
    elif kind == MAP:
        body_kind, body = BODY_VALUE, _amqp_body_value(b or {})
    elif kind == STREAM:
        body_kind, body = BODY_VALUE, _amqp_body_value(list(b or []))
    elif kind == OBJECT and isinstance(msg.native, tuple) and msg.native[0] == NATIVE_VALUE:
        body_kind, body = BODY_VALUE, msg.native[1]
    elif kind == OBJECT:
        body_kind = BODY_DATA
        body = [bytes(b) if isinstance(b, bytes | bytearray) else str(b).encode("utf-8")]
        if pv[6] is None:
            pv[6] = SERIALIZED_JAVA
    else:
        body_kind, body = BODY_NONE, None
    _encode_ma(ma, buf)
    _encode_properties(pv, buf)
    if app:
        _ENCODE_MAP[ApplicationProperties](app, buf)
    if body_kind == BODY_DATA:
        for chunk in body:
            _e_data(chunk, buf)
    elif body_kind == BODY_VALUE:
        buf += b"\x00\x53\x77"
        _encode(body, buf)
    return bytes(buf)


def _rest_and_ttl(msg: Message) -> tuple[bytes, int | None]:
    cache = msg.encode_cache
    hit = cache.get(CACHE_KEY)
    if hit is None:
        ttl = None
        if msg.expiration:
            # the header's ttl is a uint of milliseconds; absolute-expiry-time carries the rest
            ttl = min(max(msg.expiration - int(time.time() * 1000), 1), 0xFFFFFFFF)
        hit = (encode_rest(msg), ttl)
        cache[CACHE_KEY] = hit
    return hit  # type: ignore[no-any-return]


#: encoded header sections without a ttl, by (durable, priority, delivery count)
_HEADERS: dict[tuple[bool, int, int], bytes] = {}


def _header(msg: Message, ttl: int | None, delivery_count: int) -> bytes:
    if not ttl:
        key = (bool(msg.persistent), msg.priority, delivery_count)
        hit = _HEADERS.get(key)
        if hit is None:
            hit = _encode_header(msg, None, delivery_count)
            if len(_HEADERS) < 4096:
                _HEADERS[key] = hit
        return hit
    return _encode_header(msg, ttl, delivery_count)


def _encode_header(msg: Message, ttl: int | None, delivery_count: int) -> bytes:
    h = Header(
        durable=msg.persistent,
        priority=UByte(msg.priority) if msg.priority != 4 else None,
        ttl=UInt(ttl) if ttl else None,
        delivery_count=UInt(delivery_count) if delivery_count else None,
    )
    out = bytearray()
    h.encode(out)
    return bytes(out)


def encode_delivery(msg: Message, delivery_count: int) -> bytes:
    """The transfer payload for one delivery: a header with this delivery's count in front
    of the cached annotations and bare message."""
    if delivery_count == 0:
        first = msg.encode_cache.get(CACHE_FIRST)
        if first is None:
            rest, ttl = _rest_and_ttl(msg)
            first = msg.encode_cache[CACHE_FIRST] = _header(msg, ttl, 0) + rest
        return first  # type: ignore[no-any-return]
    rest, ttl = _rest_and_ttl(msg)
    return _header(msg, ttl, delivery_count) + rest
