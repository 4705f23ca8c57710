"""AMQP 1.0 type system (OASIS AMQP 1.0 part 1): every primitive, compound and described type.

Pure and stdlib only. ``decode_value(buf, offset) -> (value, new_offset)`` and
``encode_value(value, out)`` are the two doors.

Python representation
---------------------
=====================  ===============================================================
AMQP type              Python value (decoded) / accepted when encoding
=====================  ===============================================================
null                   ``None``
boolean                ``bool``
ubyte/ushort/uint/     ``UByte``/``UShort``/``UInt``/``ULong`` (``int`` subclasses)
ulong
byte/short/int/long    ``Byte``/``Short``/``Int``/``Long``; a plain ``int`` encodes as
                       long (smalllong when it fits in one byte)
float / double         ``Float`` (``float`` subclass) / plain ``float``
decimal32/64/128       ``Decimal32``/``Decimal64``/``Decimal128`` (raw ``bytes``)
char                   ``Char`` (one-character ``str``), UTF-32 on the wire
timestamp              ``Timestamp`` (``int``, milliseconds since the Unix epoch)
uuid                   ``uuid.UUID``
binary                 ``bytes`` (``bytearray``/``memoryview`` accepted when encoding)
string                 ``str``
symbol                 ``Symbol`` (ASCII ``str`` subclass)
list                   ``list`` (``tuple`` accepted when encoding)
map                    ``dict``
array                  ``Array(type, items, descriptor=None)``
described              ``Described(descriptor, value)``, or the registered class for a
                       known descriptor (performatives, delivery states, sections ...)
=====================  ===============================================================

Encoders always pick the most compact encoding (uint0/smalluint, list0/list8, str8 ...).
Decoding errors raise :class:`AmqpCodecError` and nothing else; encoding a value that has
no AMQP form raises ``TypeError``, a value out of its type's range raises ``ValueError``.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from ferrymq.protocols.errors import CodecError

# fmt: off
__all__ = [
    "DECODE_ERROR", "FRAMING_ERROR", "AmqpCodecError", "Array", "Byte", "Char",
    "Decimal32", "Decimal64", "Decimal128", "Described", "EncodedList", "Float",
    "Int", "Long", "Short", "Symbol", "Timestamp", "UByte",
    "UInt", "ULong", "UShort", "decode_value", "encode_value", "encoded",
    "register_described", "register_encoder", "skip_value",
]
# fmt: on

DECODE_ERROR = "amqp:decode-error"
FRAMING_ERROR = "amqp:connection:framing-error"

Buffer = bytes | bytearray | memoryview


class AmqpCodecError(CodecError):
    """Bad AMQP bytes. ``condition`` is the AMQP error condition to send back."""

    def __init__(self, message: str, condition: str = DECODE_ERROR, *, fatal: bool = True) -> None:
        super().__init__(message, fatal=fatal, code=condition)
        self.condition = condition


# --------------------------------------------------------------------------- wrapper types


class Symbol(str):
    """AMQP symbol: an ASCII string from a constrained domain."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Symbol({str.__repr__(self)})"


class Char(str):
    """AMQP char: a single Unicode character (UTF-32BE on the wire)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Char({str.__repr__(self)})"


class _TypedInt(int):
    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"

    # str() is the number, as for int (other protocols render property values with str())
    __str__ = int.__repr__


class UByte(_TypedInt):
    __slots__ = ()


class UShort(_TypedInt):
    __slots__ = ()


class UInt(_TypedInt):
    __slots__ = ()


class ULong(_TypedInt):
    __slots__ = ()


class Byte(_TypedInt):
    __slots__ = ()


class Short(_TypedInt):
    __slots__ = ()


class Int(_TypedInt):
    __slots__ = ()


class Long(_TypedInt):
    __slots__ = ()


class Timestamp(_TypedInt):
    """Milliseconds since the Unix epoch (signed 64 bit)."""

    __slots__ = ()


class Float(float):
    """AMQP float: IEEE 754 binary32. A plain ``float`` is an AMQP double."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Float({float(self)!r})"

    __str__ = float.__repr__


