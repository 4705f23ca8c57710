"""MQTT 3.1.1 codec (OASIS Standard, 29 October 2014): bytes to packets and back.

Pure and stdlib only (DESIGN R1, R8). :class:`MqttParser` turns a byte stream into packet
objects, every complete packet per :meth:`MqttParser.feed` call; :func:`encode` turns a
packet object into bytes. Bad peer bytes raise :class:`MqttCodecError` and nothing else;
the spec says the receiver closes the network connection on a malformed packet, so the
parser stays failed afterwards. MQTT 3.1 (protocol name ``MQIsdp``, level 3) is accepted
as ActiveMQ accepts it; its packets have the same layout.

Statement numbers in comments (``[MQTT-x.y.z-n]``) are the normative statements of the
3.1.1 specification.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ferrymq.protocols.errors import CodecError

__all__ = [
    "MAX_REMAINING_LENGTH",
    "ConnAck",
    "Connect",
    "Disconnect",
    "MqttCodecError",
    "MqttParser",
    "Packet",
    "PingReq",
    "PingResp",
    "PubAck",
    "PubComp",
    "PubRec",
    "PubRel",
    "Publish",
    "RawPublish",
    "SubAck",
    "Subscribe",
    "UnsubAck",
    "Unsubscribe",
    "encode",
    "encode_all",
    "encode_publish",
    "encode_publish_header",
    "encode_publish_middle",
    "encode_remaining_length",
    "validate_topic_filter",
    "validate_topic_name",
]

#: largest value the four-byte Remaining Length can carry (spec 2.2.3)
MAX_REMAINING_LENGTH = 268_435_455

# Packet type numbers (spec 2.2.1, Table 2.1).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

_TYPE_NAMES = {
    CONNECT: "CONNECT",
    CONNACK: "CONNACK",
    PUBLISH: "PUBLISH",
    PUBACK: "PUBACK",
    PUBREC: "PUBREC",
    PUBREL: "PUBREL",
    PUBCOMP: "PUBCOMP",
    SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK",
    UNSUBSCRIBE: "UNSUBSCRIBE",
    UNSUBACK: "UNSUBACK",
    PINGREQ: "PINGREQ",
    PINGRESP: "PINGRESP",
    DISCONNECT: "DISCONNECT",
}
#: packets only a server sends: a server-side parser rejects them, and the reverse
_SERVER_ONLY = frozenset({CONNACK, SUBACK, UNSUBACK, PINGRESP})
_CLIENT_ONLY = frozenset({CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT})
#: accepted (protocol name, protocol level) pairs
_PROTOCOLS = {("MQTT", 4), ("MQIsdp", 3)}
#: SUBACK return codes: granted QoS 0/1/2 or failure (spec 3.9.3)
_SUBACK_CODES = frozenset({0x00, 0x01, 0x02, 0x80})

#: CONNACK return codes (spec 3.2.2.3)
CONNACK_ACCEPTED = 0
CONNACK_UNACCEPTABLE_PROTOCOL = 1
CONNACK_IDENTIFIER_REJECTED = 2
CONNACK_SERVER_UNAVAILABLE = 3
CONNACK_BAD_CREDENTIALS = 4
CONNACK_NOT_AUTHORIZED = 5


class MqttCodecError(CodecError):
    """Malformed MQTT bytes; the connection must be closed.

    ``code`` is the CONNACK return code to send first when the spec asks for one (only
    ``1``, unacceptable protocol level, arises in the codec); otherwise ``None`` and the
    server closes without a CONNACK. ``packets`` holds the packets decoded from the same
    :meth:`MqttParser.feed` call before the bad one, which the adapter may still act on.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message, fatal=True, code=code)
        self.packets: list[Packet] = []


# --------------------------------------------------------------------------- packets


@dataclass(slots=True)
class Connect:
    packet_type: ClassVar[int] = CONNECT
    client_id: str = ""
    clean_session: bool = True
    keep_alive: int = 0
    will_topic: str | None = None
    will_message: bytes | None = None
    will_qos: int = 0
    will_retain: bool = False
    username: str | None = None
    password: bytes | None = None
    protocol_name: str = "MQTT"
    protocol_level: int = 4


