"""Hand-written fast paths for OpenWire's hot commands, beside the generic table-driven codec.

The generic codec (:mod:`.codec`) walks the field table once per field, with a call per field
and a list of booleans per command. A JMS producer, consumer and broker exchange only a few
command types once running: the JMS messages themselves (one per send, one inside each
MessageDispatch), MessageAck and Response. This module encodes and decodes those in the
form the ActiveMQ JMS client negotiates by default (tight encoding, marshal cache on,
version 10 or later) as straight-line code:

* the boolean stream is one Python ``int`` (bit ``i`` of the stream is bit ``i`` of the
  integer, so ``int.from_bytes(..., "little")`` reads it and ``to_bytes`` writes it);
* data is read with ``unpack_from`` at a local offset and written into one ``bytearray``;
* the common values (a cache hit, a null, an ASCII string, a long) are inlined; anything
  else (a cache miss, a nested structure, a non-ASCII string, an out-of-range value) goes
  through the generic codec's own field code on a temporary reader or writer positioned at
  the same place, so the bytes and the decoded objects are the same as the generic codec's.

Decoding is speculative: a fast reader raises (anything) or returns :data:`FALLBACK` when the
frame is not what it expects, and the parser then decodes the frame with the generic reader,
which raises the precise :class:`.OpenWireCodecError` for bad bytes. Encoding errors raise
``OpenWireCodecError(fatal=False)`` as the generic encoder does.

:func:`install` registers the readers and writers with :mod:`.codec`; the parser uses them
whenever the negotiated format allows (:func:`.codec.fast_eligible`).
"""

from __future__ import annotations

import struct
from typing import Any

from . import codec, spec
from .codec import FAST_READERS, FAST_WRITERS, OpenWireParser, WireFormat, _In, _MarshalCache, _Out
from .props import decode_mutf8
from .spec import DataStructure, OpenWireCodecError

__all__ = ["FALLBACK", "install", "dispatch_frame", "message_frame", "response_frame", "MESSAGE_CLASSES"]

FALLBACK: Any = codec.FAST_FALLBACK

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_i16 = _I16.unpack_from
_u16 = _U16.unpack_from
_i32 = _I32.unpack_from
_u32 = _U32.unpack_from
_i64 = _I64.unpack_from
_p8 = _I8.pack
_p16 = _I16.pack
_pu16 = _U16.pack
_p32 = _I32.pack
_pu32 = _U32.pack
_p64 = _I64.pack
_new = object.__new__
_set = object.__setattr__
_M64 = 0xFFFF_FFFF_FFFF_FFFF
_LONG_MIN = -(1 << 63)
_LONG_MAX = (1 << 63) - 1

#: the JMS message types with the plain Message field list (the blob message has more)
MESSAGE_CLASSES: tuple[type[DataStructure], ...] = (
    spec.ActiveMQMessage,
    spec.ActiveMQBytesMessage,
    spec.ActiveMQMapMessage,
    spec.ActiveMQObjectMessage,
    spec.ActiveMQStreamMessage,
    spec.ActiveMQTextMessage,
)
_MessageId = spec.MessageId
_ProducerId = spec.ProducerId
_ConsumerId = spec.ConsumerId
_Destination = spec.ActiveMQDestination
_TransactionId = spec.TransactionId
_MID_CODE = spec.MESSAGE_ID


def _field(type_name: str, name: str) -> spec.FieldSpec:
    cls = spec.CLASSES[type_name]
    for f in spec.fields_for(cls.type_code, spec.MAX_VERSION):
        if f.name == name:
            return f
    raise KeyError(name)  # pragma: no cover - names below are from the table


