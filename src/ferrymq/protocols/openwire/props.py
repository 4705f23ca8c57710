"""OpenWire's marshalled values: Java strings, primitive maps and message bodies.

Pure and stdlib only. Three things live here:

* Java's *modified UTF-8* (``DataOutput.writeUTF``): NUL is ``C0 80`` and a character
  outside the Basic Multilingual Plane is a surrogate pair, each half three bytes.
  :func:`encode_mutf8` / :func:`decode_mutf8` convert; the decoder also accepts standard
  4-byte UTF-8 sequences and turns a lone surrogate into U+FFFD.
* The *primitive map* that carries message properties, MapMessage bodies and the
  WireFormatInfo options: a 4-byte entry count (-1 for null), then per entry a
  ``writeUTF`` key, a type byte and the value. Types: NULL 0, BOOLEAN 1, BYTE 2, CHAR 3,
  SHORT 4, INTEGER 5, LONG 6, DOUBLE 7, FLOAT 8, STRING 9, BYTE_ARRAY 10, MAP 11,
  LIST 12, BIG_STRING 13.
* Message bodies (``Message.content``) per JMS message type, with the client's
  ``useCompression`` forms.

Python to Java types. Python's types are ambiguous, so the encoder picks:
``bool`` BOOLEAN, ``int`` INTEGER when it fits in 32 bits else LONG, ``float`` DOUBLE,
``str`` STRING (BIG_STRING from 8191 UTF-16 units on, as ActiveMQ does), ``bytes``
BYTE_ARRAY, ``dict`` MAP, ``list``/``tuple`` LIST, ``None`` NULL. The wrappers
:class:`JmsByte`, :class:`JmsShort`, :class:`JmsInt`, :class:`JmsLong`, :class:`JmsFloat`
and :class:`JmsChar` force a type. The decoder returns the plain Python type when it would
encode back to the same Java type (INTEGER -> ``int``, DOUBLE -> ``float``) and a wrapper
otherwise (BYTE -> ``JmsByte``, LONG -> ``JmsLong`` ...), so decode/encode round-trips.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

from .spec import OpenWireCodecError

__all__ = [
    "JmsByte",
    "JmsShort",
    "JmsInt",
    "JmsLong",
    "JmsFloat",
    "JmsChar",
    "encode_mutf8",
    "decode_mutf8",
    "encode_map",
    "decode_map",
    "encode_text_body",
    "decode_text_body",
    "encode_map_body",
    "decode_map_body",
    "encode_stream_body",
    "decode_stream_body",
    "encode_bytes_body",
    "decode_bytes_body",
    "encode_object_body",
    "decode_object_body",
    "DEFAULT_MAX_INFLATED_SIZE",
]

NULL_TYPE = 0
BOOLEAN_TYPE = 1
BYTE_TYPE = 2
CHAR_TYPE = 3
SHORT_TYPE = 4
INTEGER_TYPE = 5
LONG_TYPE = 6
DOUBLE_TYPE = 7
FLOAT_TYPE = 8
STRING_TYPE = 9
BYTE_ARRAY_TYPE = 10
MAP_TYPE = 11
LIST_TYPE = 12
BIG_STRING_TYPE = 13

#: ActiveMQ writes a string of this many UTF-16 units or more as BIG_STRING (Short.MAX_VALUE / 4).
BIG_STRING_THRESHOLD = 8191
#: ActiveMQ's default cap on an inflated (decompressed) body.
DEFAULT_MAX_INFLATED_SIZE = 100 * 1024 * 1024
#: Nesting limit for maps and lists inside maps.
MAX_DEPTH = 64

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")


# -- typed wrappers ------------------------------------------------------------------------


class JmsByte(int):
    """A Java ``byte`` (-128..127)."""

    __slots__ = ()


class JmsShort(int):
    """A Java ``short``."""

    __slots__ = ()


class JmsInt(int):
    """A Java ``int`` (plain ``int`` already encodes as one when it fits)."""

    __slots__ = ()


class JmsLong(int):
    """A Java ``long``, even when the value would fit in an ``int``."""

    __slots__ = ()


class JmsFloat(float):
    """A Java ``float`` (32-bit); plain ``float`` is a ``double``."""

    __slots__ = ()


class JmsChar(str):
    """A Java ``char``: one UTF-16 code unit (a one-character string in the BMP)."""

    __slots__ = ()


_RANGES: dict[type, tuple[int, int, str]] = {
    JmsByte: (-0x80, 0x7F, "byte"),
    JmsShort: (-0x8000, 0x7FFF, "short"),
    JmsInt: (-0x8000_0000, 0x7FFF_FFFF, "int"),
    JmsLong: (-0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, "long"),
}


# -- modified UTF-8 ------------------------------------------------------------------------

_SUPPLEMENTARY = re.compile("[\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _to_pair(m: re.Match[str]) -> str:
    cp = ord(m.group()) - 0x10000
    return chr(0xD800 + (cp >> 10)) + chr(0xDC00 + (cp & 0x3FF))


def encode_mutf8(text: str) -> bytes:
    """Java's modified UTF-8 for ``text`` (no length prefix)."""
    if text.isascii():
        data = text.encode("ascii")
        return data.replace(b"\x00", b"\xc0\x80") if b"\x00" in data else data
    if _SUPPLEMENTARY.search(text):
        text = _SUPPLEMENTARY.sub(_to_pair, text)
    data = text.encode("utf-8", "surrogatepass")
    return data.replace(b"\x00", b"\xc0\x80") if b"\x00" in data else data