@dataclass(slots=True)
class ConnAck:
    packet_type: ClassVar[int] = CONNACK
    session_present: bool = False
    return_code: int = CONNACK_ACCEPTED


@dataclass(slots=True)
class Publish:
    packet_type: ClassVar[int] = PUBLISH
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None


@dataclass(slots=True)
class PubAck:
    packet_type: ClassVar[int] = PUBACK
    packet_id: int


@dataclass(slots=True)
class PubRec:
    packet_type: ClassVar[int] = PUBREC
    packet_id: int


@dataclass(slots=True)
class PubRel:
    packet_type: ClassVar[int] = PUBREL
    packet_id: int


@dataclass(slots=True)
class PubComp:
    packet_type: ClassVar[int] = PUBCOMP
    packet_id: int


@dataclass(slots=True)
class Subscribe:
    packet_type: ClassVar[int] = SUBSCRIBE
    packet_id: int
    topics: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class SubAck:
    packet_type: ClassVar[int] = SUBACK
    packet_id: int
    return_codes: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Unsubscribe:
    packet_type: ClassVar[int] = UNSUBSCRIBE
    packet_id: int
    topics: list[str] = field(default_factory=list)


@dataclass(slots=True)
class UnsubAck:
    packet_type: ClassVar[int] = UNSUBACK
    packet_id: int


@dataclass(slots=True, frozen=True)
class PingReq:
    packet_type: ClassVar[int] = PINGREQ


@dataclass(slots=True, frozen=True)
class PingResp:
    packet_type: ClassVar[int] = PINGRESP


@dataclass(slots=True, frozen=True)
class Disconnect:
    packet_type: ClassVar[int] = DISCONNECT


Packet = (
    Connect
    | ConnAck
    | Publish
    | PubAck
    | PubRec
    | PubRel
    | PubComp
    | Subscribe
    | SubAck
    | Unsubscribe
    | UnsubAck
    | PingReq
    | PingResp
    | Disconnect
)

_PINGREQ = PingReq()
_PINGRESP = PingResp()
_DISCONNECT = Disconnect()


# --------------------------------------------------------------------------- validation


def validate_topic_name(topic: str) -> None:
    """Raise :class:`MqttCodecError` unless ``topic`` is a valid PUBLISH/Will topic name."""
    if not topic:
        raise MqttCodecError("topic name must not be empty")  # [MQTT-4.7.3-1]
    if "+" in topic or "#" in topic:
        raise MqttCodecError(f"topic name {topic!r} must not contain wildcards")  # [MQTT-3.3.2-2]


def validate_topic_filter(topic_filter: str) -> None:
    """Raise :class:`MqttCodecError` unless ``topic_filter`` is a valid subscription filter."""
    if not topic_filter:
        raise MqttCodecError("topic filter must not be empty")  # [MQTT-4.7.3-1]
    if "+" not in topic_filter and "#" not in topic_filter:
        return
    levels = topic_filter.split("/")
    last = len(levels) - 1
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != last):
            # [MQTT-4.7.1-2]
            raise MqttCodecError(f"topic filter {topic_filter!r}: '#' must be alone in the last level")
        if "+" in level and level != "+":
            # [MQTT-4.7.1-3]
            raise MqttCodecError(f"topic filter {topic_filter!r}: '+' must occupy a whole level")


# --------------------------------------------------------------------------- decoding helpers


def _read_str(src: bytes, p: int, end: int, what: str) -> tuple[str, int]:
    """A UTF-8 encoded string (spec 1.5.3) at ``p``; returns it and the next offset."""
    if end - p < 2:
        raise MqttCodecError(f"{what}: truncated string length")
    q = p + 2 + ((src[p] << 8) | src[p + 1])
    if q > end:
        raise MqttCodecError(f"{what}: string length exceeds the packet")
    try:
        s = src[p + 2 : q].decode("utf-8")  # strict: rejects surrogates [MQTT-1.5.3-1]
    except UnicodeDecodeError:
        raise MqttCodecError(f"{what}: invalid UTF-8") from None
    if "\x00" in s:
        raise MqttCodecError(f"{what}: string contains U+0000")  # [MQTT-1.5.3-2]
    return s, q


