"""AMQP 1.0 message format (part 3.2): the sections of a transfer's payload.

A message is a sequence of described sections in this order::

    header? delivery-annotations? message-annotations?      <- annotations, per hop
    properties? application-properties? body footer?        <- the bare message (+ footer)

where the body is one or more ``data``, one or more ``amqp-sequence`` or one ``amqp-value``.
``Header`` and ``Properties`` are table-driven composites; the map sections are ``dict``
subclasses, ``Data`` is ``bytes``, ``AmqpSequence`` is ``list`` and ``AmqpValue`` wraps any
value, so every section also decodes from :func:`decode_value` as its own class.

:func:`split_bare_message` cuts a payload where the bare message starts without decoding it,
so the broker can send a new header (delivery count, first-acquirer) per delivery followed by
the unchanged bare-message bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ferrymq.protocols.amqp.performatives import Composite, build_table
from ferrymq.protocols.amqp.types import (
    _DESCRIBED_SMALL,
    _LOW_LEVEL_ERRORS,
    AmqpCodecError,
    Buffer,
    Symbol,
    ULong,
    _decode,
    _e_binary,
    _e_list,
    _e_map,
    _encode,
    decode_value,
    register_described,
    register_encoder,
    skip_value,
)

__all__ = [
    "BODY_DATA",
    "BODY_NONE",
    "BODY_SEQUENCE",
    "BODY_VALUE",
    "MESSAGE_TABLE",
    "AmqpMessage",
    "AmqpSequence",
    "AmqpValue",
    "ApplicationProperties",
    "Data",
    "DeliveryAnnotations",
    "Footer",
    "Header",
    "MessageAnnotations",
    "Properties",
    "decode_message",
    "encode_header",
    "encode_message",
    "section_offsets",
    "split_bare_message",
]

BODY_DATA = "data"
BODY_SEQUENCE = "sequence"
BODY_VALUE = "value"
BODY_NONE = "none"

HEADER = 0x70
DELIVERY_ANNOTATIONS = 0x71
MESSAGE_ANNOTATIONS = 0x72
PROPERTIES = 0x73
APPLICATION_PROPERTIES = 0x74
DATA = 0x75
AMQP_SEQUENCE = 0x76
AMQP_VALUE = 0x77
FOOTER = 0x78

MESSAGE_TABLE = build_table(
    [
        ("Header", HEADER, "amqp:header:list", [
            ("durable", "boolean", False, ""),
            ("priority", "ubyte", 4, ""),
            ("ttl", "uint", None, ""),
            ("first-acquirer", "boolean", False, ""),
            ("delivery-count", "uint", 0, ""),
        ]),
        ("Properties", PROPERTIES, "amqp:properties:list", [
            ("message-id", "*", None, ""),
            ("user-id", "binary", None, ""),
            ("to", "*", None, ""),
            ("subject", "string", None, ""),
            ("reply-to", "*", None, ""),
            ("correlation-id", "*", None, ""),
            ("content-type", "symbol", None, ""),
            ("content-encoding", "symbol", None, ""),
            ("absolute-expiry-time", "timestamp", None, ""),
            ("creation-time", "timestamp", None, ""),
            ("group-id", "string", None, ""),
            ("group-sequence", "uint", None, ""),
            ("reply-to-group-id", "string", None, ""),
        ]),
    ]
)  # fmt: skip


class Header(Composite):
    SPEC = MESSAGE_TABLE["Header"]
    __slots__ = SPEC.slots


class Properties(Composite):
    SPEC = MESSAGE_TABLE["Properties"]
    __slots__ = SPEC.slots


class _MapSection(dict[Any, Any]):
    CODE = 0
    SYMBOL = ""
    SYMBOL_KEYS = True  # annotations are keyed by symbols (str keys are converted)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


class DeliveryAnnotations(_MapSection):
    CODE = DELIVERY_ANNOTATIONS
    SYMBOL = "amqp:delivery-annotations:map"


class MessageAnnotations(_MapSection):
    CODE = MESSAGE_ANNOTATIONS
    SYMBOL = "amqp:message-annotations:map"


class ApplicationProperties(_MapSection):
    CODE = APPLICATION_PROPERTIES
    SYMBOL = "amqp:application-properties:map"
    SYMBOL_KEYS = False  # keyed by strings


class Footer(_MapSection):
    CODE = FOOTER
    SYMBOL = "amqp:footer:map"


class Data(bytes):
    """One data body section."""

    def __repr__(self) -> str:
        return f"Data({bytes(self)!r})"


class AmqpSequence(list[Any]):
    """One amqp-sequence body section."""

    def __repr__(self) -> str:
        return f"AmqpSequence({list.__repr__(self)})"


class AmqpValue:
    """The amqp-value body section."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AmqpValue) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AmqpValue({self.value!r})"


def _map_converter(cls: type[_MapSection]) -> Any:
    def convert(value: Any) -> _MapSection:
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise AmqpCodecError(f"{cls.SYMBOL} must be a map")
        return cls(value)

    return convert


