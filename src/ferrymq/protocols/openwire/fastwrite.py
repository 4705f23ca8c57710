"""Hand-written writers for OpenWire's hot commands (tight encoding, marshal cache on,
version 10 or later): byte for byte what the generic writer of :mod:`.codec` gives.

The boolean stream is one Python ``int`` (bit ``i`` of the stream is bit ``i`` of the
integer; ``to_bytes(..., "little")`` writes it) and the data one ``bytearray``. The common
values (a cache hit, a null, an ASCII string, a long) are written inline; anything else (a
cache miss, a nested structure, a non-ASCII string, an out-of-range value) goes through the
generic codec's own field writer on a temporary writer whose booleans and bytes are then
appended, so the marshal cache sees the same lookups and additions in the same order.
Encoding errors raise ``OpenWireCodecError(fatal=False)`` as the generic writer does.
"""

from __future__ import annotations

import struct
from typing import Any

from . import codec, spec
from .codec import OpenWireParser, WireFormat, _MarshalCache, _Out
from .spec import DataStructure, OpenWireCodecError

__all__ = [
    "MESSAGE_CLASSES",
    "dispatch_frame",
    "shared_dispatch_frame",
    "message_frame",
    "response_frame",
    "WRITERS",
]

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_p8 = _I8.pack
_p16 = _I16.pack
_pu16 = _U16.pack
_p32 = _I32.pack
_pu32 = _U32.pack
_p64 = _I64.pack
_M64 = 0xFFFF_FFFF_FFFF_FFFF
#: a dispatch's command id, consumer id slot, destination slot and message type code
_HEAD = struct.Struct(">ihhB").pack
#: a frame's size, type code and one-byte boolean stream length
_DISPATCH_HEAD = struct.Struct(">iBB").pack
_LONG_MIN = -(1 << 63)
_LONG_MAX = (1 << 63) - 1
_MessageId = spec.MessageId

#: the JMS message types with the plain Message field list (the blob message has more)
MESSAGE_CLASSES: tuple[type[DataStructure], ...] = (
    spec.ActiveMQMessage,
    spec.ActiveMQBytesMessage,
    spec.ActiveMQMapMessage,
    spec.ActiveMQObjectMessage,
    spec.ActiveMQStreamMessage,
    spec.ActiveMQTextMessage,
)


def _field(type_name: str, name: str) -> spec.FieldSpec:
    cls = spec.CLASSES[type_name]
    for f in spec.fields_for(cls.type_code, spec.MAX_VERSION):
        if f.name == name:
            return f
    raise KeyError(name)  # pragma: no cover - names below are from the table


_F_BROKER_PATH = _field("ActiveMQMessage", "broker_path")
_F_CLUSTER = _field("ActiveMQMessage", "cluster")


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


def _w_message_id(
    wf: WireFormat,
    cache: _MarshalCache,
    buf: bytearray,
    bb: int,
    bn: int,
    mid: Any,
    pnone: bytes | None,
    depth: int,
) -> tuple[int, int, bytes | None]:
    """A message's MessageId (a nested structure, its producer id cached), appended to
    ``buf`` and the boolean stream; ``pnone`` is the null slot, renewed after a cache miss."""
    index = cache.index
    w_cached = codec._w_cached
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
    return bb, bn, pnone


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
    bb, bn, pnone = _w_message_id(wf, cache, buf, bb, bn, m.message_id, pnone, depth)
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


_ZERO = 0