def _read_bin(src: bytes, p: int, end: int, what: str) -> tuple[bytes, int]:
    """Two-byte length prefixed binary data (will message, password)."""
    if end - p < 2:
        raise MqttCodecError(f"{what}: truncated length")
    q = p + 2 + ((src[p] << 8) | src[p + 1])
    if q > end:
        raise MqttCodecError(f"{what}: length exceeds the packet")
    return src[p + 2 : q], q


def _read_pid(src: bytes, p: int, end: int, name: str) -> int:
    if end - p < 2:
        raise MqttCodecError(f"{name}: truncated packet identifier")
    pid = (src[p] << 8) | src[p + 1]
    if pid == 0:
        raise MqttCodecError(f"{name}: packet identifier must be non-zero")  # [MQTT-2.3.1-1]
    return pid


# --------------------------------------------------------------------------- decoders
# Each takes (first byte, source, body start, body end) and returns one packet. The
# fixed-header flags have already been checked by the parser's first-byte table.


def _dec_connect(b0: int, src: bytes, p: int, end: int) -> Connect:
    name, p = _read_str(src, p, end, "CONNECT protocol name")
    if p >= end:
        raise MqttCodecError("CONNECT: truncated protocol level")
    level = src[p]
    p += 1
    if (name, level) not in _PROTOCOLS:
        if name in ("MQTT", "MQIsdp"):
            # [MQTT-3.1.2-2]: CONNACK 0x01 then disconnect
            raise MqttCodecError(
                f"CONNECT: unacceptable protocol level {level} for {name!r}",
                code=CONNACK_UNACCEPTABLE_PROTOCOL,
            )
        raise MqttCodecError(f"CONNECT: unsupported protocol name {name!r}")  # [MQTT-3.1.2-1]
    if end - p < 3:
        raise MqttCodecError("CONNECT: truncated variable header")
    flags = src[p]
    keep_alive = (src[p + 1] << 8) | src[p + 2]
    p += 3
    if flags & 0x01:
        raise MqttCodecError("CONNECT: reserved flag bit 0 must be 0")  # [MQTT-3.1.2-3]
    will = flags & 0x04
    will_qos = (flags >> 3) & 0x03
    will_retain = bool(flags & 0x20)
    if not will and (will_qos or will_retain):
        # [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
        raise MqttCodecError("CONNECT: will QoS and will retain must be 0 when the will flag is 0")
    if will_qos == 3:
        raise MqttCodecError("CONNECT: will QoS 3 is not allowed")  # [MQTT-3.1.2-14]
    has_user = flags & 0x80
    has_password = flags & 0x40
    if has_password and not has_user:
        raise MqttCodecError("CONNECT: password flag set without username flag")  # [MQTT-3.1.2-22]
    client_id, p = _read_str(src, p, end, "CONNECT client identifier")
    will_topic: str | None = None
    will_message: bytes | None = None
    if will:
        will_topic, p = _read_str(src, p, end, "CONNECT will topic")
        validate_topic_name(will_topic)
        will_message, p = _read_bin(src, p, end, "CONNECT will message")
    username: str | None = None
    password: bytes | None = None
    if has_user:
        username, p = _read_str(src, p, end, "CONNECT username")
    if has_password:
        password, p = _read_bin(src, p, end, "CONNECT password")
    if p != end:
        raise MqttCodecError(f"CONNECT: {end - p} unexpected trailing bytes")
    return Connect(
        client_id,
        bool(flags & 0x02),
        keep_alive,
        will_topic,
        will_message,
        will_qos,
        will_retain,
        username,
        password,
        name,
        level,
    )