class _Decimal(bytes):
    SIZE = 0

    def __new__(cls, raw: bytes = b"") -> _Decimal:
        if len(raw) != cls.SIZE:
            raise ValueError(f"{cls.__name__} needs exactly {cls.SIZE} bytes")
        return super().__new__(cls, raw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({bytes(self)!r})"


class Decimal32(_Decimal):
    """IEEE 754 decimal32 kept as its 4 raw bytes."""

    SIZE = 4


class Decimal64(_Decimal):
    SIZE = 8


class Decimal128(_Decimal):
    SIZE = 16


class Described:
    """A described value whose descriptor has no registered class."""

    __slots__ = ("descriptor", "value")

    def __init__(self, descriptor: Any, value: Any) -> None:
        self.descriptor = descriptor
        self.value = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Described):
            return NotImplemented
        return self.descriptor == other.descriptor and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.descriptor, _hashable(self.value)))

    def __repr__(self) -> str:
        return f"Described({self.descriptor!r}, {self.value!r})"


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


# type names and the constructor codes that carry them
# fmt: off
_CODE_NAMES: dict[int, str] = {
    0x40: "null", 0x56: "boolean", 0x41: "boolean", 0x42: "boolean", 0x50: "ubyte", 0x60: "ushort",
    0x70: "uint", 0x52: "uint", 0x43: "uint", 0x80: "ulong", 0x53: "ulong", 0x44: "ulong",
    0x51: "byte", 0x61: "short", 0x71: "int", 0x54: "int", 0x81: "long", 0x55: "long",
    0x72: "float", 0x82: "double", 0x74: "decimal32", 0x84: "decimal64", 0x94: "decimal128", 0x73: "char",
    0x83: "timestamp", 0x98: "uuid", 0xA0: "binary", 0xB0: "binary", 0xA1: "string", 0xB1: "string",
    0xA3: "symbol", 0xB3: "symbol", 0x45: "list", 0xC0: "list", 0xD0: "list", 0xC1: "map",
    0xD1: "map", 0xE0: "array", 0xF0: "array",
}
# fmt: on
TYPE_NAMES = frozenset(_CODE_NAMES.values())


class Array:
    """AMQP array: items of one type (``type`` is a type name such as ``"symbol"`` or a
    constructor code), optionally all described by one ``descriptor``."""

    __slots__ = ("type", "items", "descriptor")

    def __init__(self, type: str | int, items: Iterable[Any] = (), descriptor: Any = None) -> None:
        if isinstance(type, int):
            name = _CODE_NAMES.get(type)
            if name is None:
                raise ValueError(f"unknown AMQP constructor 0x{type:02x}")
            type = name
        elif type not in TYPE_NAMES:
            raise ValueError(f"unknown AMQP type name {type!r}")
        self.type: str = type
        self.items: list[Any] = list(items)
        self.descriptor = descriptor

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Array):
            return NotImplemented
        return self.type == other.type and self.descriptor == other.descriptor and self.items == other.items

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Any:
        return iter(self.items)

    def __repr__(self) -> str:
        d = f", descriptor={self.descriptor!r}" if self.descriptor is not None else ""
        return f"Array({self.type!r}, {self.items!r}{d})"


class EncodedList:
    """A list body encoded ahead of time (count, content bytes); composites use it so
    their fields keep their declared AMQP types inside arrays."""

    __slots__ = ("count", "content")

    def __init__(self, count: int, content: bytes | bytearray) -> None:
        self.count = count
        self.content = content


# --------------------------------------------------------------------------- decoding

_DecodeFn = Callable[[Any, int], tuple[Any, int]]

_u8 = struct.Struct(">B").unpack_from
_i8 = struct.Struct(">b").unpack_from
_u16 = struct.Struct(">H").unpack_from
_i16 = struct.Struct(">h").unpack_from
_u32 = struct.Struct(">I").unpack_from
_i32 = struct.Struct(">i").unpack_from
_u64 = struct.Struct(">Q").unpack_from
_i64 = struct.Struct(">q").unpack_from
_f32 = struct.Struct(">f").unpack_from
_f64 = struct.Struct(">d").unpack_from
_u32x2 = struct.Struct(">II").unpack_from

#: descriptor (ULong code or Symbol name) -> converter of the described value
_DESCRIBED: dict[Any, Callable[[Any], Any]] = {}


def register_described(descriptors: Iterable[Any], converter: Callable[[Any], Any]) -> None:
    """Make decoding of a described value with one of ``descriptors`` call ``converter(value)``."""
    for d in descriptors:
        _DESCRIBED[d] = converter
        if type(d) is ULong and d < 256:
            _DESCRIBED_SMALL[d] = converter


# one-byte values are shared instances (they are immutable)
_UBYTES = [UByte(i) for i in range(256)]
_UINTS = [UInt(i) for i in range(256)]
_ULONGS = [ULong(i) for i in range(256)]
_UINT0 = _UINTS[0]
_ULONG0 = _ULONGS[0]
#: converters for smallulong descriptors, indexed by code (the common case on the wire)
_DESCRIBED_SMALL: list[Callable[[Any], Any] | None] = [None] * 256