def java_length(text: str) -> int:
    """The number of UTF-16 code units (Java's ``String.length()``)."""
    if text.isascii():
        return len(text)
    return len(text) + len(_SUPPLEMENTARY.findall(text))


def decode_mutf8(data: bytes | bytearray | memoryview) -> str:
    """Decode modified UTF-8 (lenient: standard UTF-8 is accepted too)."""
    raw = bytes(data)
    if raw.isascii():
        return raw.decode("ascii")
    if b"\xc0\x80" in raw:
        raw = raw.replace(b"\xc0\x80", b"\x00")
    try:
        text = raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise OpenWireCodecError(f"invalid modified UTF-8: {exc.reason}") from None
    if _SURROGATE.search(text):
        # Join surrogate pairs into code points; a lone half becomes U+FFFD.
        text = text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")
    return text


def write_utf(out: bytearray, text: str) -> None:
    """``DataOutput.writeUTF``: 2-byte length then modified UTF-8 (at most 65535 bytes)."""
    data = encode_mutf8(text)
    if len(data) > 0xFFFF:
        raise OpenWireCodecError(f"string of {len(data)} bytes is too long for writeUTF", fatal=False)
    out += _U16.pack(len(data))
    out += data


# -- a bounds-checked reader -----------------------------------------------------------------


class _In:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0:
            raise OpenWireCodecError(f"negative length {n}")
        end = self.pos + n
        if end > len(self.data):
            raise OpenWireCodecError("value runs past the end of its data")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, st: struct.Struct) -> Any:
        end = self.pos + st.size
        if end > len(self.data):
            raise OpenWireCodecError("value runs past the end of its data")
        (value,) = st.unpack_from(self.data, self.pos)
        self.pos = end
        return value

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise OpenWireCodecError("value runs past the end of its data")
        b = self.data[self.pos]
        self.pos += 1
        return b

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


# -- primitive map -------------------------------------------------------------------------


def _marshal_value(out: bytearray, value: Any, depth: int) -> None:
    if value is None:
        out.append(NULL_TYPE)
    elif isinstance(value, bool):
        out.append(BOOLEAN_TYPE)
        out.append(1 if value else 0)
    elif isinstance(value, int):
        kind = type(value)
        if kind in _RANGES:
            lo, hi, name = _RANGES[kind]
            if not lo <= value <= hi:
                raise OpenWireCodecError(f"{value} does not fit a Java {name}", fatal=False)
            code = {JmsByte: BYTE_TYPE, JmsShort: SHORT_TYPE, JmsInt: INTEGER_TYPE, JmsLong: LONG_TYPE}[kind]
        elif -0x8000_0000 <= value <= 0x7FFF_FFFF:
            code = INTEGER_TYPE
        elif -0x8000_0000_0000_0000 <= value <= 0x7FFF_FFFF_FFFF_FFFF:
            code = LONG_TYPE
        else:
            raise OpenWireCodecError(f"integer {value} does not fit a Java long", fatal=False)
        out.append(code)
        if code == BYTE_TYPE:
            out += _I8.pack(value)
        elif code == SHORT_TYPE:
            out += _I16.pack(value)
        elif code == INTEGER_TYPE:
            out += _I32.pack(value)
        else:
            out += _I64.pack(value)
    elif isinstance(value, JmsFloat):
        out.append(FLOAT_TYPE)
        try:
            out += _F32.pack(value)
        except OverflowError:
            raise OpenWireCodecError(f"{value} does not fit a Java float", fatal=False) from None
    elif isinstance(value, float):
        out.append(DOUBLE_TYPE)
        out += _F64.pack(value)
    elif isinstance(value, JmsChar):
        if len(value) != 1 or ord(value) > 0xFFFF:
            raise OpenWireCodecError("a Java char is one UTF-16 code unit", fatal=False)
        out.append(CHAR_TYPE)
        out += _U16.pack(ord(value))
    elif isinstance(value, str):
        if java_length(value) < BIG_STRING_THRESHOLD:
            out.append(STRING_TYPE)
            write_utf(out, value)
        else:
            data = encode_mutf8(value)
            out.append(BIG_STRING_TYPE)
            out += _I32.pack(len(data))
            out += data
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        out.append(BYTE_ARRAY_TYPE)
        out += _I32.pack(len(data))
        out += data
    elif isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise OpenWireCodecError("maps nested too deeply", fatal=False)
        out.append(MAP_TYPE)
        _marshal_map(out, value, depth + 1)
    elif isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            raise OpenWireCodecError("lists nested too deeply", fatal=False)
        out.append(LIST_TYPE)
        out += _I32.pack(len(value))
        for item in value:
            _marshal_value(out, item, depth + 1)
    else:
        raise OpenWireCodecError(f"{type(value).__name__} is not a JMS primitive", fatal=False)