_F_PRODUCER = _field("ActiveMQMessage", "producer_id")
_F_DEST = _field("ActiveMQMessage", "destination")
_F_TX = _field("ActiveMQMessage", "transaction_id")
_F_ORIG_DEST = _field("ActiveMQMessage", "original_destination")
_F_MID = _field("ActiveMQMessage", "message_id")
_F_ORIG_TX = _field("ActiveMQMessage", "original_transaction_id")
_F_REPLY_TO = _field("ActiveMQMessage", "reply_to")
_F_DATA = _field("ActiveMQMessage", "data_structure")
_F_TARGET = _field("ActiveMQMessage", "target_consumer_id")
_F_BROKER_PATH = _field("ActiveMQMessage", "broker_path")
_F_CLUSTER = _field("ActiveMQMessage", "cluster")
_F_MID_PRODUCER = _field("MessageId", "producer_id")
_F_ACK_DEST = _field("MessageAck", "destination")
_F_ACK_TX = _field("MessageAck", "transaction_id")
_F_ACK_CONSUMER = _field("MessageAck", "consumer_id")
_F_ACK_FIRST = _field("MessageAck", "first_message_id")
_F_POISON = _field("MessageAck", "poison_cause")


class _Miss(Exception):
    """Not a frame the fast reader handles (the generic reader takes over)."""


# -- reading -------------------------------------------------------------------------------


def _slow_read(
    data: bytes, pos: int, end: int, wf: WireFormat, cache: list[Any], raw: bytes, bp: int, f: Any, depth: int
) -> tuple[Any, int, int]:
    """One field read by the generic codec from (``pos``, bit ``bp``): value, pos, bit pos."""
    src = _In(data, pos, end, wf, cache, False)
    src.bits = raw
    src.bit_pos = bp
    value = codec._r_field(src, f, depth)
    return value, src.pos, src.bit_pos


def _read_mid(
    data: bytes, pos: int, end: int, wf: WireFormat, cache: list[Any], raw: bytes, bits: int, bp: int
) -> tuple[Any, int, int]:
    """A MessageId nested in a command (its presence bit already read as set)."""
    if data[pos] != spec.MESSAGE_ID:
        raise _Miss
    pos += 1
    m = _new(_MessageId)
    _set(m, "_kc", None)
    _set(m, "_hc", None)
    # text_view
    if bits >> bp & 1:
        if bits >> (bp + 1) & 1:
            (n,) = _i16(data, pos)
            if n < 0:
                raise _Miss
            pos += 2
            _set(m, "text_view", data[pos : pos + n].decode("latin-1"))
        else:
            (n,) = _u16(data, pos)
            pos += 2
            _set(m, "text_view", decode_mutf8(data[pos : pos + n]))
        pos += n
        bp += 2
    else:
        _set(m, "text_view", None)
        bp += 1
    # producer_id (cached)
    if bits >> bp & 1:
        v, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, _F_MID_PRODUCER, 1)
    else:
        bp += 1
        (slot,) = _i16(data, pos)
        pos += 2
        if slot < 0:
            raise _Miss
        v = cache[slot]
        if v is not None and not isinstance(v, _ProducerId):
            raise _Miss
    _set(m, "producer_id", v)
    # producer_sequence_id, broker_sequence_id (longs)
    if bits >> bp & 1:
        if bits >> (bp + 1) & 1:
            (seq,) = _i64(data, pos)
            pos += 8
        else:
            (seq,) = _u32(data, pos)
            pos += 4
    elif bits >> (bp + 1) & 1:
        (seq,) = _u16(data, pos)
        pos += 2
    else:
        seq = 0
    if bits >> (bp + 2) & 1:
        if bits >> (bp + 3) & 1:
            (bseq,) = _i64(data, pos)
            pos += 8
        else:
            (bseq,) = _u32(data, pos)
            pos += 4
    elif bits >> (bp + 3) & 1:
        (bseq,) = _u16(data, pos)
        pos += 2
    else:
        bseq = 0
    _set(m, "producer_sequence_id", seq)
    _set(m, "broker_sequence_id", bseq)
    # the key DataStructure._key gives (ids are hashed and compared several times each)
    if v is not None:
        pk = v._kc
        if pk is None:
            pk = v._key()
        _set(m, "_kc", (_MID_CODE, m.text_view, pk, seq, bseq))
    return m, pos, bp + 4


def _bit_stream(data: bytes, pos: int) -> tuple[bytes, int, int]:
    n = data[pos]
    pos += 1
    if n == 0xC0:
        n = data[pos]
        pos += 1
    elif n == 0x80:
        (n,) = _i16(data, pos)
        pos += 2
        if n < 0:
            raise _Miss
    raw = data[pos : pos + n]
    return raw, pos + n, n << 3