def _dec_connack(b0: int, src: bytes, p: int, end: int) -> ConnAck:
    if end - p != 2:
        raise MqttCodecError("CONNACK: remaining length must be 2")
    ack_flags = src[p]
    if ack_flags & 0xFE:
        raise MqttCodecError("CONNACK: reserved acknowledge flags must be 0")
    return ConnAck(bool(ack_flags & 1), src[p + 1])


#: a PUBLISH as the tuple (topic, payload, qos, retain, dup, packet_id): what
#: :meth:`MqttParser.feed_fast` yields instead of a :class:`Publish` object
RawPublish = tuple[str, bytes, int, bool, bool, int | None]


def _dec_publish(b0: int, src: bytes, p: int, end: int) -> Publish:
    return Publish(*_dec_publish_raw(b0, src, p, end))


def _dec_publish_raw(b0: int, src: bytes, p: int, end: int) -> RawPublish:
    # QoS 3 and DUP with QoS 0 are rejected by the first-byte table.
    if end - p < 2:
        raise MqttCodecError("PUBLISH: truncated topic length")
    q = p + 2 + ((src[p] << 8) | src[p + 1])
    if q > end:
        raise MqttCodecError("PUBLISH: topic length exceeds the packet")
    raw = src[p + 2 : q]
    topic = _TOPIC_CACHE.get(raw)
    if topic is None:
        topic = _decode_topic_name(raw)
    qos = (b0 >> 1) & 3
    if qos:
        if end - q < 2:
            raise MqttCodecError("PUBLISH: truncated packet identifier")
        pid: int | None = (src[q] << 8) | src[q + 1]
        if not pid:
            raise MqttCodecError("PUBLISH: packet identifier must be non-zero")  # [MQTT-2.3.1-1]
        q += 2
    else:
        pid = None
    return (topic, src[q:end], qos, bool(b0 & 1), bool(b0 & 8), pid)


#: decoded, validated topic names by their bytes; bounded, shared (topics are immutable)
_TOPIC_CACHE: dict[bytes, str] = {}
_TOPIC_CACHE_MAX = 4096


def _decode_topic_name(raw: bytes) -> str:
    try:
        topic = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MqttCodecError("PUBLISH topic name: invalid UTF-8") from None
    if "\x00" in topic:
        raise MqttCodecError("PUBLISH topic name: string contains U+0000")
    validate_topic_name(topic)
    if len(_TOPIC_CACHE) >= _TOPIC_CACHE_MAX:
        _TOPIC_CACHE.clear()
    _TOPIC_CACHE[raw] = topic
    return topic


def _pid_only(cls: type[PubAck | PubRec | PubRel | PubComp | UnsubAck], name: str) -> _Decoder:
    def dec(b0: int, src: bytes, p: int, end: int) -> Packet:
        if end - p != 2:
            raise MqttCodecError(f"{name}: remaining length must be 2")
        pid = (src[p] << 8) | src[p + 1]
        if not pid:
            raise MqttCodecError(f"{name}: packet identifier must be non-zero")  # [MQTT-2.3.1-1]
        return cls(pid)

    return dec


def _dec_subscribe(b0: int, src: bytes, p: int, end: int) -> Subscribe:
    pid = _read_pid(src, p, end, "SUBSCRIBE")
    p += 2
    topics: list[tuple[str, int]] = []
    while p < end:
        topic_filter, p = _read_str(src, p, end, "SUBSCRIBE topic filter")
        validate_topic_filter(topic_filter)
        if p >= end:
            raise MqttCodecError("SUBSCRIBE: missing requested QoS")
        qos = src[p]
        p += 1
        if qos & 0xFC:
            raise MqttCodecError("SUBSCRIBE: reserved bits of requested QoS must be 0")  # [MQTT-3-8.3-4]
        if qos == 3:
            raise MqttCodecError("SUBSCRIBE: requested QoS 3 is not allowed")  # [MQTT-3-8.3-4]
        topics.append((topic_filter, qos))
    if not topics:
        raise MqttCodecError("SUBSCRIBE: at least one topic filter is required")  # [MQTT-3.8.3-3]
    return Subscribe(pid, topics)