def _map_encoder(cls: type[_MapSection]) -> Any:
    head = bytes((0x00, 0x53, cls.CODE))
    symbol_keys = cls.SYMBOL_KEYS

    def encode(v: dict[Any, Any], out: bytearray) -> None:
        out += head
        if symbol_keys:
            _e_map({Symbol(k) if type(k) is str else k: x for k, x in v.items()}, out)
        else:
            _e_map(v, out)

    return encode


for _cls in (DeliveryAnnotations, MessageAnnotations, ApplicationProperties, Footer):
    register_described((ULong(_cls.CODE), Symbol(_cls.SYMBOL)), _map_converter(_cls))
    register_encoder(_cls, _map_encoder(_cls))


def _to_data(value: Any) -> Data:
    if not isinstance(value, bytes):
        raise AmqpCodecError("amqp:data:binary must hold binary")
    return Data(value)


def _to_sequence(value: Any) -> AmqpSequence:
    if not isinstance(value, list):
        raise AmqpCodecError("amqp:amqp-sequence:list must hold a list")
    return AmqpSequence(value)


def _e_data(v: Any, out: bytearray) -> None:
    out += b"\x00\x53\x75"
    _e_binary(v, out)


def _e_sequence(v: Any, out: bytearray) -> None:
    out += b"\x00\x53\x76"
    _e_list(v, out)


def _e_value(v: AmqpValue, out: bytearray) -> None:
    out += b"\x00\x53\x77"
    _encode(v.value, out)


register_described((ULong(DATA), Symbol("amqp:data:binary")), _to_data)
register_described((ULong(AMQP_SEQUENCE), Symbol("amqp:amqp-sequence:list")), _to_sequence)
register_described((ULong(AMQP_VALUE), Symbol("amqp:value:*")), AmqpValue)
register_encoder(Data, _e_data)
register_encoder(AmqpSequence, _e_sequence)
register_encoder(AmqpValue, _e_value)


@dataclass(slots=True)
class AmqpMessage:
    """A decoded message. ``body`` is a list of ``bytes`` (data), a list of lists
    (sequence), the value itself (value), or None (no body section)."""

    header: Header | None = None
    delivery_annotations: dict[Any, Any] | None = None
    message_annotations: dict[Any, Any] | None = None
    properties: Properties | None = None
    application_properties: dict[Any, Any] | None = None
    body_kind: str = BODY_NONE
    body: Any = None
    footer: dict[Any, Any] | None = None

    def encode(self, out: bytearray | None = None) -> bytes:
        return encode_message(self, out)


# section order ranks: each section must come after the previous one's rank
_RANK = {
    Header: 0,
    DeliveryAnnotations: 1,
    MessageAnnotations: 2,
    Properties: 3,
    ApplicationProperties: 4,
    Data: 5,
    AmqpSequence: 5,
    AmqpValue: 5,
    Footer: 6,
}


_u32 = struct.Struct(">I").unpack_from
_HEADER_FROM = Header._decode_fields
_PROPERTIES_FROM = Properties._decode_fields


def decode_message(payload: Buffer) -> AmqpMessage:
    """Decode every section of a (complete) transfer payload."""
    try:
        return _decode_message(payload)
    except AmqpCodecError:
        raise
    except _LOW_LEVEL_ERRORS as exc:
        raise AmqpCodecError(f"malformed AMQP value: {type(exc).__name__}: {exc}") from None


def _decode_message(payload: Buffer) -> AmqpMessage:
    msg = AmqpMessage()
    end = len(payload)
    pos = 0
    rank = -1
    body: list[Any] | None = None
    small = _DESCRIBED_SMALL
    section: Any
    while pos < end:
        if payload[pos] != 0x00:
            raise AmqpCodecError("message section is not a described type")
        kind: Any = None
        if pos + 3 < end and payload[pos + 1] == 0x53:
            # smallulong descriptor: the common sections without the generic decoder
            code = payload[pos + 2]
            ctor = payload[pos + 3]
            if code == DATA and ctor in (0xA0, 0xB0):
                if ctor == 0xB0:
                    start = pos + 8
                    stop = start + _u32(payload, pos + 4)[0]
                else:
                    start = pos + 5
                    stop = start + payload[pos + 4]
                if stop > end:
                    raise AmqpCodecError("truncated variable-width value")
                kind = Data
                section = payload[start:stop]
                pos = stop
            elif ctor == 0x45 and code in (HEADER, PROPERTIES):
                section = _HEADER_FROM([]) if code == HEADER else _PROPERTIES_FROM([])
                kind = type(section)
                pos += 4
            else:
                conv = small[code]
                if conv is not None:
                    value, pos = _decode(payload, pos + 3)
                    section = conv(value)
                    kind = type(section)
        if kind is None:
            section, pos = decode_value(payload, pos)
            kind = type(section)
        r = _RANK.get(kind)
        if r is None:
            raise AmqpCodecError(f"unknown message section {section!r:.60}")
        if r < rank or (r == rank and r != 5):
            raise AmqpCodecError(f"message section {kind.__name__} out of order")
        rank = r
        if r == 5:
            if kind is Data:
                if body is None:
                    msg.body_kind = BODY_DATA
                    body = msg.body = []
                elif msg.body_kind != BODY_DATA:
                    raise AmqpCodecError("data section mixed with another body kind")
                body.append(bytes(section))
            elif kind is AmqpSequence:
                if body is None:
                    msg.body_kind = BODY_SEQUENCE
                    body = msg.body = []
                elif msg.body_kind != BODY_SEQUENCE:
                    raise AmqpCodecError("amqp-sequence section mixed with another body kind")
                body.append(list(section))
            else:
                if body is not None:
                    raise AmqpCodecError("more than one body section with an amqp-value")
                body = []
                msg.body_kind = BODY_VALUE
                msg.body = section.value
        elif r == 0:
            msg.header = section
        elif r == 1:
            msg.delivery_annotations = section
        elif r == 2:
            msg.message_annotations = section
        elif r == 3:
            msg.properties = section
        elif r == 4:
            msg.application_properties = section
        else:
            msg.footer = section
    return msg