def _fail(msg: str) -> AmqpCodecError:
    return AmqpCodecError(msg)


def _d_null(b: Any, p: int) -> tuple[Any, int]:
    return None, p


def _d_true(b: Any, p: int) -> tuple[Any, int]:
    return True, p


def _d_false(b: Any, p: int) -> tuple[Any, int]:
    return False, p


def _d_bool(b: Any, p: int) -> tuple[Any, int]:
    v = b[p]
    if v > 1:
        raise _fail(f"invalid boolean octet 0x{v:02x}")
    return v == 1, p + 1


def _d_ubyte(b: Any, p: int) -> tuple[Any, int]:
    return _UBYTES[b[p]], p + 1


def _d_ushort(b: Any, p: int) -> tuple[Any, int]:
    return UShort(_u16(b, p)[0]), p + 2


def _d_uint(b: Any, p: int) -> tuple[Any, int]:
    return UInt(_u32(b, p)[0]), p + 4


def _d_smalluint(b: Any, p: int) -> tuple[Any, int]:
    return _UINTS[b[p]], p + 1


def _d_uint0(b: Any, p: int) -> tuple[Any, int]:
    return _UINT0, p


def _d_ulong(b: Any, p: int) -> tuple[Any, int]:
    return ULong(_u64(b, p)[0]), p + 8


def _d_smallulong(b: Any, p: int) -> tuple[Any, int]:
    return _ULONGS[b[p]], p + 1


def _d_ulong0(b: Any, p: int) -> tuple[Any, int]:
    return _ULONG0, p


def _d_byte(b: Any, p: int) -> tuple[Any, int]:
    return Byte(_i8(b, p)[0]), p + 1


def _d_short(b: Any, p: int) -> tuple[Any, int]:
    return Short(_i16(b, p)[0]), p + 2


def _d_int(b: Any, p: int) -> tuple[Any, int]:
    return Int(_i32(b, p)[0]), p + 4


def _d_smallint(b: Any, p: int) -> tuple[Any, int]:
    return Int(_i8(b, p)[0]), p + 1


def _d_long(b: Any, p: int) -> tuple[Any, int]:
    return Long(_i64(b, p)[0]), p + 8


def _d_smalllong(b: Any, p: int) -> tuple[Any, int]:
    return Long(_i8(b, p)[0]), p + 1


def _d_float(b: Any, p: int) -> tuple[Any, int]:
    return Float(_f32(b, p)[0]), p + 4


def _d_double(b: Any, p: int) -> tuple[Any, int]:
    return _f64(b, p)[0], p + 8


def _fixed_bytes(b: Any, p: int, n: int) -> bytes:
    end = p + n
    if end > len(b):
        raise _fail("truncated value")
    return bytes(b[p:end])


def _d_dec32(b: Any, p: int) -> tuple[Any, int]:
    return Decimal32(_fixed_bytes(b, p, 4)), p + 4


def _d_dec64(b: Any, p: int) -> tuple[Any, int]:
    return Decimal64(_fixed_bytes(b, p, 8)), p + 8


def _d_dec128(b: Any, p: int) -> tuple[Any, int]:
    return Decimal128(_fixed_bytes(b, p, 16)), p + 16


def _d_char(b: Any, p: int) -> tuple[Any, int]:
    cp = _u32(b, p)[0]
    if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        raise _fail(f"invalid char code point 0x{cp:x}")
    return Char(chr(cp)), p + 4


def _d_timestamp(b: Any, p: int) -> tuple[Any, int]:
    return Timestamp(_i64(b, p)[0]), p + 8


def _d_uuid(b: Any, p: int) -> tuple[Any, int]:
    return uuid.UUID(bytes=_fixed_bytes(b, p, 16)), p + 16


def _var8(b: Any, p: int) -> tuple[int, int]:
    start = p + 1
    end = start + b[p]
    if end > len(b):
        raise _fail("truncated variable-width value")
    return start, end


def _var32(b: Any, p: int) -> tuple[int, int]:
    start = p + 4
    end = start + _u32(b, p)[0]
    if end > len(b):
        raise _fail("truncated variable-width value")
    return start, end


def _d_vbin8(b: Any, p: int) -> tuple[Any, int]:
    s, e = _var8(b, p)
    return bytes(b[s:e]), e


def _d_vbin32(b: Any, p: int) -> tuple[Any, int]:
    s, e = _var32(b, p)
    return bytes(b[s:e]), e