def _message_reader(cls: type[DataStructure]) -> Any:
    def read(data: bytes, pos: int, end: int, wf: WireFormat, cache: list[Any] | None) -> Any:
        try:
            return _read_message(cls, data, pos, end, wf, cache)
        except Exception:
            return FALLBACK

    return read


def _read_message(
    cls: type[DataStructure], data: bytes, pos: int, end: int, wf: WireFormat, cache: list[Any] | None
) -> Any:
    """A JMS message command (type byte already read) in tight encoding with the cache on."""
    if cache is None:
        return FALLBACK
    raw, pos, nbits = _bit_stream(data, pos)
    bits = int.from_bytes(raw, "little")
    o: Any = _new(cls)
    (o.command_id,) = _i32(data, pos)
    pos += 4
    o.response_required = bits & 1 == 1
    # producer_id, destination, transaction_id, original_destination: cached
    if bits & 2:
        o.producer_id, pos, bp = _slow_read(data, pos, end, wf, cache, raw, 1, _F_PRODUCER, 0)
    else:
        bp = 2
        (slot,) = _i16(data, pos)
        pos += 2
        if slot < 0:
            raise _Miss
        v = o.producer_id = cache[slot]
        if v is not None and type(v) is not _ProducerId:
            raise _Miss
    if bits >> bp & 1:
        o.destination, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, _F_DEST, 0)
    else:
        bp += 1
        (slot,) = _i16(data, pos)
        pos += 2
        if slot < 0:
            raise _Miss
        v = o.destination = cache[slot]
        if v is not None and not isinstance(v, _Destination):
            raise _Miss
    for f, ref, name in (
        (_F_TX, _TransactionId, "transaction_id"),
        (_F_ORIG_DEST, _Destination, "original_destination"),
    ):
        if bits >> bp & 1:
            v, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, f, 0)
        else:
            bp += 1
            (slot,) = _i16(data, pos)
            pos += 2
            if slot < 0:
                raise _Miss
            v = cache[slot]
            if v is not None and not isinstance(v, ref):
                raise _Miss
        _set(o, name, v)
    # message_id: nested MessageId
    if bits >> bp & 1:
        o.message_id, pos, bp = _read_mid(data, pos, end, wf, cache, raw, bits, bp + 1)
    else:
        o.message_id = None
        bp += 1
    # original_transaction_id: cached
    if bits >> bp & 1:
        o.original_transaction_id, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, _F_ORIG_TX, 0)
    else:
        bp += 1
        (slot,) = _i16(data, pos)
        pos += 2
        if slot < 0:
            raise _Miss
        v = cache[slot]
        if v is not None and not isinstance(v, _TransactionId):
            raise _Miss
        o.original_transaction_id = v
    # group_id: string
    if bits >> bp & 1:
        if bits >> (bp + 1) & 1:
            (n,) = _i16(data, pos)
            if n < 0:
                raise _Miss
            pos += 2
            o.group_id = data[pos : pos + n].decode("latin-1")
        else:
            (n,) = _u16(data, pos)
            pos += 2
            o.group_id = decode_mutf8(data[pos : pos + n])
        pos += n
        bp += 2
    else:
        o.group_id = None
        bp += 1
    (o.group_sequence,) = _i32(data, pos)
    pos += 4
    # correlation_id: string
    if bits >> bp & 1:
        if bits >> (bp + 1) & 1:
            (n,) = _i16(data, pos)
            if n < 0:
                raise _Miss
            pos += 2
            o.correlation_id = data[pos : pos + n].decode("latin-1")
        else:
            (n,) = _u16(data, pos)
            pos += 2
            o.correlation_id = decode_mutf8(data[pos : pos + n])
        pos += n
        bp += 2
    else:
        o.correlation_id = None
        bp += 1
    o.persistent = bits >> bp & 1 == 1
    bp += 1
    # expiration: long
    if bits >> bp & 1:
        if bits >> (bp + 1) & 1:
            (o.expiration,) = _i64(data, pos)
            pos += 8
        else:
            (o.expiration,) = _u32(data, pos)
            pos += 4
    elif bits >> (bp + 1) & 1:
        (o.expiration,) = _u16(data, pos)
        pos += 2
    else:
        o.expiration = 0
    bp += 2
    o.priority = data[pos] - 256 if data[pos] > 127 else data[pos]
    pos += 1
    # reply_to: nested destination
    if bits >> bp & 1:
        o.reply_to, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, _F_REPLY_TO, 0)
    else:
        o.reply_to = None
        bp += 1
    # timestamp: long
    if bits >> bp & 1:
        if bits >> (bp + 1) & 1:
            (o.timestamp,) = _i64(data, pos)
            pos += 8
        else:
            (o.timestamp,) = _u32(data, pos)
            pos += 4
    elif bits >> (bp + 1) & 1:
        (o.timestamp,) = _u16(data, pos)
        pos += 2
    else:
        o.timestamp = 0
    bp += 2
    # type: string
    if bits >> bp & 1:
        if bits >> (bp + 1) & 1:
            (n,) = _i16(data, pos)
            if n < 0:
                raise _Miss
            pos += 2
            o.type = data[pos : pos + n].decode("latin-1")
        else:
            (n,) = _u16(data, pos)
            pos += 2
            o.type = decode_mutf8(data[pos : pos + n])
        pos += n
        bp += 2
    else:
        o.type = None
        bp += 1
    # content, marshalled_properties: byte sequences
    if bits >> bp & 1:
        (n,) = _i32(data, pos)
        if n < 0:
            raise _Miss
        pos += 4
        o.content = data[pos : pos + n]
        pos += n
    else:
        o.content = None
    bp += 1
    if bits >> bp & 1:
        (n,) = _i32(data, pos)
        if n < 0:
            raise _Miss
        pos += 4
        o.marshalled_properties = data[pos : pos + n]
        pos += n
    else:
        o.marshalled_properties = None
    bp += 1
    # data_structure: nested, any type
    if bits >> bp & 1:
        o.data_structure, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, _F_DATA, 0)
    else:
        o.data_structure = None
        bp += 1
    # target_consumer_id: cached
    if bits >> bp & 1:
        o.target_consumer_id, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, _F_TARGET, 0)
    else:
        bp += 1
        (slot,) = _i16(data, pos)
        pos += 2
        if slot < 0:
            raise _Miss
        v = cache[slot]
        if v is not None and not isinstance(v, _ConsumerId):
            raise _Miss
        o.target_consumer_id = v
    o.compressed = bits >> bp & 1 == 1
    bp += 1
    (o.redelivery_counter,) = _i32(data, pos)
    pos += 4
    # broker_path: array
    if bits >> bp & 1:
        o.broker_path, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, _F_BROKER_PATH, 0)
    else:
        o.broker_path = None
        bp += 1
    # arrival: long
    if bits >> bp & 1:
        if bits >> (bp + 1) & 1:
            (o.arrival,) = _i64(data, pos)
            pos += 8
        else:
            (o.arrival,) = _u32(data, pos)
            pos += 4
    elif bits >> (bp + 1) & 1:
        (o.arrival,) = _u16(data, pos)
        pos += 2
    else:
        o.arrival = 0
    bp += 2
    # user_id: string
    if bits >> bp & 1:
        if bits >> (bp + 1) & 1:
            (n,) = _i16(data, pos)
            if n < 0:
                raise _Miss
            pos += 2
            o.user_id = data[pos : pos + n].decode("latin-1")
        else:
            (n,) = _u16(data, pos)
            pos += 2
            o.user_id = decode_mutf8(data[pos : pos + n])
        pos += n
        bp += 2
    else:
        o.user_id = None
        bp += 1
    o.recieved_by_df_bridge = bits >> bp & 1 == 1
    o.droppable = bits >> (bp + 1) & 1 == 1
    bp += 2
    # cluster: array
    if bits >> bp & 1:
        o.cluster, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, _F_CLUSTER, 0)
    else:
        o.cluster = None
        bp += 1
    # broker_in_time, broker_out_time: longs
    for name in ("broker_in_time", "broker_out_time"):
        if bits >> bp & 1:
            if bits >> (bp + 1) & 1:
                (v,) = _i64(data, pos)
                pos += 8
            else:
                (v,) = _u32(data, pos)
                pos += 4
        elif bits >> (bp + 1) & 1:
            (v,) = _u16(data, pos)
            pos += 2
        else:
            v = 0
        bp += 2
        _set(o, name, v)
    o.jmsx_group_first_for_consumer = bits >> bp & 1 == 1
    bp += 1
    if pos != end or bp > nbits:
        raise _Miss
    return o