def encode_message(msg: AmqpMessage, out: bytearray | None = None) -> bytes:
    """Encode ``msg``'s sections; append them to ``out`` when given. Returns the bytes written."""
    buf = bytearray() if out is None else out
    start = len(buf)
    if msg.header is not None:
        msg.header.encode(buf)
    if msg.delivery_annotations is not None:
        _ENCODE_MAP[DeliveryAnnotations](msg.delivery_annotations, buf)
    if msg.message_annotations is not None:
        _ENCODE_MAP[MessageAnnotations](msg.message_annotations, buf)
    if msg.properties is not None:
        msg.properties.encode(buf)
    if msg.application_properties is not None:
        _ENCODE_MAP[ApplicationProperties](msg.application_properties, buf)
    kind = msg.body_kind
    if kind == BODY_DATA:
        for chunk in msg.body:
            _e_data(chunk, buf)
    elif kind == BODY_SEQUENCE:
        for seq in msg.body:
            _e_sequence(seq, buf)
    elif kind == BODY_VALUE:
        buf += b"\x00\x53\x77"
        _encode(msg.body, buf)
    elif kind != BODY_NONE:
        raise ValueError(f"unknown body kind {kind!r}")
    if msg.footer is not None:
        _ENCODE_MAP[Footer](msg.footer, buf)
    return bytes(buf[start:])


_ENCODE_MAP = {
    cls: _map_encoder(cls) for cls in (DeliveryAnnotations, MessageAnnotations, ApplicationProperties, Footer)
}

_SECTION_CODES: dict[str, int] = {
    Symbol("amqp:header:list"): HEADER,
    Symbol(DeliveryAnnotations.SYMBOL): DELIVERY_ANNOTATIONS,
    Symbol(MessageAnnotations.SYMBOL): MESSAGE_ANNOTATIONS,
    Symbol("amqp:properties:list"): PROPERTIES,
    Symbol(ApplicationProperties.SYMBOL): APPLICATION_PROPERTIES,
    Symbol("amqp:data:binary"): DATA,
    Symbol("amqp:amqp-sequence:list"): AMQP_SEQUENCE,
    Symbol("amqp:value:*"): AMQP_VALUE,
    Symbol(Footer.SYMBOL): FOOTER,
}


def _section_code(payload: Buffer, pos: int, end: int) -> int:
    if payload[pos] != 0x00:
        raise AmqpCodecError("message section is not a described type")
    if pos + 2 < end and payload[pos + 1] == 0x53:
        return payload[pos + 2]
    descriptor, _ = decode_value(payload, pos + 1)
    if isinstance(descriptor, str):
        return _SECTION_CODES.get(descriptor, -1)
    if isinstance(descriptor, int) and not isinstance(descriptor, bool):
        return int(descriptor)
    raise AmqpCodecError("message section descriptor is neither ulong nor symbol")


def section_offsets(payload: Buffer) -> list[tuple[int, int, int]]:
    """``(section code, start, end)`` for every section, found without decoding values."""
    result = []
    end = len(payload)
    pos = 0
    while pos < end:
        code = _section_code(payload, pos, end)
        if not HEADER <= code <= FOOTER:
            raise AmqpCodecError(f"unknown message section descriptor {code}")
        nxt = skip_value(payload, pos)
        result.append((code, pos, nxt))
        pos = nxt
    return result


def split_bare_message(payload: Buffer) -> tuple[Buffer, Buffer]:
    """``(annotations, bare)``: the header/delivery-annotations/message-annotations prefix and
    the rest (properties, application-properties, body and footer), as slices of ``payload``."""
    end = len(payload)
    pos = 0
    while pos < end:
        code = _section_code(payload, pos, end)
        if code > MESSAGE_ANNOTATIONS or code < HEADER:
            break
        pos = skip_value(payload, pos)
    return payload[:pos], payload[pos:]


def encode_header(header: Header | None) -> bytes:
    """The encoded header section (empty bytes for None)."""
    if header is None:
        return b""
    out = bytearray()
    header.encode(out)
    return bytes(out)