def _d_str8(b: Any, p: int) -> tuple[Any, int]:
    s, e = _var8(b, p)
    return str(b[s:e], "utf-8"), e


def _d_str32(b: Any, p: int) -> tuple[Any, int]:
    s, e = _var32(b, p)
    return str(b[s:e], "utf-8"), e


def _d_sym8(b: Any, p: int) -> tuple[Any, int]:
    s, e = _var8(b, p)
    return Symbol(str(b[s:e], "ascii")), e


def _d_sym32(b: Any, p: int) -> tuple[Any, int]:
    s, e = _var32(b, p)
    return Symbol(str(b[s:e], "ascii")), e


def _decode(b: Any, p: int) -> tuple[Any, int]:
    fn = _DEC[b[p]]
    if fn is None:
        raise _fail(f"unknown constructor 0x{b[p]:02x}")
    return fn(b, p + 1)


def _list_items(b: Any, q: int, count: int, end: int) -> tuple[list[Any], int]:
    if end > len(b):
        raise _fail("truncated compound value")
    if count > end - q:
        raise _fail("compound count larger than its size")
    items: list[Any] = []
    append = items.append
    dec = _DEC
    for _ in range(count):
        fn = dec[b[q]]
        if fn is None:
            raise _fail(f"unknown constructor 0x{b[q]:02x}")
        v, q = fn(b, q + 1)
        append(v)
    if q != end:
        raise _fail("compound size does not match its contents")
    return items, q


def _d_list0(b: Any, p: int) -> tuple[Any, int]:
    return [], p


def _d_list8(b: Any, p: int) -> tuple[Any, int]:
    size = b[p]
    if size < 1:
        raise _fail("list8 size too small")
    return _list_items(b, p + 2, b[p + 1], p + 1 + size)


def _d_list32(b: Any, p: int) -> tuple[Any, int]:
    size, count = _u32x2(b, p)
    if size < 4:
        raise _fail("list32 size too small")
    return _list_items(b, p + 8, count, p + 4 + size)


def _map_items(b: Any, q: int, count: int, end: int) -> tuple[dict[Any, Any], int]:
    if count & 1:
        raise _fail("map with an odd number of elements")
    items, q = _list_items(b, q, count, end)
    it = iter(items)
    return dict(zip(it, it, strict=True)), q


def _d_map8(b: Any, p: int) -> tuple[Any, int]:
    size = b[p]
    if size < 1:
        raise _fail("map8 size too small")
    return _map_items(b, p + 2, b[p + 1], p + 1 + size)


def _d_map32(b: Any, p: int) -> tuple[Any, int]:
    size, count = _u32x2(b, p)
    if size < 4:
        raise _fail("map32 size too small")
    return _map_items(b, p + 8, count, p + 4 + size)


_ZERO_WIDTH = frozenset((0x40, 0x41, 0x42, 0x43, 0x44, 0x45))
_MAX_ZERO_WIDTH_ITEMS = 65536


def _array_items(b: Any, q: int, count: int, end: int) -> tuple[Any, int]:
    if end > len(b):
        raise _fail("truncated array")
    code = b[q]
    q += 1
    descriptor = None
    if code == 0x00:
        descriptor, q = _decode(b, q)
        code = b[q]
        q += 1
    fn = _DEC[code]
    if fn is None or code == 0x00:
        raise _fail(f"invalid array element constructor 0x{code:02x}")
    if code in _ZERO_WIDTH:
        # elements take no bytes: nothing may follow the constructor, and the count is capped
        if q != end or count > _MAX_ZERO_WIDTH_ITEMS:
            raise _fail("invalid array of zero-width elements")
    elif count > end - q:
        raise _fail("array count larger than its size")
    items: list[Any] = []
    append = items.append
    for _ in range(count):
        v, q = fn(b, q)
        append(v)
    if q != end:
        raise _fail("array size does not match its contents")
    if descriptor is not None:
        conv = _DESCRIBED.get(descriptor) if type(descriptor) in (ULong, Symbol) else None
        if conv is not None:
            items = [conv(v) for v in items]
        else:
            items = [Described(descriptor, v) for v in items]
    return Array(_CODE_NAMES[code], items, descriptor), q


def _d_array8(b: Any, p: int) -> tuple[Any, int]:
    size = b[p]
    if size < 2:
        raise _fail("array8 size too small")
    return _array_items(b, p + 2, b[p + 1], p + 1 + size)