def _w_common(
    wf: WireFormat,
    cache: _MarshalCache,
    buf: bytearray,
    bb: int,
    bn: int,
    m: Any,
    command_id: int,
    destination: Any,
    user_id: str | None,
    redelivery_counter: int,
    broker_in_time: int,
    depth: int,
) -> tuple[int, int] | None:
    """:func:`_w_message` (no response wanted, no transaction) for the message a JMS client
    usually sends: none of the fields below set. Those fields are checked, not written one by
    one (their booleans are all clear, their data is the null slot or zeros); ``None`` when
    one of them is set, before anything is written."""
    if not (
        m.original_destination is None
        and m.original_transaction_id is None
        and m.group_id is None
        and m.group_sequence is _ZERO
        and m.reply_to is None
        and m.data_structure is None
        and m.target_consumer_id is None
        and not m.compressed
        and m.broker_path is None
        and m.arrival is _ZERO
        and not m.recieved_by_df_bridge
        and not m.droppable
        and m.cluster is None
        and m.broker_out_time is _ZERO
        and not m.jmsx_group_first_for_consumer
    ):
        return None
    index = cache.index
    w_cached = codec._w_cached
    buf += _p32(command_id)
    bn += 1  # response_required
    pnone = _none_slot(index)
    for v in (m.producer_id, destination):
        slot = index.get(v._key() if isinstance(v, DataStructure) else v)
        if slot is None:
            bb, bn = _slow_write(wf, cache, buf, bb, bn, w_cached, v, depth)
            pnone = _none_slot(index)
        else:
            bn += 1
            buf += _p16(slot)
    for _ in range(2):  # transaction_id, original_destination: null
        if pnone is None:
            bb, bn = _slow_write(wf, cache, buf, bb, bn, w_cached, None, depth)
            pnone = _none_slot(index)
        else:
            bn += 1
            buf += pnone
    bb, bn, pnone = _w_message_id(wf, cache, buf, bb, bn, m.message_id, pnone, depth)
    # original_transaction_id: null; group_id: null (1 bit); group_sequence: 0
    if pnone is None:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, w_cached, None, depth)
        pnone = _none_slot(index)
        bn += 1
        buf += b"\x00\x00\x00\x00"
    else:
        bn += 2
        buf += pnone + b"\x00\x00\x00\x00"
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
    for i, v in enumerate((m.expiration, m.priority, m.timestamp)):
        if i == 1:  # priority: a byte; then reply_to: null (1 bit)
            try:
                buf += _p8(v)
            except (struct.error, TypeError):
                raise _bad("priority", v) from None
            bn += 1
            continue
        if type(v) is not int or not _LONG_MIN <= v <= _LONG_MAX:
            bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_long, v, "expiration or timestamp")
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
    bn += 1  # data_structure: null
    # target_consumer_id: null; compressed: false
    if pnone is None:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, w_cached, None, depth)
        bn += 1
    else:
        bn += 2
        buf += pnone
    try:
        buf += _p32(redelivery_counter)
    except (struct.error, TypeError):
        raise _bad("redelivery_counter", redelivery_counter) from None
    bn += 3  # broker_path: null; arrival: 0
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
    bn += 3  # recieved_by_df_bridge, droppable: false; cluster: null
    v = broker_in_time
    if type(v) is not int or not _LONG_MIN <= v <= _LONG_MAX:
        bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_long, v, "broker_in_time")
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
    return bb, bn + 3  # broker_out_time: 0; jmsx_group_first_for_consumer: false


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
    if len(cache.index) > cache.limit:
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
    cache = parser._out_cache
    assert cache is not None and parser._fast_write is not None
    index = cache.index
    if len(index) > cache.limit:
        cache.sweep()
    wf = parser._wf
    k = getattr(consumer_id, "_kc", None)
    cslot = None if k is None else index.get(k)
    k = getattr(destination, "_kc", None)
    dslot = None if k is None else index.get(k)
    if cslot is not None and dslot is not None and type(command_id) is int:
        # both cache hits (the usual case): command id, two slots and the message's type code
        buf = bytearray(_HEAD(command_id, cslot, dslot, m.type_code))
        bb = 8  # response_required, the two "new value" bits: clear; message present: set
        bn = 5  # ... and its "cached marshalled form" bit: clear
    else:
        buf = bytearray(_p32(command_id) if command_id else b"\x00\x00\x00\x00")
        bb = 0
        bn = 1  # response_required: False
        for v in (consumer_id, destination):
            slot = index.get((getattr(v, "_kc", None) or v._key()) if isinstance(v, DataStructure) else v)
            if slot is None:
                bb, bn = _slow_write(wf, cache, buf, bb, bn, codec._w_cached, v, 0)
            else:
                bn += 1
                buf += _p16(slot)
        bb |= 1 << bn  # message present; the next bit (a cached marshalled form) stays clear
        bn += 2
        buf.append(m.type_code)
    got = None
    try:
        ws = m._wshape  # the writer for the layout the shape reader saw
    except AttributeError:
        ws = None
    if ws is not None:
        mark = len(buf)
        try:
            write = ws._write or ws.write
            got = write(m, buf, bb, bn, index, destination, user_id, redelivery_counter, broker_in_time)
        except Exception:
            got = None
        if got is None:
            del buf[mark:]
    if got is None:
        got = _w_common(
            wf, cache, buf, bb, bn, m, 0, destination, user_id, redelivery_counter, broker_in_time, 1
        )
    if got is None:
        bb, bn = _w_message(
            wf,
            cache,
            buf,
            bb,
            bn,
            m,
            0,
            False,
            destination,
            None,
            user_id,
            redelivery_counter,
            broker_in_time,
            1,
        )
    else:
        bb, bn = got
    try:
        buf += _p32(redelivery_counter)
    except (struct.error, TypeError):
        raise _bad("redelivery_counter", redelivery_counter) from None
    n = (bn + 7) >> 3
    if n >= 64 or wf.size_prefix_disabled:
        return _frame(wf, spec.MESSAGE_DISPATCH, bb, bn, buf)
    size = 2 + n + len(buf)  # type byte, one-byte stream length, stream, data
    if size > wf.max_frame_size:
        raise OpenWireCodecError(f"frame of {size} bytes exceeds {wf.max_frame_size}", fatal=False)
    return _DISPATCH_HEAD(size, spec.MESSAGE_DISPATCH, n) + bb.to_bytes(n, "little") + buf