def _read_ack(data: bytes, pos: int, end: int, wf: WireFormat, cache: list[Any] | None) -> Any:
    try:
        return _read_ack_frame(data, pos, end, wf, cache)
    except Exception:
        return FALLBACK


def _read_ack_frame(data: bytes, pos: int, end: int, wf: WireFormat, cache: list[Any] | None) -> Any:
    """A MessageAck (type byte already read) in tight encoding with the cache on."""
    if cache is None:
        return FALLBACK
    raw, pos, nbits = _bit_stream(data, pos)
    bits = int.from_bytes(raw, "little")
    o: Any = _new(spec.MessageAck)
    (o.command_id,) = _i32(data, pos)
    pos += 4
    o.response_required = bits & 1 == 1
    bp = 1
    for f, ref, name in (
        (_F_ACK_DEST, _Destination, "destination"),
        (_F_ACK_TX, _TransactionId, "transaction_id"),
        (_F_ACK_CONSUMER, _ConsumerId, "consumer_id"),
    ):
        if bits >> bp & 1:
            v, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, f, 0)
        else:
            bp += 1
            (slot,) = _i16(data, pos)
            pos += 2
            if slot < 0:
                raise _Miss
            v = cache[slot]
            if v is not None and not isinstance(v, ref):
                raise _Miss
        _set(o, name, v)
    o.ack_type = data[pos] - 256 if data[pos] > 127 else data[pos]
    pos += 1
    for name in ("first_message_id", "last_message_id"):
        if bits >> bp & 1:
            v, pos, bp = _read_mid(data, pos, end, wf, cache, raw, bits, bp + 1)
        else:
            v = None
            bp += 1
        _set(o, name, v)
    (o.message_count,) = _i32(data, pos)
    pos += 4
    if bits >> bp & 1:
        o.poison_cause, pos, bp = _slow_read(data, pos, end, wf, cache, raw, bp, _F_POISON, 0)
    else:
        o.poison_cause = None
        bp += 1
    if pos != end or bp > nbits:
        raise _Miss
    return o


