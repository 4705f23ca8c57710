"""Hand-written fast paths for OpenWire's hot commands, beside the generic table-driven codec.

The generic codec (:mod:`.codec`) walks the field table once per field, with a call per field
and a list of booleans per command. A JMS producer, consumer and broker exchange only a few
command types once running: the JMS messages themselves (one per send, one inside each
MessageDispatch), MessageAck and Response. This module decodes those in the form the
ActiveMQ JMS client negotiates by default (tight encoding, marshal cache on, version 10 or
later) as straight-line code, and registers the writers of :mod:`.fastwrite`:

* a frame whose boolean stream was seen before is read by the reader :mod:`.shapes` compiled
  for that stream (constant offsets, no bit tests);
* otherwise the boolean stream is one Python ``int`` (bit ``i`` of the stream is bit ``i`` of
  the integer) and data is read with ``unpack_from`` at a local offset;
* the common values (a cache hit, a null, an ASCII string, a long) are inlined; anything
  else (a cache miss, a nested structure) goes through the generic codec's own field code on
  a temporary reader positioned at the same place, so the decoded objects are the same as
  the generic codec's.

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

from . import codec, shapes, spec
from .codec import FAST_READERS, FAST_WRITERS, WireFormat, _In
from .fastwrite import (
    MESSAGE_CLASSES,
    WRITERS,
    dispatch_frame,
    message_frame,
    response_frame,
    shared_dispatch_frame,
)
from .props import decode_mutf8
from .shapes import _SHAPES, NO_SHAPE
from .spec import DataStructure

__all__ = [
    "FALLBACK",
    "install",
    "dispatch_frame",
    "shared_dispatch_frame",
    "message_frame",
    "response_frame",
    "MESSAGE_CLASSES",
]

FALLBACK: Any = codec.FAST_FALLBACK

_i16 = struct.Struct(">h").unpack_from
_u16 = struct.Struct(">H").unpack_from
_i32 = struct.Struct(">i").unpack_from
_u32 = struct.Struct(">I").unpack_from
_i64 = struct.Struct(">q").unpack_from
_new = object.__new__
_set = object.__setattr__

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
_F_POISON = _field("MessageAck", "poison_cause")


class _Miss(Exception):
    """Not a frame the fast reader handles (the generic reader takes over)."""


# -- reading -------------------------------------------------------------------------------


#: the cache slots the fast read of the current frame wrote, with their old values: when it
#: gives up on the frame they are put back, so the generic reader starts from the same cache
_undo: list[tuple[list[Any], int, Any]] = []


class _Journal:
    """The inbound marshal cache as the generic codec sees it during a fast read: every
    write is recorded in ``_undo`` first."""

    __slots__ = ("cache",)

    def __init__(self, cache: list[Any]) -> None:
        self.cache = cache

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, slot: int) -> Any:
        return self.cache[slot]

    def __setitem__(self, slot: int, value: Any) -> None:
        _undo.append((self.cache, slot, self.cache[slot]))
        self.cache[slot] = value


def _rollback() -> None:
    while _undo:
        cache, slot, old = _undo.pop()
        cache[slot] = old


def _slow_read(
    data: bytes, pos: int, end: int, wf: WireFormat, cache: list[Any], raw: bytes, bp: int, f: Any, depth: int
) -> tuple[Any, int, int]:
    """One field read by the generic codec from (``pos``, bit ``bp``): value, pos, bit pos."""
    src = _In(data, pos, end, wf, _Journal(cache), False)  # type: ignore[arg-type]
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


def _shape_reader(cls: type[DataStructure], other: Any) -> Any:
    """The fast reader of ``cls`` frames: the compiled reader of the frame's shape (the last
    one used is checked first, without building its key), else ``other(data, pos, end, wf,
    cache)``."""
    code = cls.type_code
    shape_of = _SHAPES.get
    last_raw = b""
    last_version = -1
    last_read: Any = None

    def read(data: bytes, pos: int, end: int, wf: WireFormat, cache: list[Any] | None) -> Any:
        nonlocal last_raw, last_version, last_read
        try:
            if cache is not None:
                n = data[pos]
                if n < 64:  # a one-byte boolean stream length: the shape is its bytes
                    start = pos + 1
                    if n == len(last_raw) and wf.version == last_version and data.startswith(last_raw, start):
                        return last_read(data, start + n, end, cache)
                    raw = data[start : start + n]
                    r = shape_of((code, wf.version, raw))
                    if r is None:
                        r = shapes.reader(cls, wf.version, raw)
                    if r is not NO_SHAPE:
                        last_raw, last_version, last_read = raw, wf.version, r
                        return r(data, start + n, end, cache)
            obj = other(data, pos, end, wf, cache)
        except Exception:
            _rollback()
            return FALLBACK
        if _undo:
            _undo.clear()  # the frame was taken: its cache writes stand
        return obj

    return read


def _message_reader(cls: type[DataStructure]) -> Any:
    return _shape_reader(cls, lambda data, pos, end, wf, cache: _read_message(cls, data, pos, end, wf, cache))


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


def install() -> None:
    """Register the fast readers and writers with the codec (idempotent)."""
    for cls in MESSAGE_CLASSES:
        FAST_READERS[cls.type_code] = _message_reader(cls)
    FAST_READERS[spec.MESSAGE_ACK] = _shape_reader(spec.MessageAck, _read_ack_frame)
    FAST_WRITERS.update(WRITERS)


install()