#: frames kept per message by :func:`shared_dispatch_frame` (all dropped past it)
MEMO_SIZE = 8


def _cache_key(v: Any) -> Any:
    if v is None:
        return None
    k = getattr(v, "_kc", None)
    return k if k is not None else v._key()


#: ``memo`` entry holding the cache keys of a message's own cached values
_KEYS = "keys"
#: one tuple per distinct value of :func:`_message_keys`
_INTERNED: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _intern(keys: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(_INTERNED) >= 1024:
        _INTERNED.clear()
    _INTERNED[keys] = keys
    return keys


def _message_keys(m: Any) -> tuple[Any, ...]:
    """The distinct marshal-cache keys of the cached values a dispatch of ``m`` writes besides
    the consumer id and destination (None for a null value: the null slot, always written for
    the transaction id), or ``()`` when its message id is not a MessageId."""
    mid = m.message_id
    if type(mid) is not _MessageId:
        return ()
    keys: dict[Any, None] = {None: None}  # transaction_id
    for v in (m.producer_id, m.original_destination, mid.producer_id, m.original_transaction_id):
        keys[_cache_key(v)] = None
    keys[_cache_key(m.target_consumer_id)] = None
    return tuple(keys)


def shared_dispatch_frame(
    parser: OpenWireParser,
    memo: dict[Any, Any],
    consumer_id: Any,
    m: Any,
    redelivery_counter: int,
    destination: Any,
    user_id: str | None,
    broker_in_time: int,
) -> bytes:
    """:func:`dispatch_frame` (command id 0) for a message dispatched to several consumers,
    with ``memo``, a dict kept with the message, remembering the frames made for it.

    With the marshal cache on, a dispatch's bytes depend on the connection only through the
    cache slots it writes: when every cached value of the dispatch (the consumer id, the
    destination, the message's producer, transaction, original destination and transaction,
    target consumer and its id's producer) is in this connection's cache, the frame is a
    function of those slots, the format and the per-delivery values, and a lookup that hits
    changes nothing in the cache. Such a frame is kept under that key and given to every
    dispatch of the same message with the same key (the consumers of one topic, whose
    connections usually fill their caches alike); anything else is encoded as usual."""
    cache = parser._out_cache
    assert cache is not None and parser._fast_write is not None
    index = cache.index
    if len(index) > cache.limit:
        cache.sweep()
    keys = memo.get(_KEYS)
    if keys is None:
        keys = _message_keys(m)
        if keys:  # one object for equal keys (the messages of one producer): see below
            keys = _INTERNED.get(keys) or _intern(keys)
        memo[_KEYS] = keys
    key: Any = None
    if keys:
        last = cache.shared
        if (
            last is not None
            and last[0] is keys
            and last[1] is consumer_id
            and last[2] is destination
            and last[3] == cache.version
        ):
            slots = last[4]  # the same lookups in an unchanged cache
        else:
            get = index.get
            ck = getattr(consumer_id, "_kc", None)
            dk = getattr(destination, "_kc", None)
            slots = (
                get(ck if ck is not None else _cache_key(consumer_id)),
                get(dk if dk is not None else _cache_key(destination)),
                *map(get, keys),
            )
            cache.shared = (keys, consumer_id, destination, cache.version, slots)
        if None not in slots:
            wf = parser._wf
            key = (
                slots,
                redelivery_counter,
                user_id,
                broker_in_time,
                wf.version,
                wf.size_prefix_disabled,
                wf.max_frame_size,
            )
            frame = memo.get(key)
            if frame is not None:
                return frame  # type: ignore[no-any-return]
    frame = dispatch_frame(parser, consumer_id, m, redelivery_counter, destination, user_id, broker_in_time)
    if key is not None:
        if len(memo) > MEMO_SIZE:
            memo.clear()
            memo[_KEYS] = keys
        memo[key] = frame
    return frame


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


#: command class -> ``write(parser, command) -> bytes | None`` (None: the generic writer)
WRITERS: dict[type, Any] = {spec.Response: _encode_response, spec.MessageDispatch: _encode_dispatch}
WRITERS.update(dict.fromkeys(MESSAGE_CLASSES, _encode_message))