# -- writing -------------------------------------------------------------------------------


def _slow_write(
    wf: WireFormat, cache: _MarshalCache | None, buf: bytearray, bb: int, bn: int, fn: Any, *args: Any
) -> tuple[int, int]:
    """One field written by the generic codec's ``fn(out, *args)``; its booleans and bytes are
    appended to ``bb``/``bn`` and ``buf``."""
    out = _Out(wf, cache)
    fn(out, *args)
    for b in out.bits:
        if b:
            bb |= 1 << bn
        bn += 1
    buf += out.buf
    return bb, bn


def _none_slot(index: dict[Any, int]) -> bytes | None:
    slot = index.get(None)
    return None if slot is None else _p16(slot)


def _bad(what: str, value: Any) -> OpenWireCodecError:
    return OpenWireCodecError(f"{what}: {value!r} does not fit", fatal=False)


def _w_message(
    wf: WireFormat,
    cache: _MarshalCache,
    buf: bytearray,
    bb: int,
    bn: int,
    m: Any,
    command_id: int,
    response_required: bool,
    destination: Any,
    transaction_id: Any,
    user_id: str | None,
    redelivery_counter: int,
    broker_in_time: int,
    depth: int,
) -> tuple[int, int]:
    """The fields of JMS message ``m`` (with the given values in place of its own for the
    fields a broker rewrites), appended to ``buf`` and the boolean stream ``bb``/``bn``."""
    index = cache.index
    w_cached = codec._w_cached
    buf += _p32(command_id)
    if response_required:
        bb |= 1 << bn
    bn += 1
    # a null cached field is a cache entry too: its slot, while no cache miss may have evicted it
    pnone = _none_slot(index)
    for v in (m.producer_id, destination, transaction_id, m.original_destination):
        if v is None and pnone is not None:
            bn += 1
            buf += pnone
            continue
        slot = index.get(v._key() if isinstance(v, DataStructure) else v)
        if slot is None:
            bb, bn = _slow_write(wf, cache, buf, bb, bn, w_cached, v, depth)
            pnone = _none_slot(index)
        else:
            bn += 1
            buf += _p16(slot)
    # message_id: nested MessageId
    mid = m.message_id
    if type(mid) is _MessageId:
        bb |= 1 << bn
        bn += 1
        buf.append(spec.MESSAGE_ID)
        tv = mid.text_view
        if tv is None:
            bn += 1
        elif type(tv) is str and tv.isascii() and "\x00" not in tv and len(tv) < 0x7FFF:
            bb |= 3 << bn
            bn += 2
            buf += _pu16(len(tv))
            buf += tv.encode("ascii")
        else:
            bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_string, tv, "text_view")
        p = mid.producer_id
        slot = index.get(p._key() if isinstance(p, DataStructure) else p)
        if slot is None:
            bb, bn = _slow_write(wf, cache, buf, bb, bn, w_cached, p, depth + 1)
            pnone = _none_slot(index)
        else:
            bn += 1
            buf += _p16(slot)
        for v in (mid.producer_sequence_id, mid.broker_sequence_id):
            if type(v) is not int or not _LONG_MIN <= v <= _LONG_MAX:
                bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_long, v, "sequence id")
                continue
            u = v & _M64
            if u == 0:
                pass
            elif u <= 0xFFFF:
                bb |= 2 << bn
                buf += _pu16(u)
            elif u <= 0xFFFF_FFFF:
                bb |= 1 << bn
                buf += _pu32(u)
            else:
                bb |= 3 << bn
                buf += _p64(v)
            bn += 2
    else:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_nested, mid, depth)
    v = m.original_transaction_id
    if v is None and pnone is not None:
        bn += 1
        buf += pnone
    else:
        slot = index.get(v._key() if isinstance(v, DataStructure) else v)
        if slot is None:
            bb, bn = _slow_write(wf, cache, buf, bb, bn, w_cached, v, depth)
            pnone = _none_slot(index)
        else:
            bn += 1
            buf += _p16(slot)
    # group_id, group_sequence, correlation_id
    s = m.group_id
    if s is None:
        bn += 1
    elif type(s) is str and s.isascii() and "\x00" not in s and len(s) < 0x7FFF:
        bb |= 3 << bn
        bn += 2
        buf += _pu16(len(s))
        buf += s.encode("ascii")
    else:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_string, s, "group_id")
    try:
        buf += _p32(m.group_sequence)
    except (struct.error, TypeError):
        raise _bad("group_sequence", m.group_sequence) from None
    s = m.correlation_id
    if s is None:
        bn += 1
    elif type(s) is str and s.isascii() and "\x00" not in s and len(s) < 0x7FFF:
        bb |= 3 << bn
        bn += 2
        buf += _pu16(len(s))
        buf += s.encode("ascii")
    else:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_string, s, "correlation_id")
    if m.persistent:
        bb |= 1 << bn
    bn += 1
    # expiration, priority, reply_to, timestamp
    v = m.expiration
    if type(v) is not int or not _LONG_MIN <= v <= _LONG_MAX:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_long, v, "expiration")
    else:
        u = v & _M64
        if u == 0:
            pass
        elif u <= 0xFFFF:
            bb |= 2 << bn
            buf += _pu16(u)
        elif u <= 0xFFFF_FFFF:
            bb |= 1 << bn
            buf += _pu32(u)
        else:
            bb |= 3 << bn
            buf += _p64(v)
        bn += 2
    try:
        buf += _p8(m.priority)
    except (struct.error, TypeError):
        raise _bad("priority", m.priority) from None
    if m.reply_to is None:
        bn += 1
    else:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_nested, m.reply_to, depth)
    v = m.timestamp
    if type(v) is not int or not _LONG_MIN <= v <= _LONG_MAX:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_long, v, "timestamp")
    else:
        u = v & _M64
        if u == 0:
            pass
        elif u <= 0xFFFF:
            bb |= 2 << bn
            buf += _pu16(u)
        elif u <= 0xFFFF_FFFF:
            bb |= 1 << bn
            buf += _pu32(u)
        else:
            bb |= 3 << bn
            buf += _p64(v)
        bn += 2
    s = m.type
    if s is None:
        bn += 1
    elif type(s) is str and s.isascii() and "\x00" not in s and len(s) < 0x7FFF:
        bb |= 3 << bn
        bn += 2
        buf += _pu16(len(s))
        buf += s.encode("ascii")
    else:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_string, s, "type")
    # content, marshalled_properties
    for b in (m.content, m.marshalled_properties):
        if b is None:
            bn += 1
            continue
        bb |= 1 << bn
        bn += 1
        if type(b) is not bytes:
            b = bytes(b)
        buf += _p32(len(b))
        buf += b
    if m.data_structure is None:
        bn += 1
    else:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_nested, m.data_structure, depth)
    v = m.target_consumer_id
    if v is None and pnone is not None:
        bn += 1
        buf += pnone
    else:
        slot = index.get(v._key() if isinstance(v, DataStructure) else v)
        if slot is None:
            bb, bn = _slow_write(wf, cache, buf, bb, bn, w_cached, v, depth)
        else:
            bn += 1
            buf += _p16(slot)
    if m.compressed:
        bb |= 1 << bn
    bn += 1
    try:
        buf += _p32(redelivery_counter)
    except (struct.error, TypeError):
        raise _bad("redelivery_counter", redelivery_counter) from None
    if m.broker_path is None:
        bn += 1
    else:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_field, _F_BROKER_PATH, m.broker_path, depth)
    v = m.arrival
    if type(v) is not int or not _LONG_MIN <= v <= _LONG_MAX:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_long, v, "arrival")
    else:
        u = v & _M64
        if u == 0:
            pass
        elif u <= 0xFFFF:
            bb |= 2 << bn
            buf += _pu16(u)
        elif u <= 0xFFFF_FFFF:
            bb |= 1 << bn
            buf += _pu32(u)
        else:
            bb |= 3 << bn
            buf += _p64(v)
        bn += 2
    s = user_id
    if s is None:
        bn += 1
    elif type(s) is str and s.isascii() and "\x00" not in s and len(s) < 0x7FFF:
        bb |= 3 << bn
        bn += 2
        buf += _pu16(len(s))
        buf += s.encode("ascii")
    else:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_string, s, "user_id")
    if m.recieved_by_df_bridge:
        bb |= 1 << bn
    if m.droppable:
        bb |= 2 << bn
    bn += 2
    if m.cluster is None:
        bn += 1
    else:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_field, _F_CLUSTER, m.cluster, depth)
    for v in (broker_in_time, m.broker_out_time):
        if type(v) is not int or not _LONG_MIN <= v <= _LONG_MAX:
            bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_long, v, "broker time")
            continue
        u = v & _M64
        if u == 0:
            pass
        elif u <= 0xFFFF:
            bb |= 2 << bn
            buf += _pu16(u)
        elif u <= 0xFFFF_FFFF:
            bb |= 1 << bn
            buf += _pu32(u)
        else:
            bb |= 3 << bn
            buf += _p64(v)
        bn += 2
    if m.jmsx_group_first_for_consumer:
        bb |= 1 << bn
    bn += 1
    return bb, bn


