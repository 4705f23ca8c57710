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

import struct
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
    quick_message,
    validate_path,
)
from ferrymq.protocols.amqp.message import (
    _ENCODE_MAP,
    BODY_DATA,
    BODY_NONE,
    BODY_SEQUENCE,
    BODY_VALUE,
    AmqpValue,
    ApplicationProperties,
    Header,
    MessageAnnotations,
    Properties,
    _e_data,
    decode_message,
)
from ferrymq.protocols.amqp.types import (
    _LOW_LEVEL_ERRORS,
    AmqpCodecError,
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
    _e_binary,
    _e_string,
    _e_symbol,
    _e_uint,
    _encode,
    decode_value,
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


#: decoded header sections and message annotations by their bytes (producers repeat them);
#: the cached values are shared and only read
_HEADER_CACHE: dict[bytes, Header] = {}
_MA_CACHE: dict[bytes, Any] = {}
_CACHE_MAX = 512
_u32_at = struct.Struct(">I").unpack_from


def _section_end(data: bytes, pos: int) -> int:
    """End of the described section at ``pos`` (smallulong descriptor) whose value is a
    list0, list8/map8 or list32/map32; -1 for any other constructor."""
    c = data[pos + 3]
    if c == 0xC0 or c == 0xC1:
        return pos + 5 + data[pos + 4]
    if c == 0x45:
        return pos + 4
    if c == 0xD0 or c == 0xD1:
        return pos + 8 + _u32_at(data, pos + 4)[0]
    return -1


def _cached_section(data: bytes, pos: int, cache: dict[bytes, Any], kind: type) -> tuple[Any, int]:
    stop = _section_end(data, pos)
    if stop < 0 or stop > len(data):
        return None, -1
    key = data[pos:stop]
    hit = cache.get(key)
    if hit is None:
        hit, p = decode_value(data, pos)
        if p != stop or type(hit) is not kind:
            return None, -1
        if len(key) <= 256 and len(cache) < _CACHE_MAX:
            cache[key] = hit
    return hit, stop


#: (header, message-annotations, properties, application-properties, body kind, body)
Sections = tuple[Any, Any, Any, Any, str, Any]


def _decode_fast(data: bytes) -> tuple[Any, Any, Any, Any, str, Any, int] | None:
    """The sections ``to_core`` reads, for the common shapes: header, message-annotations,
    properties, application-properties, one data/value body (data in one or more
    sections), each under a smallulong descriptor, no delivery-annotations or footer.
    Repeated header and annotation sections (producers repeat them) are decoded once.
    None for anything else: the generic decoder then decodes it or raises. An empty
    properties section reads as none (its fields are all null either way). The seventh item
    is where the body starts."""
    end = len(data)
    header = ma = props = app = body = None
    kind = BODY_NONE
    pos = 0
    try:
        # ``code``: the smallulong descriptor of the section at ``pos``, -1 when none
        code = data[2] if end > 3 and data[0] == 0 and data[1] == 0x53 else -1
        if code == 0x70:
            header, pos = _cached_section(data, 0, _HEADER_CACHE, Header)
            if pos < 0:
                return None
            code = data[pos + 2] if pos + 3 < end and data[pos] == 0 and data[pos + 1] == 0x53 else -1
        if code == 0x72:
            ma, pos = _cached_section(data, pos, _MA_CACHE, MessageAnnotations)
            if pos < 0:
                return None
            code = data[pos + 2] if pos + 3 < end and data[pos] == 0 and data[pos + 1] == 0x53 else -1
        if code == 0x73:
            if data[pos + 3] == 0x45:
                pos += 4
            else:
                props, pos = decode_value(data, pos)
                if type(props) is not Properties:
                    return None
            code = data[pos + 2] if pos + 3 < end and data[pos] == 0 and data[pos + 1] == 0x53 else -1
        if code == 0x74:
            app, pos = decode_value(data, pos)
            if type(app) is not ApplicationProperties:
                return None
            code = data[pos + 2] if pos + 3 < end and data[pos] == 0 and data[pos + 1] == 0x53 else -1
        body_at = pos
        if code == 0x75:
            chunks = []
            while code == 0x75:
                c = data[pos + 3]
                if c == 0xA0:
                    start = pos + 5
                    stop = start + data[pos + 4]
                elif c == 0xB0:
                    start = pos + 8
                    stop = start + _u32_at(data, pos + 4)[0]
                else:
                    return None
                if stop > end:
                    return None
                chunks.append(data[start:stop])
                pos = stop
                code = data[pos + 2] if pos + 3 < end and data[pos] == 0 and data[pos + 1] == 0x53 else -1
            kind = BODY_DATA
            body = chunks
        elif code == 0x77:
            value, pos = decode_value(data, pos)
            if type(value) is not AmqpValue:
                return None
            kind = BODY_VALUE
            body = value.value
        if pos != end:
            return None  # a sequence body, a footer, another section or bad bytes
    except (AmqpCodecError, *_LOW_LEVEL_ERRORS):
        return None
    return header, ma, props, app, kind, body, body_at


def decode_sections(data: bytes, memo: list[Any] | None = None) -> Sections:
    """The sections of a transfer payload (fast path first); raises AmqpCodecError.

    ``memo`` (a two-item list a link keeps) remembers the bytes in front of a single data
    section when they hold no properties section (nothing that differs per message), with
    what they decoded to; a payload that starts with the same bytes and ends with one data
    section then decodes without scanning them again."""
    if memo is not None:
        prefix = memo[0]
        if prefix is not None and data.startswith(prefix):
            pos = len(prefix)
            end = len(data)
            if pos + 5 <= end and data[pos] == 0 and data[pos + 1] == 0x53 and data[pos + 2] == 0x75:
                c = data[pos + 3]
                if c == 0xA0:
                    start = pos + 5
                    stop = start + data[pos + 4]
                elif c == 0xB0 and pos + 8 <= end:
                    start = pos + 8
                    stop = start + _u32_at(data, pos + 4)[0]
                else:
                    stop = -1
                if stop == end:
                    h, ma, app = memo[1]
                    return h, ma, None, app, BODY_DATA, [data[start:]]
    fast = _decode_fast(data)
    if fast is not None:
        h, ma, props, app, kind, body, body_at = fast
        if memo is not None and props is None and kind == BODY_DATA and len(body) == 1 and body_at <= 256:
            memo[0] = data[:body_at]
            memo[1] = (h, ma, app)
        return h, ma, props, app, kind, body
    am = decode_message(data)
    return (
        am.header,
        am.message_annotations,
        am.properties,
        am.application_properties,
        am.body_kind,
        am.body,
    )


def to_core(
    payload: bytes | memoryview, dest: DestinationName | None, memo: list[Any] | None = None
) -> Message:
    """A transfer payload as a core message. ``dest`` None is the anonymous relay: the
    message's ``to`` names the destination. Raises AmqpCodecError for bad bytes and
    InvalidRequest when the message has no usable destination. ``memo``: see
    ``decode_sections``."""
    h, ma, p, app, bk, body = decode_sections(bytes(payload), memo)
    persistent = False
    priority = 4
    expiration = 0
    props_out: dict[str, Any] = {}
    if h is not None:
        persistent = bool(h.durable)
        priority = min(int(h.priority), 9)
        if h.ttl:
            expiration = int(time.time() * 1000) + int(h.ttl)
        if h.first_acquirer:
            props_out[FIRST_ACQUIRER] = True
    if ma is None and p is None and not app and bk == BODY_DATA and dest is not None:
        # the plain bytes message (no annotations, properties or application properties)
        data = body[0] if len(body) == 1 else b"".join(body)
        m = quick_message(dest, data, BYTES, props_out, persistent, "amqp", len(data))
        m.priority = priority
        m.expiration = expiration
        return m
    now = int(time.time() * 1000) if ma else 0
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
    if app:
        for k, v in app.items():
            props_out[str(k)] = _prop_value(v)
    kind, core_body = _body_to_core(bk, body, msg_type, content_type)
    native = None
    if kind == OBJECT and bk == BODY_VALUE and not isinstance(body, bytes | bytearray):
        native = (NATIVE_VALUE, body)
    m = Message(
        dest,
        core_body,
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


def _body_to_core(bk: str, body: Any, msg_type: Any, content_type: str | None) -> tuple[str, Any]:
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


def encode_rest_generic(msg: Message) -> bytes:
    """``encode_rest`` through the generic section encoders (the reference its fast path
    must match byte for byte)."""
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


_pc_u8 = struct.Struct(">BB").pack
_pc_u32 = struct.Struct(">BI").pack
_pc_i64 = struct.Struct(">Bq").pack
_pc_list8 = struct.Struct(">BBB").pack
_pc_list32 = struct.Struct(">BII").pack
_NULLS = [b"\x40" * i for i in range(13)]
#: encoded ``to`` (a string) by destination
_TO_CACHE: dict[DestinationName, bytes] = {}


#: per destination, for the plain message: (message-annotations + properties descriptor,
#: the properties fields between message-id and creation-time, their size + 9)
_PLAIN_PARTS: dict[DestinationName, tuple[bytes, bytes, int]] = {}
_pc_i64_raw = struct.Struct(">q").pack
#: a data section's head: descriptor 0x00 0x53 0x75, then vbin8 or vbin32
_data8 = struct.Struct(">xBBBB").pack
_data32 = struct.Struct(">xBBBI").pack


def _plain_parts(dest: DestinationName) -> tuple[bytes, bytes, int]:
    head = bytearray()
    _encode_ma({JMS_DEST: Byte(DEST_TYPES[dest.kind])}, head)
    head += _PROPS_HEAD
    mid = bytearray(b"\x40")  # user-id
    _encode(name_from_core(dest), mid)
    mid += b"\x40" * 6  # subject .. absolute-expiry-time
    mid.append(0x83)  # creation-time's constructor
    parts = (bytes(head), bytes(mid), len(mid) + 8)
    if len(_PLAIN_PARTS) < 4096:
        _PLAIN_PARTS[dest] = parts
    return parts


def _str_into(v: str, out: bytearray) -> None:
    raw = v.encode("utf-8")
    n = len(raw)
    out += _pc_u8(0xA1, n) if n < 256 else _pc_u32(0xB1, n)
    out += raw


def encode_rest(msg: Message, head: bytes = b"") -> bytes:
    """Message annotations and the bare message for ``msg`` (cached per message) after
    ``head`` (a header section): the bytes ``encode_rest_generic`` writes, with the
    properties section and a bytes or text body written directly and the common annotation
    and ``to`` encodings reused."""
    dest = msg.destination
    reply_to = msg.reply_to
    props = msg.properties
    kind = msg.body_kind
    if props or reply_to is not None or (kind != BYTES and kind != TEXT):
        return head + encode_rest_generic(msg)
    b = msg.body
    if kind == TEXT and type(b) is not str:
        return head + encode_rest_generic(msg)
    mid = msg.message_id
    if (
        kind == BYTES
        and type(b) is bytes
        and type(mid) is str
        and msg.timestamp
        and msg.user_id is None
        and msg.type is None
        and msg.correlation_id is None
        and msg.content_type is None
        and not msg.expiration
        and msg.group_id is None
        and msg.group_seq <= 0
        and not mid.startswith("ID:AMQP_")
    ):
        # the plain message: message-id, to and creation-time around the destination's parts
        parts = _PLAIN_PARTS.get(dest)
        if parts is None:
            parts = _plain_parts(dest)
        raw = mid.encode("utf-8")
        n = len(raw)
        size = n + parts[2] + (2 if n < 256 else 5)
        nb = len(b)
        return b"".join(
            (
                head,
                parts[0],
                _pc_list8(0xC0, size + 1, 10) if size < 255 else _pc_list32(0xD0, size + 4, 10),
                _pc_u8(0xA1, n) if n < 256 else _pc_u32(0xB1, n),
                raw,
                parts[1],
                _pc_i64_raw(msg.timestamp),
                _data8(0x53, 0x75, 0xA0, nb) if nb < 256 else _data32(0x53, 0x75, 0xB0, nb),
                b,
            )
        )
    out = bytearray(head)
    _encode_ma({JMS_DEST: Byte(DEST_TYPES[dest.kind])}, out)
    # the properties list: fields in order, null for None, trailing nulls trimmed
    c = bytearray()
    if type(mid) is str and not mid.startswith("ID:AMQP_"):
        _str_into(mid, c)
    else:
        _encode(id_from_core(mid), c)
    if msg.user_id is not None:
        _e_binary(msg.user_id.encode("utf-8"), c)
    else:
        c.append(0x40)
    to = _TO_CACHE.get(dest)
    if to is None:
        buf = bytearray()
        _encode(name_from_core(dest), buf)
        to = bytes(buf)
        if len(_TO_CACHE) < 4096:
            _TO_CACHE[dest] = to
    c += to
    # n: fields written (nulls included); count and used: fields and bytes up to the last
    # non-null one (the nulls after it are trimmed)
    n = count = 3
    used = len(c)
    if msg.type is not None:
        _e_string(msg.type, c)
        n = count = 4
        used = len(c)
    cid = msg.correlation_id
    if cid is not None:
        c += _NULLS[5 - n]
        _encode(id_from_core(cid), c)
        n = count = 6
        used = len(c)
    ctype = msg.content_type
    if ctype is not None:
        c += _NULLS[6 - n]
        _e_symbol(Symbol(ctype), c)
        n = count = 7
        used = len(c)
    if msg.expiration:
        c += _NULLS[8 - n]
        c += _pc_i64(0x83, msg.expiration)
        n = count = 9
        used = len(c)
    if msg.timestamp:
        c += _NULLS[9 - n]
        c += _pc_i64(0x83, msg.timestamp)
        n = count = 10
        used = len(c)
    gid = msg.group_id
    if gid is not None:
        c += _NULLS[10 - n]
        _e_string(gid, c)
        n = count = 11
        used = len(c)
    if msg.group_seq > 0:
        c += _NULLS[11 - n]
        _e_uint(msg.group_seq, c)
        count = 12
        used = len(c)
    del c[used:]
    out += _PROPS_HEAD
    size = used
    if size < 255 and count < 256:
        out += _pc_list8(0xC0, size + 1, count)
    else:
        out += _pc_list32(0xD0, size + 4, count)
    out += c
    if kind == BYTES:
        body = bytes(b) if b is not None else b""
        n = len(body)
        out += b"\x00\x53\x75"
        out += _pc_u8(0xA0, n) if n < 256 else _pc_u32(0xB0, n)
        out += body
    else:
        out += b"\x00\x53\x77"
        _str_into(b, out)
    return bytes(out)


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
        cache = msg.encode_cache
        first = cache.get(CACHE_FIRST)
        if first is None:
            if msg.expiration:
                rest, ttl = _rest_and_ttl(msg)
                first = _header(msg, ttl, 0) + rest
            else:
                # no ttl: the header depends on nothing that changes; a redelivery encodes
                # the rest again (the same bytes)
                first = encode_rest(msg, _header(msg, None, 0))
            cache[CACHE_FIRST] = first
        return first  # type: ignore[no-any-return]
    rest, ttl = _rest_and_ttl(msg)
    return _header(msg, ttl, delivery_count) + rest