def _d_array32(b: Any, p: int) -> tuple[Any, int]:
    size, count = _u32x2(b, p)
    if size < 5:
        raise _fail("array32 size too small")
    return _array_items(b, p + 8, count, p + 4 + size)


def _d_described(b: Any, p: int) -> tuple[Any, int]:
    if b[p] == 0x53:  # smallulong descriptor: performatives, sections, outcomes
        conv = _DESCRIBED_SMALL[b[p + 1]]
        if conv is not None:
            value, p = _decode(b, p + 2)
            return conv(value), p
    descriptor, p = _decode(b, p)
    value, p = _decode(b, p)
    if type(descriptor) in (ULong, Symbol):
        conv = _DESCRIBED.get(descriptor)
        if conv is not None:
            return conv(value), p
    return Described(descriptor, value), p


_DEC: list[_DecodeFn | None] = [None] * 256
# fmt: off
for _code, _fn in {
    0x00: _d_described, 0x40: _d_null, 0x41: _d_true, 0x42: _d_false,
    0x56: _d_bool, 0x50: _d_ubyte, 0x60: _d_ushort, 0x70: _d_uint,
    0x52: _d_smalluint, 0x43: _d_uint0, 0x80: _d_ulong, 0x53: _d_smallulong,
    0x44: _d_ulong0, 0x51: _d_byte, 0x61: _d_short, 0x71: _d_int,
    0x54: _d_smallint, 0x81: _d_long, 0x55: _d_smalllong, 0x72: _d_float,
    0x82: _d_double, 0x74: _d_dec32, 0x84: _d_dec64, 0x94: _d_dec128,
    0x73: _d_char, 0x83: _d_timestamp, 0x98: _d_uuid, 0xA0: _d_vbin8,
    0xB0: _d_vbin32, 0xA1: _d_str8, 0xB1: _d_str32, 0xA3: _d_sym8,
    0xB3: _d_sym32, 0x45: _d_list0, 0xC0: _d_list8, 0xD0: _d_list32,
    0xC1: _d_map8, 0xD1: _d_map32, 0xE0: _d_array8, 0xF0: _d_array32,
}.items():
# fmt: on
    _DEC[_code] = _fn

# errors a malformed buffer can raise inside the decoders; all become AmqpCodecError at the door
_LOW_LEVEL_ERRORS = (IndexError, struct.error, ValueError, TypeError, RecursionError, OverflowError)


def decode_value(buf: Buffer, offset: int = 0) -> tuple[Any, int]:
    """Decode one AMQP value at ``offset``; return it with the offset just past it."""
    try:
        return _decode(buf, offset)
    except AmqpCodecError:
        raise
    except _LOW_LEVEL_ERRORS as exc:
        raise AmqpCodecError(f"malformed AMQP value: {type(exc).__name__}: {exc}") from None


# fixed widths of primitive encodings (after the constructor), for skipping
_WIDTH: dict[int, int] = {}
for _code in (0x40, 0x41, 0x42, 0x43, 0x44, 0x45):
    _WIDTH[_code] = 0
for _code in (0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56):
    _WIDTH[_code] = 1
for _code in (0x60, 0x61):
    _WIDTH[_code] = 2
for _code in (0x70, 0x71, 0x72, 0x73, 0x74):
    _WIDTH[_code] = 4
for _code in (0x80, 0x81, 0x82, 0x83, 0x84):
    _WIDTH[_code] = 8
for _code in (0x94, 0x98):
    _WIDTH[_code] = 16
_SIZE1 = frozenset((0xA0, 0xA1, 0xA3, 0xC0, 0xC1, 0xE0))
_SIZE4 = frozenset((0xB0, 0xB1, 0xB3, 0xD0, 0xD1, 0xF0))


def _skip(b: Any, p: int) -> int:
    code = b[p]
    p += 1
    w = _WIDTH.get(code)
    if w is not None:
        end = p + w
    elif code in _SIZE1:
        end = p + 1 + b[p]
    elif code in _SIZE4:
        end = p + 4 + _u32(b, p)[0]
    elif code == 0x00:
        return _skip(b, _skip(b, p))
    else:
        raise _fail(f"unknown constructor 0x{code:02x}")
    if end > len(b):
        raise _fail("truncated value")
    return end