def _frame(wf: WireFormat, code: int, bb: int, bn: int, buf: bytearray) -> bytes:
    """``[size] type boolean-stream data`` for one command."""
    n = (bn + 7) >> 3
    if n < 64:
        head = bytes((code, n))
    elif n < 256:
        head = bytes((code, 0xC0, n))
    elif n <= 0x7FFF:
        head = bytes((code, 0x80)) + _p16(n)
    else:
        raise OpenWireCodecError("too many booleans for one command", fatal=False)
    head += bb.to_bytes(n, "little")
    if wf.size_prefix_disabled:
        return head + buf
    size = len(head) + len(buf)
    if size > wf.max_frame_size:
        raise OpenWireCodecError(f"frame of {size} bytes exceeds {wf.max_frame_size}", fatal=False)
    return _p32(size) + head + buf


def _state(parser: OpenWireParser) -> tuple[WireFormat, _MarshalCache]:
    cache = parser._out_cache
    assert cache is not None and parser._fast_write is not None
    cache.sweep()
    return parser._wf, cache


def dispatch_frame(
    parser: OpenWireParser,
    consumer_id: Any,
    m: Any,
    redelivery_counter: int,
    destination: Any,
    user_id: str | None,
    broker_in_time: int,
    command_id: int = 0,
) -> bytes:
    """The frame of ``MessageDispatch(consumer_id, destination, message, redelivery_counter)``
    where ``message`` is ``m`` with command id 0, no response wanted, no transaction and the
    given ``destination``, ``user_id``, ``redelivery_counter`` and ``broker_in_time`` (what the
    broker changes in a message it dispatches), without building either object.

    Only while ``parser.fast_write`` is true; ``type(m)`` must be one of :data:`MESSAGE_CLASSES`.
    """
    wf, cache = _state(parser)
    index = cache.index
    buf = bytearray(_p32(command_id))
    bb = 0
    bn = 1  # response_required: False
    for v in (consumer_id, destination):
        slot = index.get(v._key() if isinstance(v, DataStructure) else v)
        if slot is None:
            bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_cached, v, 0)
        else:
            bn += 1
            buf += _p16(slot)
    bb |= 1 << bn  # message present; the next bit (a cached marshalled form) stays clear
    bn += 2
    buf.append(m.type_code)
    bb, bn = _w_message(
        wf, cache, buf, bb, bn, m, 0, False, destination, None, user_id, redelivery_counter, broker_in_time, 1
    )
    try:
        buf += _p32(redelivery_counter)
    except (struct.error, TypeError):
        raise _bad("redelivery_counter", redelivery_counter) from None
    return _frame(wf, spec.MESSAGE_DISPATCH, bb, bn, buf)