def _dec_suback(b0: int, src: bytes, p: int, end: int) -> SubAck:
    pid = _read_pid(src, p, end, "SUBACK")
    codes = list(src[p + 2 : end])
    if not codes:
        raise MqttCodecError("SUBACK: at least one return code is required")
    for c in codes:
        if c not in _SUBACK_CODES:
            raise MqttCodecError(f"SUBACK: reserved return code 0x{c:02x}")  # [MQTT-3.9.3-2]
    return SubAck(pid, codes)


def _dec_unsubscribe(b0: int, src: bytes, p: int, end: int) -> Unsubscribe:
    pid = _read_pid(src, p, end, "UNSUBSCRIBE")
    p += 2
    topics: list[str] = []
    while p < end:
        topic_filter, p = _read_str(src, p, end, "UNSUBSCRIBE topic filter")
        validate_topic_filter(topic_filter)
        topics.append(topic_filter)
    if not topics:
        raise MqttCodecError("UNSUBSCRIBE: at least one topic filter is required")  # [MQTT-3.10.3-2]
    return Unsubscribe(pid, topics)


def _empty(instance: Packet, name: str) -> _Decoder:
    def dec(b0: int, src: bytes, p: int, end: int) -> Packet:
        if end != p:
            raise MqttCodecError(f"{name}: remaining length must be 0")
        return instance

    return dec


_Decoder = Callable[[int, bytes, int, int], Packet]

_DECODERS: dict[int, _Decoder] = {
    CONNECT: _dec_connect,
    CONNACK: _dec_connack,
    PUBLISH: _dec_publish,
    PUBACK: _pid_only(PubAck, "PUBACK"),
    PUBREC: _pid_only(PubRec, "PUBREC"),
    PUBREL: _pid_only(PubRel, "PUBREL"),
    PUBCOMP: _pid_only(PubComp, "PUBCOMP"),
    SUBSCRIBE: _dec_subscribe,
    SUBACK: _dec_suback,
    UNSUBSCRIBE: _dec_unsubscribe,
    UNSUBACK: _pid_only(UnsubAck, "UNSUBACK"),
    PINGREQ: _empty(_PINGREQ, "PINGREQ"),
    PINGRESP: _empty(_PINGRESP, "PINGRESP"),
    DISCONNECT: _empty(_DISCONNECT, "DISCONNECT"),
}


def _first_byte_table(server: bool, raw: bool = False) -> tuple[_Decoder | str, ...]:
    """For every possible first byte: its decoder, or the error message (a ``str``). With
    ``raw`` PUBLISH packets decode to :data:`RawPublish` tuples."""
    table: list[_Decoder | str] = []
    for b0 in range(256):
        ptype, flags = b0 >> 4, b0 & 0x0F
        entry: _Decoder | str
        if ptype in (0, 15):
            entry = f"reserved packet type {ptype}"
        elif server and ptype in _SERVER_ONLY:
            entry = f"{_TYPE_NAMES[ptype]} is sent by a server, not by a client"
        elif not server and ptype in _CLIENT_ONLY:
            entry = f"{_TYPE_NAMES[ptype]} is sent by a client, not by a server"
        elif ptype == PUBLISH:
            qos = (flags >> 1) & 3
            if qos == 3:
                entry = "PUBLISH with QoS 3"  # [MQTT-3.3.1-4]
            elif qos == 0 and flags & 8:
                entry = "PUBLISH with QoS 0 must not have DUP set"  # [MQTT-3.3.1-2]
            else:
                entry = _dec_publish_raw if raw else _DECODERS[ptype]  # type: ignore[assignment]
        else:
            required = 0x02 if ptype in (PUBREL, SUBSCRIBE, UNSUBSCRIBE) else 0x00
            if flags != required:
                # [MQTT-2.2.2-1], [MQTT-2.2.2-2], [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]
                entry = f"invalid fixed header flags 0x{flags:x} for {_TYPE_NAMES[ptype]} (must be 0x{required:x})"
            else:
                entry = _DECODERS[ptype]
        table.append(entry)
    return tuple(table)