def _marshal_map(out: bytearray, mapping: dict[str, Any] | None, depth: int) -> None:
    if mapping is None:
        out += _I32.pack(-1)
        return
    out += _I32.pack(len(mapping))
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise OpenWireCodecError(f"map key {key!r} is not a string", fatal=False)
        write_utf(out, key)
        _marshal_value(out, value, depth)


def _read_value(src: _In, depth: int, *, allow_nested: bool = True) -> Any:
    code = src.byte()
    if code == NULL_TYPE:
        return None
    if code == BOOLEAN_TYPE:
        return src.byte() != 0
    if code == BYTE_TYPE:
        return JmsByte(src.unpack(_I8))
    if code == CHAR_TYPE:
        return JmsChar(chr(src.unpack(_U16)))
    if code == SHORT_TYPE:
        return JmsShort(src.unpack(_I16))
    if code == INTEGER_TYPE:
        return int(src.unpack(_I32))
    if code == LONG_TYPE:
        return JmsLong(src.unpack(_I64))
    if code == DOUBLE_TYPE:
        return float(src.unpack(_F64))
    if code == FLOAT_TYPE:
        return JmsFloat(src.unpack(_F32))
    if code == STRING_TYPE:
        return decode_mutf8(src.take(src.unpack(_U16)))
    if code == BIG_STRING_TYPE:
        return decode_mutf8(src.take(src.unpack(_I32)))
    if code == BYTE_ARRAY_TYPE:
        return src.take(src.unpack(_I32))
    if code in (MAP_TYPE, LIST_TYPE) and allow_nested:
        if depth >= MAX_DEPTH:
            raise OpenWireCodecError("maps or lists nested too deeply")
        if code == MAP_TYPE:
            return _read_map(src, depth + 1)
        count = src.unpack(_I32)
        if count < 0 or count > src.remaining:
            raise OpenWireCodecError(f"bad list size {count}")
        return [_read_value(src, depth + 1) for _ in range(count)]
    raise OpenWireCodecError(f"unknown primitive type {code}")


def _read_map(src: _In, depth: int) -> dict[str, Any] | None:
    count = src.unpack(_I32)
    if count < 0:
        return None
    if count > src.remaining:
        raise OpenWireCodecError(f"bad map size {count}")
    result: dict[str, Any] = {}
    for _ in range(count):
        key = decode_mutf8(src.take(src.unpack(_U16)))
        result[key] = _read_value(src, depth)
    return result


def encode_map(mapping: dict[str, Any] | None) -> bytes:
    """Marshal a primitive map (``None`` is written as count -1)."""
    out = bytearray()
    _marshal_map(out, mapping, 0)
    return bytes(out)


def decode_map(data: bytes | bytearray | memoryview, *, exact: bool = True) -> dict[str, Any] | None:
    """Unmarshal a primitive map; ``exact`` refuses bytes left over after it."""
    src = _In(bytes(data))
    result = _read_map(src, 0)
    if exact and src.remaining:
        raise OpenWireCodecError(f"{src.remaining} bytes after the primitive map")
    return result


# -- message bodies ------------------------------------------------------------------------


def _deflate(data: bytes) -> bytes:
    return zlib.compress(data)