def message_frame(parser: OpenWireParser, m: Any) -> bytes:
    """The frame of JMS message ``m`` (one of :data:`MESSAGE_CLASSES`) as the generic encoder
    writes it."""
    wf, cache = _state(parser)
    buf = bytearray()
    bb, bn = _w_message(
        wf,
        cache,
        buf,
        0,
        0,
        m,
        m.command_id,
        m.response_required,
        m.destination,
        m.transaction_id,
        m.user_id,
        m.redelivery_counter,
        m.broker_in_time,
        0,
    )
    return _frame(wf, m.type_code, bb, bn, buf)


def _int_arg(value: Any, what: str) -> bytes:
    try:
        return _p32(value)
    except (struct.error, TypeError):
        raise _bad(what, value) from None


def response_frame(
    parser: OpenWireParser, correlation_id: int, command_id: int = 0, response_required: bool = False
) -> bytes:
    """The frame of ``Response(command_id=..., correlation_id=..., response_required=...)``."""
    wf, _cache = _state(parser)
    body = (
        (b"\x1e\x01\x01" if response_required else b"\x1e\x01\x00")
        + _int_arg(command_id, "command_id")
        + _int_arg(correlation_id, "correlation_id")
    )
    return body if wf.size_prefix_disabled else b"\x00\x00\x00\x0b" + body