def skip_value(buf: Buffer, offset: int = 0) -> int:
    """Offset just past the value at ``offset``, without decoding it (sizes are trusted)."""
    try:
        return _skip(buf, offset)
    except AmqpCodecError:
        raise
    except _LOW_LEVEL_ERRORS as exc:
        raise AmqpCodecError(f"malformed AMQP value: {type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------- encoding

_EncodeFn = Callable[[Any, bytearray], None]

_p8 = struct.Struct(">B").pack
_pi8 = struct.Struct(">b").pack
_p16 = struct.Struct(">H").pack
_pi16 = struct.Struct(">h").pack
_p32 = struct.Struct(">I").pack
_pi32 = struct.Struct(">i").pack
_p64 = struct.Struct(">Q").pack
_pi64 = struct.Struct(">q").pack
_pf32 = struct.Struct(">f").pack
_pf64 = struct.Struct(">d").pack
_pc_u8 = struct.Struct(">BB").pack
_pc_u32 = struct.Struct(">BI").pack
_pc_u64 = struct.Struct(">BQ").pack
_pc_i32 = struct.Struct(">Bi").pack
_pc_i64 = struct.Struct(">Bq").pack
_pc_u16 = struct.Struct(">BH").pack
_pc_i16 = struct.Struct(">Bh").pack
_pc_i8 = struct.Struct(">Bb").pack
_pc_f32 = struct.Struct(">Bf").pack
_pc_f64 = struct.Struct(">Bd").pack
_pc_u8u8 = struct.Struct(">BBB").pack
_pc_u32u32 = struct.Struct(">BII").pack


def _e_null(v: Any, out: bytearray) -> None:
    out.append(0x40)


def _e_bool(v: Any, out: bytearray) -> None:
    out.append(0x41 if v else 0x42)


def _e_ubyte(v: Any, out: bytearray) -> None:
    out += _pc_u8(0x50, v)


def _e_ushort(v: Any, out: bytearray) -> None:
    out += _pc_u16(0x60, v)


def _e_uint(v: Any, out: bytearray) -> None:
    if v == 0:
        out.append(0x43)
    elif 0 < v < 256:
        out += _pc_u8(0x52, v)
    else:
        out += _pc_u32(0x70, v)


def _e_ulong(v: Any, out: bytearray) -> None:
    if v == 0:
        out.append(0x44)
    elif 0 < v < 256:
        out += _pc_u8(0x53, v)
    else:
        out += _pc_u64(0x80, v)


def _e_byte(v: Any, out: bytearray) -> None:
    out += _pc_i8(0x51, v)


def _e_short(v: Any, out: bytearray) -> None:
    out += _pc_i16(0x61, v)


def _e_int(v: Any, out: bytearray) -> None:
    if -128 <= v <= 127:
        out += _pc_i8(0x54, v)
    else:
        out += _pc_i32(0x71, v)


def _e_long(v: Any, out: bytearray) -> None:
    if -128 <= v <= 127:
        out += _pc_i8(0x55, v)
    else:
        out += _pc_i64(0x81, v)


def _e_float(v: Any, out: bytearray) -> None:
    out += _pc_f32(0x72, v)


def _e_double(v: Any, out: bytearray) -> None:
    out += _pc_f64(0x82, v)


def _e_dec32(v: Any, out: bytearray) -> None:
    out.append(0x74)
    out += v


def _e_dec64(v: Any, out: bytearray) -> None:
    out.append(0x84)
    out += v


def _e_dec128(v: Any, out: bytearray) -> None:
    out.append(0x94)
    out += v


def _e_char(v: Any, out: bytearray) -> None:
    if len(v) != 1:
        raise ValueError("Char must be exactly one character")
    out += _pc_u32(0x73, ord(v))


def _e_timestamp(v: Any, out: bytearray) -> None:
    out += _pc_i64(0x83, v)


def _e_uuid(v: Any, out: bytearray) -> None:
    out.append(0x98)
    out += v.bytes


def _e_binary(v: Any, out: bytearray) -> None:
    n = len(v) if not isinstance(v, memoryview) else v.nbytes
    if n < 256:
        out += _pc_u8(0xA0, n)
    else:
        out += _pc_u32(0xB0, n)
    out += v


def _e_string(v: Any, out: bytearray) -> None:
    raw = v.encode("utf-8")
    n = len(raw)
    if n < 256:
        out += _pc_u8(0xA1, n)
    else:
        out += _pc_u32(0xB1, n)
    out += raw


def _e_symbol(v: Any, out: bytearray) -> None:
    raw = v.encode("ascii")
    n = len(raw)
    if n < 256:
        out += _pc_u8(0xA3, n)
    else:
        out += _pc_u32(0xB3, n)
    out += raw


def _compound(out: bytearray, count: int, content: bytes | bytearray, c8: int, c32: int) -> None:
    size = len(content)
    if size < 255 and count < 256:
        out += _pc_u8u8(c8, size + 1, count)
    else:
        out += _pc_u32u32(c32, size + 4, count)
    out += content


def _e_list(v: Any, out: bytearray) -> None:
    if not v:
        out.append(0x45)
        return
    content = bytearray()
    for item in v:
        _encode(item, content)
    _compound(out, len(v), content, 0xC0, 0xD0)


def _e_encoded_list(v: EncodedList, out: bytearray) -> None:
    if v.count == 0:
        out.append(0x45)
    else:
        _compound(out, v.count, v.content, 0xC0, 0xD0)


def _e_map(v: Any, out: bytearray) -> None:
    content = bytearray()
    for k, item in v.items():
        _encode(k, content)
        _encode(item, content)
    _compound(out, 2 * len(v), content, 0xC1, 0xD1)


def _e_described(v: Any, out: bytearray) -> None:
    out.append(0x00)
    _encode(v.descriptor, out)
    _encode(v.value, out)


# ---- array element bodies (no constructor); each returns the element constructor used


def _fits(items: list[Any], lo: int, hi: int) -> bool:
    return all(lo <= i <= hi for i in items)


def _array_body(atype: str, items: list[Any], body: bytearray) -> int:
    """Encode ``items`` (all of ``atype``) into ``body``; return the element constructor."""
    if atype == "null":
        return 0x40
    if atype == "boolean":
        body += bytes(1 if i else 0 for i in items)
        return 0x56
    if atype in _FIXED_ARRAY:
        code, small_code, small_fmt, wide_fmt, lo, hi = _FIXED_ARRAY[atype]
        if small_code and _fits(items, lo, hi):
            body += struct.pack(f">{len(items)}{small_fmt}", *items)
            return small_code
        body += struct.pack(f">{len(items)}{wide_fmt}", *items)
        return code
    if atype in ("decimal32", "decimal64", "decimal128"):
        size = {"decimal32": 4, "decimal64": 8, "decimal128": 16}[atype]
        for i in items:
            if len(i) != size:
                raise ValueError(f"{atype} needs {size} bytes")
            body += i
        return {"decimal32": 0x74, "decimal64": 0x84, "decimal128": 0x94}[atype]
    if atype == "char":
        for i in items:
            if len(i) != 1:
                raise ValueError("Char must be exactly one character")
            body += _p32(ord(i))
        return 0x73
    if atype == "uuid":
        for i in items:
            body += i.bytes
        return 0x98
    if atype in ("binary", "string", "symbol"):
        if atype == "binary":
            raws = [bytes(i) for i in items]
        elif atype == "string":
            raws = [i.encode("utf-8") for i in items]
        else:
            raws = [i.encode("ascii") for i in items]
        c8, c32 = {"binary": (0xA0, 0xB0), "string": (0xA1, 0xB1), "symbol": (0xA3, 0xB3)}[atype]
        if all(len(r) < 256 for r in raws):
            for r in raws:
                body.append(len(r))
                body += r
            return c8
        for r in raws:
            body += _p32(len(r))
            body += r
        return c32
    if atype in ("list", "map", "array"):
        parts: list[tuple[int, bytes | bytearray]] = []
        for i in items:
            content = bytearray()
            if atype == "list":
                if isinstance(i, EncodedList):
                    parts.append((i.count, i.content))
                    continue
                for x in i:
                    _encode(x, content)
                parts.append((len(i), content))
            elif atype == "map":
                for k, x in i.items():
                    _encode(k, content)
                    _encode(x, content)
                parts.append((2 * len(i), content))
            else:
                if not isinstance(i, Array):
                    raise TypeError("items of an array of arrays must be Array")
                inner = bytearray()
                content += _array_element_constructor(i, inner)
                content += inner
                parts.append((len(i.items), content))
        small = all(len(c) < 254 and n < 256 for n, c in parts)
        # arrays need room for their element constructor as well
        for n, c in parts:
            if small:
                body.append(len(c) + 1)
                body.append(n)
            else:
                body += _p32(len(c) + 4)
                body += _p32(n)
            body += c
        return {"list": (0xC0, 0xD0), "map": (0xC1, 0xD1), "array": (0xE0, 0xF0)}[atype][0 if small else 1]
    raise TypeError(f"cannot encode an array of {atype}")


_FIXED_ARRAY: dict[str, tuple[int, int, str, str, int, int]] = {
    # name: (wide code, small code or 0, small fmt, wide fmt, small lo, small hi)
    "ubyte": (0x50, 0, "", "B", 0, 0),
    "ushort": (0x60, 0, "", "H", 0, 0),
    "uint": (0x70, 0x52, "B", "I", 0, 255),
    "ulong": (0x80, 0x53, "B", "Q", 0, 255),
    "byte": (0x51, 0, "", "b", 0, 0),
    "short": (0x61, 0, "", "h", 0, 0),
    "int": (0x71, 0x54, "b", "i", -128, 127),
    "long": (0x81, 0x55, "b", "q", -128, 127),
    "float": (0x72, 0, "", "f", 0, 0),
    "double": (0x82, 0, "", "d", 0, 0),
    "timestamp": (0x83, 0, "", "q", 0, 0),
}


def _array_element_constructor(arr: Array, body: bytearray) -> bytes:
    """Encode the elements of ``arr`` into ``body``; return its element constructor bytes."""
    items = arr.items
    if arr.descriptor is not None:
        values = []
        for i in items:
            if isinstance(i, Described):
                values.append(i.value)
            else:
                enc_list = getattr(i, "encoded_list", None)
                values.append(enc_list() if enc_list is not None else i)
        items = values
    code = _array_body(arr.type, items, body)
    if arr.descriptor is None:
        return bytes((code,))
    ctor = bytearray(b"\x00")
    _encode(arr.descriptor, ctor)
    ctor.append(code)
    return bytes(ctor)


def _e_array(v: Array, out: bytearray) -> None:
    body = bytearray()
    ctor = _array_element_constructor(v, body)
    size = len(body) + len(ctor)
    count = len(v.items)
    if size < 255 and count < 256:
        out += _pc_u8u8(0xE0, size + 1, count)
    else:
        out += _pc_u32u32(0xF0, size + 4, count)
    out += ctor
    out += body


# fmt: off
_ENC: dict[type, _EncodeFn] = {
    type(None): _e_null, bool: _e_bool, int: _e_long, float: _e_double, str: _e_string,
    bytes: _e_binary, bytearray: _e_binary, memoryview: _e_binary, list: _e_list, tuple: _e_list,
    dict: _e_map, UByte: _e_ubyte, UShort: _e_ushort, UInt: _e_uint, ULong: _e_ulong,
    Byte: _e_byte, Short: _e_short, Int: _e_int, Long: _e_long, Timestamp: _e_timestamp,
    Float: _e_float, Decimal32: _e_dec32, Decimal64: _e_dec64, Decimal128: _e_dec128, Char: _e_char,
    Symbol: _e_symbol, uuid.UUID: _e_uuid, Described: _e_described, Array: _e_array, EncodedList: _e_encoded_list,
}
# fmt: on

# subclasses of these (IntEnum, OrderedDict, ...) encode like their base, in this order
# fmt: off
_FALLBACK: tuple[type, ...] = (
    bool, UByte, UShort, UInt, ULong, Byte, Short, Int,
    Long, Timestamp, int, Float, float, Symbol, Char, str,
    bytes, bytearray, list, tuple, dict, uuid.UUID,
)
# fmt: on


def register_encoder(cls: type, fn: _EncodeFn) -> None:
    """Encode instances of exactly ``cls`` with ``fn(value, out)``."""
    _ENC[cls] = fn


def _encode(v: Any, out: bytearray) -> None:
    fn = _ENC.get(type(v))
    if fn is None:
        for base in _FALLBACK:
            if isinstance(v, base):
                fn = _ENC[base]
                break
        else:
            raise TypeError(f"no AMQP encoding for {type(v).__name__}")
    fn(v, out)


def encode_value(value: Any, out: bytearray) -> None:
    """Append the AMQP encoding of ``value`` to ``out``."""
    try:
        _encode(value, out)
    except struct.error as exc:
        raise ValueError(f"value out of range for its AMQP type: {exc}") from None


def encoded(value: Any) -> bytes:
    """The AMQP encoding of ``value`` as bytes."""
    out = bytearray()
    encode_value(value, out)
    return bytes(out)


# typed single-value encoders used by composites (declared field types)
# fmt: off
FIELD_ENCODERS: dict[str, _EncodeFn] = {
    "boolean": _e_bool, "ubyte": _e_ubyte, "ushort": _e_ushort, "uint": _e_uint,
    "ulong": _e_ulong, "byte": _e_byte, "short": _e_short, "int": _e_int,
    "long": _e_long, "float": _e_float, "double": _e_double, "char": _e_char,
    "timestamp": _e_timestamp, "uuid": _e_uuid, "binary": _e_binary, "string": _e_string,
    "symbol": _e_symbol,
}
# fmt: on