def _inflate(data: bytes, max_size: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, max_size + 1)
    except zlib.error as exc:
        raise OpenWireCodecError(f"bad compressed body: {exc}") from None
    if len(out) > max_size:
        raise OpenWireCodecError(f"inflated body exceeds {max_size} bytes")
    return out


def encode_text_body(text: str | None, *, compress: bool = False) -> bytes:
    """ActiveMQTextMessage content: 4-byte length (-1 for null) + modified UTF-8,
    the whole of it zlib-deflated when ``compress`` (then set ``compressed=True``)."""
    if text is None:
        raw = _I32.pack(-1)
    else:
        data = encode_mutf8(text)
        raw = _I32.pack(len(data)) + data
    return _deflate(raw) if compress else raw


def decode_text_body(
    content: bytes | None, *, compressed: bool = False, max_inflated: int = DEFAULT_MAX_INFLATED_SIZE
) -> str | None:
    if content is None:
        return None
    raw = _inflate(content, max_inflated) if compressed else bytes(content)
    src = _In(raw)
    size = src.unpack(_I32)
    if size < 0:
        return None
    return decode_mutf8(src.take(size))


def encode_map_body(mapping: dict[str, Any] | None, *, compress: bool = False) -> bytes:
    """ActiveMQMapMessage content: a primitive map, zlib-deflated when ``compress``."""
    raw = encode_map(mapping)
    return _deflate(raw) if compress else raw


def decode_map_body(
    content: bytes | None, *, compressed: bool = False, max_inflated: int = DEFAULT_MAX_INFLATED_SIZE
) -> dict[str, Any]:
    if content is None:
        return {}
    raw = _inflate(content, max_inflated) if compressed else bytes(content)
    return decode_map(raw, exact=False) or {}


def encode_stream_body(items: list[Any], *, compress: bool = False) -> bytes:
    """ActiveMQStreamMessage content: typed values back to back (no count, no maps or lists)."""
    out = bytearray()
    for item in items:
        if isinstance(item, dict | list | tuple):
            raise OpenWireCodecError("a StreamMessage holds primitives only", fatal=False)
        _marshal_value(out, item, MAX_DEPTH)
    raw = bytes(out)
    return _deflate(raw) if compress else raw


def decode_stream_body(
    content: bytes | None, *, compressed: bool = False, max_inflated: int = DEFAULT_MAX_INFLATED_SIZE
) -> list[Any]:
    if content is None:
        return []
    raw = _inflate(content, max_inflated) if compressed else bytes(content)
    src = _In(raw)
    items: list[Any] = []
    while src.remaining:
        items.append(_read_value(src, MAX_DEPTH, allow_nested=False))
    return items


def encode_bytes_body(data: bytes, *, compress: bool = False) -> bytes:
    """ActiveMQBytesMessage content: the bytes, or when ``compress`` a 4-byte uncompressed
    length followed by the zlib-deflated bytes."""
    raw = bytes(data)
    if not compress:
        return raw
    return _I32.pack(len(raw)) + _deflate(raw)


def decode_bytes_body(
    content: bytes | None, *, compressed: bool = False, max_inflated: int = DEFAULT_MAX_INFLATED_SIZE
) -> bytes:
    if content is None:
        return b""
    if not compressed:
        return bytes(content)
    if len(content) == 0:
        return b""
    src = _In(bytes(content))
    length = src.unpack(_I32)
    if length < 0 or length > max_inflated:
        raise OpenWireCodecError(f"bad uncompressed length {length}")
    if length == 0:
        return b""
    # ActiveMQ deflates the whole backing buffer of the body, which may run past ``length``
    # (zero padding); like ActiveMQ, keep the first ``length`` inflated bytes.
    try:
        out = zlib.decompressobj().decompress(src.take(src.remaining), length)
    except zlib.error as exc:
        raise OpenWireCodecError(f"bad compressed body: {exc}") from None
    if len(out) != length:
        raise OpenWireCodecError(f"inflated {len(out)} bytes, expected {length}")
    return out


def encode_object_body(serialized: bytes, *, compress: bool = False) -> bytes:
    """ActiveMQObjectMessage content: opaque Java-serialized bytes (ferrymq never
    deserializes them), zlib-deflated when ``compress``."""
    raw = bytes(serialized)
    return _deflate(raw) if compress else raw


def decode_object_body(
    content: bytes | None, *, compressed: bool = False, max_inflated: int = DEFAULT_MAX_INFLATED_SIZE
) -> bytes:
    """The serialized object bytes, inflated when needed; they stay opaque."""
    if content is None:
        return b""
    return _inflate(content, max_inflated) if compressed else bytes(content)