def _encode_message(parser: OpenWireParser, m: Any) -> bytes:
    return message_frame(parser, m)


def _encode_response(parser: OpenWireParser, r: Any) -> bytes:
    return response_frame(parser, r.correlation_id, r.command_id, r.response_required)


def _encode_dispatch(parser: OpenWireParser, d: Any) -> bytes | None:
    m = d.message
    if type(m) not in _MESSAGE_SET or d.response_required:
        return None
    if (
        m.command_id != 0
        or m.response_required
        or m.transaction_id is not None
        or m.destination != d.destination
    ):
        return None
    if m.redelivery_counter != d.redelivery_counter:
        return None
    return dispatch_frame(
        parser,
        d.consumer_id,
        m,
        d.redelivery_counter,
        d.destination,
        m.user_id,
        m.broker_in_time,
        d.command_id,
    )


_MESSAGE_SET = frozenset(MESSAGE_CLASSES)


def install() -> None:
    """Register the fast readers and writers with the codec (idempotent)."""
    for cls in MESSAGE_CLASSES:
        FAST_READERS[cls.type_code] = _message_reader(cls)
        FAST_WRITERS[cls] = _encode_message
    FAST_READERS[spec.MESSAGE_ACK] = _read_ack
    FAST_WRITERS[spec.Response] = _encode_response
    FAST_WRITERS[spec.MessageDispatch] = _encode_dispatch


install()