_TABLE_SERVER = _first_byte_table(True)
_TABLE_CLIENT = _first_byte_table(False)
_TABLE_SERVER_RAW = _first_byte_table(True, raw=True)
_TABLE_CLIENT_RAW = _first_byte_table(False, raw=True)


def _remaining_length(src: bytes, i: int, n: int) -> tuple[int, int]:
    """Decode the Remaining Length at ``i``: (value, body offset), or (-1, 0) if incomplete."""
    value = 0
    shift = 0
    while i < n:
        b = src[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift == 28:
            raise MqttCodecError("remaining length exceeds 4 bytes")
    return -1, 0


# --------------------------------------------------------------------------- parser


class MqttParser:
    """Incremental decoder: feed it bytes, get back every complete packet.

    ``server=True`` decodes what a client sends (rejecting CONNACK, SUBACK, UNSUBACK,
    PINGRESP); ``server=False`` decodes what a server sends. ``max_packet_size`` bounds
    the Remaining Length and is checked as soon as the fixed header is complete, before
    any of the body is buffered. After an error the parser re-raises it on every call.
    """

    __slots__ = ("_buf", "_error", "_max", "_need", "_table", "_raw_table")

    def __init__(self, *, max_packet_size: int = 256 * 1024 * 1024, server: bool = True) -> None:
        self._buf = bytearray()
        self._need = 0  # total size of the incomplete packet at the buffer start, once known
        self._max = max_packet_size
        self._table = _TABLE_SERVER if server else _TABLE_CLIENT
        self._raw_table = _TABLE_SERVER_RAW if server else _TABLE_CLIENT_RAW
        self._error: MqttCodecError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete packet."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]:
        """Append ``data``; return every packet now complete, in order."""
        return self._feed(data, self._table)  # type: ignore[return-value]

    def feed_fast(self, data: bytes | bytearray | memoryview) -> list[Packet | RawPublish]:
        """:meth:`feed`, but every PUBLISH comes as a :data:`RawPublish` tuple (cheaper to
        make than a :class:`Publish`; a receiver acting on the fields needs no object). On
        error, ``MqttCodecError.packets`` holds tuples the same way."""
        return self._feed(data, self._raw_table)

    def _feed(
        self, data: bytes | bytearray | memoryview, table: tuple[_Decoder | str, ...]
    ) -> list[Packet | RawPublish]:
        if self._error is not None:
            raise self._error
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return []
            src = bytes(buf)
            buffered = True
        else:
            src = data if type(data) is bytes else bytes(data)
            buffered = False
        out: list[Packet | RawPublish] = []
        try:
            pos = self._parse(src, out, table)
        except MqttCodecError as exc:
            exc.packets = out  # type: ignore[assignment]
            self._error = exc
            buf.clear()
            raise
        if buffered:
            del buf[:pos]
        elif pos < len(src):
            buf += src[pos:]
        return out

    def _parse(self, src: bytes, out: list[Packet | RawPublish], table: tuple[_Decoder | str, ...]) -> int:
        limit = self._max
        append = out.append
        n = len(src)
        pos = 0
        while pos < n:
            b0 = src[pos]
            dec = table[b0]
            if dec.__class__ is str:
                raise MqttCodecError(dec)  # type: ignore[arg-type]
            if pos + 1 >= n:
                break
            rl = src[pos + 1]
            if rl < 0x80:
                p = pos + 2
            elif pos + 2 < n and src[pos + 2] < 0x80:
                rl = (rl & 0x7F) | src[pos + 2] << 7
                p = pos + 3
            else:
                rl, p = _remaining_length(src, pos + 1, n)
                if rl < 0:
                    break
            if rl > limit:
                raise MqttCodecError(f"packet of {rl} bytes exceeds the maximum of {limit}")
            end = p + rl
            if end > n:
                self._need = end - pos
                return pos
            append(dec(b0, src, p, end))  # type: ignore[operator]
            pos = end
        self._need = 0
        return pos


# --------------------------------------------------------------------------- encoding


def encode_remaining_length(n: int) -> bytes:
    """The variable length encoding of ``n`` (spec 2.2.3)."""
    if n < 0x80:
        if n < 0:
            raise ValueError("remaining length must not be negative")
        return bytes((n,))
    if n > MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length {n} exceeds {MAX_REMAINING_LENGTH}")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 0xFFFF:
        raise ValueError("string longer than 65535 bytes")
    return len(b).to_bytes(2, "big") + b


def _bin(b: bytes) -> bytes:
    if len(b) > 0xFFFF:
        raise ValueError("binary field longer than 65535 bytes")
    return len(b).to_bytes(2, "big") + b


def _check_pid(pid: int | None) -> int:
    if pid is None or not 0 < pid <= 0xFFFF:
        raise ValueError(f"packet identifier must be 1..65535, not {pid!r}")
    return pid


def _frame(b0: int, body: bytes) -> bytes:
    return bytes((b0,)) + encode_remaining_length(len(body)) + body


def encode_publish_header(
    topic_bytes: bytes, payload_len: int, qos: int, retain: bool, dup: bool, packet_id: int | None
) -> bytes:
    """Fixed header, topic and packet id of a PUBLISH; the payload follows unchanged."""
    tlen = len(topic_bytes)
    if tlen > 0xFFFF:
        raise ValueError("topic longer than 65535 bytes")
    b0 = 0x30 | qos << 1
    if retain:
        b0 |= 1
    if qos:
        if qos > 2:
            raise ValueError(f"invalid QoS {qos}")
        if packet_id is None or not 0 < packet_id <= 0xFFFF:
            raise ValueError(f"packet identifier must be 1..65535, not {packet_id!r}")
        if dup:
            b0 |= 8
        rl = 4 + tlen + payload_len
        tail = topic_bytes + bytes((packet_id >> 8, packet_id & 0xFF))
    else:
        if qos < 0:
            raise ValueError(f"invalid QoS {qos}")
        if dup:
            raise ValueError("DUP must be 0 for QoS 0")
        rl = 2 + tlen + payload_len
        tail = topic_bytes
    if rl < 0x80:
        return bytes((b0, rl, tlen >> 8, tlen & 0xFF)) + tail
    return bytes((b0,)) + encode_remaining_length(rl) + bytes((tlen >> 8, tlen & 0xFF)) + tail


def encode_publish_middle(topic_bytes: bytes, payload_len: int, qos: int, first: int = -1) -> bytes:
    """The bytes of a PUBLISH between its first byte and its packet identifier (QoS 1/2) or
    its payload (QoS 0): Remaining Length, topic length and topic, preceded by the first
    byte ``first`` when it is given (>= 0). It depends on neither the DUP flag nor the packet
    id, so one copy serves every delivery of a message at one QoS."""
    tlen = len(topic_bytes)
    if tlen > 0xFFFF:
        raise ValueError("topic longer than 65535 bytes")
    rl = (4 if qos else 2) + tlen + payload_len
    if rl < 0x80:
        head = bytes((rl, tlen >> 8, tlen & 0xFF))
    elif rl < 0x4000:
        head = bytes((rl & 0x7F | 0x80, rl >> 7, tlen >> 8, tlen & 0xFF))
    else:
        head = encode_remaining_length(rl) + bytes((tlen >> 8, tlen & 0xFF))
    if first >= 0:
        return bytes((first,)) + head + topic_bytes
    return head + topic_bytes


def encode_publish(
    topic: str, payload: bytes, qos: int, retain: bool, dup: bool, packet_id: int | None
) -> bytes:
    """A whole PUBLISH packet."""
    return encode_publish_header(topic.encode("utf-8"), len(payload), qos, retain, dup, packet_id) + payload


def _enc_connect(c: Connect) -> bytes:
    flags = 0x02 if c.clean_session else 0
    payload = [_str(c.client_id)]
    if c.will_topic is not None:
        if not 0 <= c.will_qos <= 2:
            raise ValueError(f"invalid will QoS {c.will_qos}")
        flags |= 0x04 | c.will_qos << 3
        if c.will_retain:
            flags |= 0x20
        payload.append(_str(c.will_topic))
        payload.append(_bin(c.will_message or b""))
    elif c.will_qos or c.will_retain:
        raise ValueError("will QoS/retain set without a will topic")
    if c.username is not None:
        flags |= 0x80
        payload.append(_str(c.username))
    if c.password is not None:
        if c.username is None:
            raise ValueError("password without username")
        flags |= 0x40
        payload.append(_bin(c.password))
    if not 0 <= c.keep_alive <= 0xFFFF:
        raise ValueError(f"keep alive {c.keep_alive} out of range")
    head = _str(c.protocol_name) + bytes((c.protocol_level, flags)) + c.keep_alive.to_bytes(2, "big")
    return _frame(0x10, head + b"".join(payload))


def _enc_connack(c: ConnAck) -> bytes:
    return bytes((0x20, 2, 1 if c.session_present else 0, c.return_code))


def _enc_publish(p: Publish) -> bytes:
    return encode_publish(p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id)


def _enc_pid(b0: int) -> Callable[[PubAck | PubRec | PubRel | PubComp | UnsubAck], bytes]:
    def enc(p: PubAck | PubRec | PubRel | PubComp | UnsubAck) -> bytes:
        pid = _check_pid(p.packet_id)
        return bytes((b0, 2, pid >> 8, pid & 0xFF))

    return enc


def _enc_subscribe(s: Subscribe) -> bytes:
    if not s.topics:
        raise ValueError("SUBSCRIBE needs at least one topic filter")
    parts = [_check_pid(s.packet_id).to_bytes(2, "big")]
    for topic_filter, qos in s.topics:
        if not 0 <= qos <= 2:
            raise ValueError(f"invalid QoS {qos}")
        parts.append(_str(topic_filter))
        parts.append(bytes((qos,)))
    return _frame(0x82, b"".join(parts))


def _enc_suback(s: SubAck) -> bytes:
    return _frame(0x90, _check_pid(s.packet_id).to_bytes(2, "big") + bytes(s.return_codes))


def _enc_unsubscribe(u: Unsubscribe) -> bytes:
    if not u.topics:
        raise ValueError("UNSUBSCRIBE needs at least one topic filter")
    return _frame(0xA2, _check_pid(u.packet_id).to_bytes(2, "big") + b"".join(_str(t) for t in u.topics))


_ENCODERS: dict[type, Callable[..., bytes]] = {
    Connect: _enc_connect,
    ConnAck: _enc_connack,
    Publish: _enc_publish,
    PubAck: _enc_pid(0x40),
    PubRec: _enc_pid(0x50),
    PubRel: _enc_pid(0x62),
    PubComp: _enc_pid(0x70),
    Subscribe: _enc_subscribe,
    SubAck: _enc_suback,
    Unsubscribe: _enc_unsubscribe,
    UnsubAck: _enc_pid(0xB0),
    PingReq: lambda _p: b"\xc0\x00",
    PingResp: lambda _p: b"\xd0\x00",
    Disconnect: lambda _p: b"\xe0\x00",
}


def encode(packet: Packet) -> bytes:
    """The wire form of ``packet``. Raises ``ValueError`` for a packet that cannot be encoded
    (field out of range, missing packet id); these are local bugs, not peer errors."""
    try:
        enc = _ENCODERS[type(packet)]
    except KeyError:
        raise TypeError(f"not an MQTT packet: {packet!r}") from None
    return enc(packet)


def encode_all(packets: Sequence[Packet]) -> bytes:
    """Several packets as one write."""
    return b"".join(encode(p) for p in packets)
