"""The OpenWire codec: bytes to commands and back, driven by the table in :mod:`.spec`.

Pure and stdlib only (DESIGN R1). One generic marshaller and one generic unmarshaller
walk the fields that :func:`.spec.fields_for` lists for a type code and protocol version,
in either of OpenWire's encodings:

* **loose**: every field in order; booleans and null flags are whole bytes; longs are
  8 bytes.
* **tight**: all booleans and null flags of a command go first, as bits in a *boolean
  stream* (a 1-3 byte length, then the bits, least significant first); longs take 0, 2, 4
  or 8 bytes as two of those bits say; ASCII strings skip the UTF-8 step.

A frame is ``[4-byte size] type-byte body`` (the size is left out when the peers agreed
``SizePrefixDisabled``). With the marshal cache on (``CacheEnabled``), fields marked
*cached* in the table (ids and destinations) are sent once with a 2-byte slot number and
afterwards as the slot number alone; each direction has its own cache.

Before negotiation each side sends a :class:`WireFormatInfo` in a fixed form: loose, with a
size prefix, no cache. :class:`OpenWireParser` starts in that form; given the local
``preferred`` WireFormatInfo it negotiates (:func:`negotiate`, the same rules as ActiveMQ)
the moment it decodes the peer's one, and switches both directions before decoding the
next byte. :meth:`OpenWireParser.encode` always writes a WireFormatInfo in the fixed form,
so a broker may send its own before or after receiving the client's.

Every problem with peer bytes raises :class:`OpenWireCodecError` (``fatal``); ``commands``
on that error holds what the failing :meth:`OpenWireParser.feed` decoded before it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from . import spec
from .props import decode_mutf8, encode_mutf8
from .spec import (
    CLASSES,
    MAGIC,
    DataStructure,
    FieldSpec,
    Kind,
    OpenWireCodecError,
    StackTraceElement,
    ThrowableInfo,
    WireFormatInfo,
    fields_for,
)
from .wireformat import (
    DEFAULT_CACHE_SIZE,
    MAX_CACHE_SIZE,
    WireFormat,
    make_wire_format_info,
    negotiate,
    wire_format_properties,
)

__all__ = [
    "OpenWireCodecError",
    "WireFormat",
    "OpenWireParser",
    "negotiate",
    "make_wire_format_info",
    "wire_format_properties",
    "marshal",
    "unmarshal",
    "DEFAULT_CACHE_SIZE",
    "MAX_CACHE_SIZE",
]

#: ActiveMQ keeps this many slots free, evicting the oldest entries first.
_CACHE_FREE_SPACE = 100
#: Nesting limit for structures inside structures and throwable causes.
MAX_NESTING = 48

_I8 = struct.Struct(">b")
_U8 = struct.Struct(">B")
_I16 = struct.Struct(">h")
_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")


# -- caches --------------------------------------------------------------------------------


class _MarshalCache:
    """Outbound cache: value key -> slot, evicting oldest first (ActiveMQ's scheme)."""

    __slots__ = ("slots", "index", "next_index", "next_evict", "limit", "version", "shared")

    def __init__(self, size: int) -> None:
        self.slots: list[Any] = [_EMPTY] * size
        self.index: dict[Any, int] = {}
        self.next_index = 0
        self.next_evict = 0
        #: entries kept before :meth:`sweep` evicts
        self.limit = max(size - _CACHE_FREE_SPACE, 0)
        #: bumped whenever ``index`` changes
        self.version = 0
        #: what ``fastwrite.shared_dispatch_frame`` last looked up here (valid for ``version``)
        self.shared: Any = None

    def sweep(self) -> None:
        """Before each command, free slots until ``_CACHE_FREE_SPACE`` are left."""
        limit = self.limit
        while len(self.index) > limit:
            self._drop(self.next_evict)
            self.next_evict = (self.next_evict + 1) % len(self.slots)

    def _drop(self, i: int) -> None:
        key = self.slots[i]
        if key is not _EMPTY and self.index.get(key) == i:
            del self.index[key]
            self.version += 1
        self.slots[i] = _EMPTY

    def add(self, key: Any) -> int:
        """The slot for a new ``key``, or -1 (sent, never stored) when the cache is full."""
        i = self.next_index
        self.next_index = (i + 1) % len(self.slots)
        if len(self.index) < len(self.slots):
            self._drop(i)
            self.slots[i] = key
            self.index[key] = i
            self.version += 1
            return i
        return -1


_EMPTY = object()


# -- writing -------------------------------------------------------------------------------


class _Out:
    """One command being marshalled: data bytes plus, in tight mode, its boolean stream."""

    __slots__ = ("buf", "bits", "tight", "version", "cache", "stack_traces")

    def __init__(self, wf: WireFormat, cache: _MarshalCache | None) -> None:
        self.buf = bytearray()
        self.bits: list[bool] = []
        self.tight = wf.tight_encoding
        self.version = wf.version
        self.cache = cache
        self.stack_traces = wf.stack_trace_enabled

    def flag(self, value: bool) -> None:
        if self.tight:
            self.bits.append(value)
        else:
            self.buf.append(1 if value else 0)


def _pack(st: struct.Struct, value: Any, what: str) -> bytes:
    try:
        return st.pack(value)
    except (struct.error, TypeError):
        raise OpenWireCodecError(f"{what}: {value!r} does not fit", fatal=False) from None


def _bits_bytes(bits: list[bool]) -> bytes:
    n = (len(bits) + 7) // 8
    data = bytearray(n)
    for i, bit in enumerate(bits):
        if bit:
            data[i >> 3] |= 1 << (i & 7)
    if n < 64:
        head = bytes((n,))
    elif n < 256:
        head = bytes((0xC0, n))
    elif n <= 0x7FFF:
        head = b"\x80" + _I16.pack(n)
    else:
        raise OpenWireCodecError("too many booleans for one command", fatal=False)
    return head + bytes(data)


def _w_string(out: _Out, value: str | None, what: str) -> None:
    out.flag(value is not None)
    if value is None:
        return
    if not isinstance(value, str):
        raise OpenWireCodecError(f"{what}: expected str, got {type(value).__name__}", fatal=False)
    if out.tight:
        ascii_only = value.isascii() and "\x00" not in value
        data = value.encode("ascii") if ascii_only else encode_mutf8(value)
        if len(data) >= 0x7FFF:
            raise OpenWireCodecError(f"{what}: string of {len(data)} bytes is too long", fatal=False)
        out.bits.append(ascii_only)
    else:
        data = encode_mutf8(value)
        if len(data) > 0xFFFF:
            raise OpenWireCodecError(f"{what}: string of {len(data)} bytes is too long", fatal=False)
    out.buf += _U16.pack(len(data))
    out.buf += data


def _w_long(out: _Out, value: int, what: str) -> None:
    if not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise OpenWireCodecError(f"{what}: {value!r} is not a Java long", fatal=False)
    if not out.tight:
        out.buf += _I64.pack(value)
        return
    u = value & 0xFFFF_FFFF_FFFF_FFFF
    if u == 0:
        out.bits += (False, False)
    elif u <= 0xFFFF:
        out.bits += (False, True)
        out.buf += _U16.pack(u)
    elif u <= 0xFFFF_FFFF:
        out.bits += (True, False)
        out.buf += _U32.pack(u)
    else:
        out.bits += (True, True)
        out.buf += _I64.pack(value)


def _w_nested(out: _Out, obj: DataStructure | None, depth: int) -> None:
    out.flag(obj is not None)
    if obj is None:
        return
    if not isinstance(obj, DataStructure) or not spec.type_known(obj.type_code, out.version):
        raise OpenWireCodecError(f"cannot marshal {obj!r} in version {out.version}", fatal=False)
    if out.tight and obj.spec.marshall_aware:
        out.bits.append(False)  # "cached marshalled form follows": never
    out.buf.append(obj.type_code)
    _w_fields(out, obj, depth + 1)


def _w_throwable(out: _Out, value: ThrowableInfo | None, depth: int) -> None:
    out.flag(value is not None)
    if value is None:
        return
    if depth > MAX_NESTING:
        raise OpenWireCodecError("throwable causes nested too deeply", fatal=False)
    _w_string(out, value.class_name, "throwable class")
    _w_string(out, value.message, "throwable message")
    if out.stack_traces:
        out.buf += _pack(_I16, len(value.stack_trace), "stack trace length")
        for el in value.stack_trace:
            _w_string(out, el.class_name, "stack class")
            _w_string(out, el.method_name, "stack method")
            _w_string(out, el.file_name, "stack file")
            out.buf += _pack(_I32, el.line_number, "stack line")
        _w_throwable(out, value.cause, depth + 1)


def _w_field(out: _Out, f: FieldSpec, value: Any, depth: int) -> None:
    kind = f.kind
    if kind is Kind.BOOLEAN:
        out.flag(bool(value))
    elif kind is Kind.BYTE:
        out.buf += _pack(_I8, value, f.name)
    elif kind is Kind.INT:
        out.buf += _pack(_I32, value, f.name)
    elif kind is Kind.LONG:
        _w_long(out, value, f.name)
    elif kind is Kind.STRING:
        _w_string(out, value, f.name)
    elif kind is Kind.CACHED:
        _w_cached(out, value, depth)
    elif kind is Kind.NESTED:
        _w_nested(out, value, depth)
    elif kind is Kind.BYTES or kind is Kind.BYTE_SEQUENCE:
        out.flag(value is not None)
        if value is not None:
            data = bytes(value)
            out.buf += _I32.pack(len(data))
            out.buf += data
    elif kind is Kind.OBJECT_ARRAY:
        out.flag(value is not None)
        if value is not None:
            out.buf += _pack(_I16, len(value), f.name)
            for item in value:
                _w_nested(out, item, depth)
    elif kind is Kind.THROWABLE:
        _w_throwable(out, value, depth)
    elif kind is Kind.SHORT:
        out.buf += _pack(_I16, value, f.name)
    elif kind is Kind.CHAR:
        code = ord(value) if isinstance(value, str) and len(value) == 1 else value
        out.buf += _pack(_U16, code, f.name)
    elif kind is Kind.CONST_BYTES:
        data = bytes(value or b"")
        if len(data) != f.size:
            raise OpenWireCodecError(f"{f.name} must be {f.size} bytes", fatal=False)
        out.buf += data
    else:  # pragma: no cover - the table only uses the kinds above
        raise OpenWireCodecError(f"unsupported field kind {kind}", fatal=False)


def _w_cached(out: _Out, value: Any, depth: int) -> None:
    cache = out.cache
    if cache is None:
        _w_nested(out, value, depth)
        return
    key = value._key() if isinstance(value, DataStructure) else value
    slot = cache.index.get(key)
    if out.tight:
        out.bits.append(slot is None)
    else:
        out.buf.append(1 if slot is None else 0)
    if slot is None:
        out.buf += _I16.pack(cache.add(key))
        _w_nested(out, value, depth)
    else:
        out.buf += _I16.pack(slot)


#: compiled field writers by (type code, version, tight)
_WRITERS: dict[tuple[int, int, bool], Any] = {}


def _compile_writer(code: int, version: int, tight: bool) -> Any:
    """``write(out, obj, depth)`` for one type as straight-line code: one statement per field
    of ``fields_for(code, version)``, doing what :func:`_w_field` does for its kind."""
    ns: dict[str, Any] = {
        "_pack": _pack, "_I8": _I8, "_I16": _I16, "_I32": _I32, "_w_long": _w_long,
        "_w_string": _w_string, "_w_nested": _w_nested, "_w_cached": _w_cached, "_w_field": _w_field,
    }  # fmt: skip
    lines = ["def write(out, obj, depth):", "    buf = out.buf"]
    if tight:
        lines.append("    bits = out.bits")
    for i, f in enumerate(fields_for(code, version)):
        if not f.name.isidentifier():  # pragma: no cover - the table uses identifiers
            raise ValueError(f"field name {f.name!r}")
        v = f"obj.{f.name}"
        kind = f.kind
        if kind is Kind.BOOLEAN:
            lines.append(f"    bits.append(bool({v}))" if tight else f"    buf.append(1 if {v} else 0)")
        elif kind is Kind.BYTE:
            lines.append(f"    buf += _pack(_I8, {v}, {f.name!r})")
        elif kind is Kind.INT:
            lines.append(f"    buf += _pack(_I32, {v}, {f.name!r})")
        elif kind is Kind.LONG:
            lines.append(f"    _w_long(out, {v}, {f.name!r})")
        elif kind is Kind.STRING:
            lines.append(f"    _w_string(out, {v}, {f.name!r})")
        elif kind is Kind.CACHED:
            lines.append(f"    _w_cached(out, {v}, depth)")
        elif kind is Kind.NESTED:
            lines.append(f"    _w_nested(out, {v}, depth)")
        else:
            ns[f"_f{i}"] = f
            lines.append(f"    _w_field(out, _f{i}, {v}, depth)")
    exec("\n".join(lines), ns)  # noqa: S102 - source built only from the spec table
    return ns["write"]


def _w_fields(out: _Out, obj: DataStructure, depth: int) -> None:
    if depth > MAX_NESTING:
        raise OpenWireCodecError("structures nested too deeply", fatal=False)
    key = (obj.type_code, out.version, out.tight)
    write = _WRITERS.get(key)
    if write is None:
        write = _WRITERS[key] = _compile_writer(*key)
    write(out, obj, depth)


def marshal(obj: DataStructure | None, wf: WireFormat, cache: _MarshalCache | None = None) -> bytes:
    """One frame for ``obj`` (``None`` gives ActiveMQ's null frame)."""
    if obj is None:
        body = b"\x00"
    else:
        if not isinstance(obj, DataStructure) or obj.spec.code is None:
            raise OpenWireCodecError(f"cannot marshal {obj!r}", fatal=False)
        if not spec.type_known(obj.type_code, wf.version):
            raise OpenWireCodecError(
                f"{type(obj).__name__} does not exist in version {wf.version}", fatal=False
            )
        if cache is not None:
            cache.sweep()
        out = _Out(wf, cache)
        _w_fields(out, obj, 0)
        if out.tight:
            body = bytes((obj.type_code,)) + _bits_bytes(out.bits) + bytes(out.buf)
        else:
            body = bytes((obj.type_code,)) + bytes(out.buf)
    if wf.size_prefix_disabled:
        return body
    if len(body) > wf.max_frame_size:
        raise OpenWireCodecError(f"frame of {len(body)} bytes exceeds {wf.max_frame_size}", fatal=False)
    return _I32.pack(len(body)) + body


# -- reading -------------------------------------------------------------------------------


class _NeedMore(Exception):
    """Raised inside the reader when an unprefixed frame is not complete yet."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed  # the frame cannot complete before this many bytes


class _In:
    __slots__ = (
        "data",
        "pos",
        "end",
        "incomplete_ok",
        "bits",
        "bit_pos",
        "tight",
        "version",
        "cache",
        "stack_traces",
    )

    def __init__(
        self, data: bytes, pos: int, end: int, wf: WireFormat, cache: list[Any] | None, incomplete_ok: bool
    ) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.incomplete_ok = incomplete_ok
        self.bits = b""
        self.bit_pos = 0
        self.tight = wf.tight_encoding
        self.version = wf.version
        self.cache = cache
        self.stack_traces = wf.stack_trace_enabled

    def short(self, end: int) -> None:
        if self.incomplete_ok:
            raise _NeedMore(end)
        raise OpenWireCodecError("truncated command: a field runs past the end of the frame")

    def take(self, n: int) -> bytes:
        if n < 0:
            raise OpenWireCodecError(f"negative length {n}")
        end = self.pos + n
        if end > self.end:
            self.short(end)
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, st: struct.Struct) -> Any:
        end = self.pos + st.size
        if end > self.end:
            self.short(end)
        (value,) = st.unpack_from(self.data, self.pos)
        self.pos = end
        return value

    def u8(self) -> int:
        if self.pos >= self.end:
            self.short(self.pos + 1)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def read_bit_stream(self) -> tuple[bytes, int]:
        n = self.u8()
        if n == 0xC0:
            n = self.u8()
        elif n == 0x80:
            n = self.unpack(_I16)
            if n < 0:
                raise OpenWireCodecError("negative boolean stream length")
        saved = (self.bits, self.bit_pos)
        self.bits = self.take(n)
        self.bit_pos = 0
        return saved

    def bit(self) -> bool:
        i = self.bit_pos
        if (i >> 3) >= len(self.bits):
            raise OpenWireCodecError("boolean stream exhausted")
        self.bit_pos = i + 1
        return bool((self.bits[i >> 3] >> (i & 7)) & 1)

    def flag(self) -> bool:
        return self.bit() if self.tight else self.u8() != 0


def _r_string(src: _In) -> str | None:
    if not src.flag():
        return None
    if src.tight:
        if src.bit():
            size = src.unpack(_I16)
            return src.take(size).decode("latin-1")
        return decode_mutf8(src.take(src.unpack(_U16)))
    return decode_mutf8(src.take(src.unpack(_U16)))


def _r_long(src: _In) -> int:
    if not src.tight:
        return int(src.unpack(_I64))
    if src.bit():
        if src.bit():
            return int(src.unpack(_I64))
        return int(src.unpack(_U32))
    if src.bit():
        return int(src.unpack(_U16))
    return 0


def _r_nested(src: _In, depth: int) -> DataStructure | None:
    if not src.flag():
        return None
    code = src.u8()
    if not spec.type_known(code, src.version):
        raise OpenWireCodecError(f"unknown data structure type {code} in version {src.version}")
    cls = spec.class_for(code)
    if src.tight and cls.spec.marshall_aware and src.bit():
        # A cached marshalled form: size, type, then the structure with its own booleans.
        src.unpack(_I32)
        src.u8()
        saved = src.read_bit_stream()
        obj = _r_fields(src, cls, depth + 1)
        src.bits, src.bit_pos = saved
        return obj
    return _r_fields(src, cls, depth + 1)


def _r_throwable(src: _In, depth: int) -> ThrowableInfo | None:
    if not src.flag():
        return None
    if depth > MAX_NESTING:
        raise OpenWireCodecError("throwable causes nested too deeply")
    class_name = _r_string(src)
    message = _r_string(src)
    if not src.stack_traces:
        return ThrowableInfo(class_name, message)
    count = src.unpack(_I16)
    if count < 0:
        raise OpenWireCodecError("negative stack trace length")
    trace = []
    for _ in range(count):
        cls_name = _r_string(src)
        method = _r_string(src)
        file_name = _r_string(src)
        trace.append(StackTraceElement(cls_name, method, file_name, int(src.unpack(_I32))))
    cause = _r_throwable(src, depth + 1)
    return ThrowableInfo(class_name, message, tuple(trace), cause)


def _check_ref(f: FieldSpec, value: Any) -> None:
    if value is not None and f.ref is not None and not isinstance(value, CLASSES[f.ref]):
        raise OpenWireCodecError(f"{f.name} holds a {type(value).__name__}, expected {f.ref}")


def _r_field(src: _In, f: FieldSpec, depth: int) -> Any:
    kind = f.kind
    if kind is Kind.BOOLEAN:
        return src.flag()
    if kind is Kind.INT:
        return int(src.unpack(_I32))
    if kind is Kind.LONG:
        return _r_long(src)
    if kind is Kind.STRING:
        return _r_string(src)
    if kind is Kind.BYTE:
        return int(src.unpack(_I8))
    if kind is Kind.CACHED:
        cache = src.cache
        if cache is None:
            value = _r_nested(src, depth)
        elif src.flag():
            slot = src.unpack(_I16)
            value = _r_nested(src, depth)
            if slot != -1:
                if not 0 <= slot < len(cache):
                    raise OpenWireCodecError(f"cache slot {slot} out of range")
                cache[slot] = value
        else:
            slot = src.unpack(_I16)
            if not 0 <= slot < len(cache):
                raise OpenWireCodecError(f"cache slot {slot} out of range")
            value = cache[slot]
        _check_ref(f, value)
        return value
    if kind is Kind.NESTED:
        value = _r_nested(src, depth)
        _check_ref(f, value)
        return value
    if kind is Kind.BYTES or kind is Kind.BYTE_SEQUENCE:
        if not src.flag():
            return None
        return src.take(src.unpack(_I32))
    if kind is Kind.OBJECT_ARRAY:
        if not src.flag():
            return None
        count = src.unpack(_I16)
        if count < 0:
            raise OpenWireCodecError(f"negative array length in {f.name}")
        items = [_r_nested(src, depth) for _ in range(count)]
        for item in items:
            _check_ref(f, item)
        return items
    if kind is Kind.THROWABLE:
        return _r_throwable(src, depth)
    if kind is Kind.SHORT:
        return int(src.unpack(_I16))
    if kind is Kind.CHAR:
        return chr(src.unpack(_U16))
    if kind is Kind.CONST_BYTES:
        return src.take(f.size)
    raise OpenWireCodecError(f"unsupported field kind {kind}")  # pragma: no cover


#: compiled structure readers by (type code, version, tight)
_READERS: dict[tuple[int, int, bool], Any] = {}


def _exhausted() -> None:
    raise OpenWireCodecError("boolean stream exhausted")


def _bad_slot(slot: int) -> None:
    raise OpenWireCodecError(f"cache slot {slot} out of range")


def _r_cached_miss(src: _In, f: FieldSpec, depth: int) -> Any:
    """A cached field whose value is on the wire (the cache flag bit already read)."""
    cache = src.cache
    assert cache is not None
    slot = src.unpack(_I16)
    value = _r_nested(src, depth)
    if slot != -1:
        if not 0 <= slot < len(cache):
            _bad_slot(slot)
        cache[slot] = value
    _check_ref(f, value)
    return value


def _tight_bit(lines: list[str], target: str, indent: str = "    ") -> None:
    """Source reading the next boolean-stream bit into ``target`` (``bits``/``nb``/``bp`` locals)."""
    lines.append(f"{indent}if bp >= nb: _exhausted()")
    lines.append(f"{indent}{target} = (bits[bp >> 3] >> (bp & 7)) & 1 == 1")
    lines.append(f"{indent}bp += 1")


def _compile_tight_reader(cls: type[DataStructure], version: int) -> Any:
    """The tight-encoding ``read(src, depth)``: like :func:`_compile_reader`, but the boolean
    stream is read through locals and the common kinds (booleans, longs, strings, byte
    arrays, cache hits) are inlined; every other kind goes through :func:`_r_field` with the
    bit position handed over and taken back. Reads and checks happen in the same order as
    in :func:`_r_field`, so errors come out the same."""
    fields = fields_for(cls.type_code, version)
    wire = {f.name for f in fields}
    ns: dict[str, Any] = {
        "_cls": cls, "_new": object.__new__, "_set": object.__setattr__, "_I8": _I8, "_I16": _I16,
        "_U16": _U16, "_I32": _I32, "_U32": _U32, "_I64": _I64, "_r_field": _r_field,
        "_exhausted": _exhausted, "_bad_slot": _bad_slot, "_r_cached_miss": _r_cached_miss,
        "_check_ref": _check_ref, "_mutf8": decode_mutf8,
    }  # fmt: skip
    lines = [
        "def read(src, depth):",
        "    obj = _new(_cls)",
        "    unpack = src.unpack",
        "    take = src.take",
        "    cache = src.cache",
        "    bits = src.bits",
        "    nb = len(bits) << 3",
        "    bp = src.bit_pos",
    ]
    if cls._key_cached:
        lines += ["    _set(obj, '_kc', None)", "    _set(obj, '_hc', None)"]
    for i, (name, default) in enumerate(cls._init_defaults):
        if name not in wire:
            ns[f"_d{i}"] = default
            lines.append(f"    _set(obj, {name!r}, _d{i})")
    for i, f in enumerate(fields):
        kind = f.kind
        ns[f"_f{i}"] = f
        if kind is Kind.BOOLEAN:
            _tight_bit(lines, "v")
        elif kind is Kind.INT:
            lines.append("    v = unpack(_I32)")
        elif kind is Kind.BYTE:
            lines.append("    v = unpack(_I8)")
        elif kind is Kind.LONG:
            _tight_bit(lines, "b0")
            _tight_bit(lines, "b1")
            lines += [
                "    if b0:",
                "        v = unpack(_I64) if b1 else unpack(_U32)",
                "    elif b1:",
                "        v = unpack(_U16)",
                "    else:",
                "        v = 0",
            ]
        elif kind is Kind.STRING:
            _tight_bit(lines, "b0")
            lines.append("    if b0:")
            _tight_bit(lines, "b1", "        ")
            lines += [
                "        if b1:",
                "            v = take(unpack(_I16)).decode('latin-1')",
                "        else:",
                "            v = _mutf8(take(unpack(_U16)))",
                "    else:",
                "        v = None",
            ]
        elif kind is Kind.BYTES or kind is Kind.BYTE_SEQUENCE:
            _tight_bit(lines, "b0")
            lines.append("    v = take(unpack(_I32)) if b0 else None")
        elif kind is Kind.CACHED:
            lines.append("    if cache is None:")
            lines.append(f"        src.bit_pos = bp; v = _r_field(src, _f{i}, depth); bp = src.bit_pos")
            lines.append("    else:")
            _tight_bit(lines, "b0", "        ")
            lines += [
                "        if b0:",
                f"            src.bit_pos = bp; v = _r_cached_miss(src, _f{i}, depth); bp = src.bit_pos",
                "        else:",
                "            slot = unpack(_I16)",
                "            if not 0 <= slot < len(cache): _bad_slot(slot)",
                "            v = cache[slot]",
            ]
            if f.ref is not None:
                ns[f"_R{i}"] = CLASSES[f.ref]
                lines.append(
                    f"            if v is not None and not isinstance(v, _R{i}): _check_ref(_f{i}, v)"
                )
        else:
            lines.append(f"    src.bit_pos = bp; v = _r_field(src, _f{i}, depth); bp = src.bit_pos")
        lines.append(f"    _set(obj, {f.name!r}, v)")
    lines.append("    src.bit_pos = bp")
    lines.append("    return obj")
    exec("\n".join(lines), ns)  # noqa: S102 - source built only from the spec table
    return ns["read"]


def _compile_reader(cls: type[DataStructure], version: int, tight: bool) -> Any:
    """``read(src, depth) -> instance`` for one type as straight-line code: the defaults of
    the fields this version lacks, then one statement per wire field doing what
    :func:`_r_field` does for its kind (in wire order, so errors come out the same)."""
    if tight:
        return _compile_tight_reader(cls, version)
    fields = fields_for(cls.type_code, version)
    ns: dict[str, Any] = {
        "_cls": cls, "_new": object.__new__, "_set": object.__setattr__, "_I8": _I8, "_I32": _I32,
        "_r_long": _r_long, "_r_string": _r_string, "_r_field": _r_field,
    }  # fmt: skip
    lines = ["def read(src, depth):", "    obj = _new(_cls)", "    unpack = src.unpack"]
    if cls._key_cached:
        lines += ["    _set(obj, '_kc', None)", "    _set(obj, '_hc', None)"]
    for i, (name, default) in enumerate(cls._init_defaults):
        ns[f"_d{i}"] = default
        lines.append(f"    _set(obj, {name!r}, _d{i})")
    for i, f in enumerate(fields):
        kind = f.kind
        if kind is Kind.BOOLEAN:
            expr = "src.bit()" if tight else "src.u8() != 0"
        elif kind is Kind.INT:
            expr = "int(unpack(_I32))"
        elif kind is Kind.LONG:
            expr = "_r_long(src)"
        elif kind is Kind.STRING:
            expr = "_r_string(src)"
        elif kind is Kind.BYTE:
            expr = "int(unpack(_I8))"
        else:
            ns[f"_f{i}"] = f
            expr = f"_r_field(src, _f{i}, depth)"
        lines.append(f"    _set(obj, {f.name!r}, {expr})")
    lines.append("    return obj")
    exec("\n".join(lines), ns)  # noqa: S102 - source built only from the spec table
    return ns["read"]


def _r_fields(src: _In, cls: type[DataStructure], depth: int) -> DataStructure:
    if depth > MAX_NESTING:
        raise OpenWireCodecError("structures nested too deeply")
    key = (cls.type_code, src.version, src.tight)
    read = _READERS.get(key)
    if read is None:
        read = _READERS[key] = _compile_reader(cls, src.version, src.tight)
    return read(src, depth)  # type: ignore[no-any-return]


def _r_command(src: _In) -> DataStructure | None:
    code = src.u8()
    if code == spec.NULL:
        return None
    if not spec.type_known(code, src.version):
        raise OpenWireCodecError(f"unknown command type {code} in version {src.version}")
    cls = spec.class_for(code)
    if src.tight:
        src.read_bit_stream()
    return _r_fields(src, cls, 0)


def unmarshal(frame: bytes, wf: WireFormat, cache: list[Any] | None = None) -> DataStructure | None:
    """Decode one whole frame (with its size prefix unless ``wf.size_prefix_disabled``)."""
    data = bytes(frame)
    pos = 0
    if not wf.size_prefix_disabled:
        if len(data) < 4:
            raise OpenWireCodecError("frame shorter than its size prefix")
        size = _I32.unpack_from(data, 0)[0]
        if size != len(data) - 4:
            raise OpenWireCodecError(f"size prefix {size} does not match {len(data) - 4} bytes")
        pos = 4
    src = _In(data, pos, len(data), wf, cache, False)
    obj = _r_command(src)
    if src.pos != len(data):
        raise OpenWireCodecError(f"{len(data) - src.pos} bytes left over after the command")
    return obj


# -- the connection-level codec ------------------------------------------------------------

#: Fast readers by command type code: ``read(data, pos, end, wf, cache)`` decodes the frame
#: body after its type byte, or returns :data:`FAST_FALLBACK` (the generic reader decides).
#: Filled by :mod:`.fastpath`; used only in a format :func:`fast_eligible` accepts.
FAST_READERS: dict[int, Callable[..., Any]] = {}
#: Fast writers by command class: ``write(parser, command) -> bytes | None`` (None: use the
#: generic writer), byte for byte what :func:`marshal` gives.
FAST_WRITERS: dict[type, Callable[..., Any]] = {}
FAST_FALLBACK: Any = object()
#: the oldest protocol version the fast paths know the field lists of
FAST_MIN_VERSION = 10


def fast_eligible(wf: WireFormat) -> bool:
    """The fast paths cover tight encoding with the marshal cache (the JMS client's default)."""
    return wf.tight_encoding and wf.cache_enabled and wf.version >= FAST_MIN_VERSION


class OpenWireParser:
    """Incremental OpenWire decoder and encoder for one connection.

    ``wire_format`` gives the version and limits to start from (its encoding options are
    replaced by the fixed pre-negotiation form unless ``negotiated=True``). With
    ``preferred`` (our WireFormatInfo) the parser negotiates as soon as it decodes the
    peer's WireFormatInfo; without it the caller uses :meth:`set_wire_format`.
    """

    def __init__(
        self,
        wire_format: WireFormat | None = None,
        *,
        preferred: DataStructure | None = None,
        negotiated: bool = False,
    ) -> None:
        base = wire_format or WireFormat()
        self._base = base
        self._initial = base.initial()
        self.preferred = preferred
        self.remote_info: DataStructure | None = None
        self.negotiated = False
        self._buf = bytearray()
        self._wf = self._initial
        self._in_cache: list[Any] | None = None
        self._out_cache: _MarshalCache | None = None
        self._fast_read: dict[int, Callable[..., Any]] | None = None
        self._fast_write: dict[type, Callable[..., Any]] | None = None
        # With ``negotiated=True`` the WireFormatInfo exchange is over.
        self._info_sent = negotiated
        self._need = 0
        if negotiated:
            self.set_wire_format(base)

    @property
    def wire_format(self) -> WireFormat:
        return self._wf

    @property
    def fast_write(self) -> bool:
        """The hand-written encoders of :mod:`.fastpath` apply to this connection's format."""
        return self._fast_write is not None

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def set_wire_format(self, wf: WireFormat) -> None:
        """Switch both directions to ``wf`` (fresh marshal caches)."""
        self._wf = wf
        self.negotiated = True
        if wf.cache_enabled:
            size = max(1, min(wf.cache_size or MAX_CACHE_SIZE, MAX_CACHE_SIZE))
            self._in_cache = [None] * size
            self._out_cache = _MarshalCache(size)
        else:
            self._in_cache = None
            self._out_cache = None
        fast = fast_eligible(wf)
        self._fast_read = FAST_READERS if fast and not wf.size_prefix_disabled else None
        self._fast_write = FAST_WRITERS if fast else None

    def encode(self, command: DataStructure | None) -> bytes:
        """One frame for ``command``.

        The first WireFormatInfo this side sends is always in the pre-negotiation form (the
        peer reads it before it negotiates), whether or not the peer's has arrived yet.
        """
        fast = self._fast_write
        if fast is not None:
            write = fast.get(type(command))
            if write is not None:
                frame = write(self, command)
                if frame is not None:
                    return frame  # type: ignore[no-any-return]
        if isinstance(command, WireFormatInfo) and not self._info_sent:
            self._info_sent = True
            return marshal(command, self._initial)
        return marshal(command, self._wf, self._out_cache)

    def feed(self, data: bytes | bytearray | memoryview) -> list[DataStructure]:
        """Every command completed by ``data`` (null frames are dropped)."""
        buf = self._buf
        if buf:
            if data:
                buf += data
            if len(buf) < self._need:
                return []  # the frame at the front is still incomplete: no copy, no work
            view = bytes(buf)
        else:
            view = data if type(data) is bytes else bytes(data)
        commands: list[DataStructure] = []
        pos = 0
        n = len(view)
        self._need = 0
        # per-format values, read again after a WireFormatInfo (the only command changing them)
        wf = self._wf
        fast = self._fast_read
        in_cache = self._in_cache
        try:
            while pos < n:
                if wf.size_prefix_disabled:
                    src = _In(view, pos, n, wf, in_cache, True)
                    try:
                        obj = _r_command(src)
                    except _NeedMore as more:
                        if more.needed - pos > wf.max_frame_size:
                            raise OpenWireCodecError(
                                f"incomplete command exceeds {wf.max_frame_size} bytes"
                            ) from None
                        self._need = more.needed - pos
                        break
                    pos = src.pos
                else:
                    if n - pos < 4:
                        self._need = 4
                        break
                    size = _I32.unpack_from(view, pos)[0]
                    if size <= 0:
                        raise OpenWireCodecError(f"bad frame size {size}")
                    if size > wf.max_frame_size:
                        raise OpenWireCodecError(
                            f"frame of {size} bytes exceeds the limit of {wf.max_frame_size}"
                        )
                    start = pos + 4
                    end = start + size
                    if end > n:
                        self._need = 4 + size
                        break
                    obj = FAST_FALLBACK
                    if fast is not None:
                        read = fast.get(view[start])
                        if read is not None:
                            obj = read(view, start + 1, end, wf, in_cache)
                    if obj is FAST_FALLBACK:
                        src = _In(view, start, end, wf, in_cache, False)
                        obj = _r_command(src)
                        if src.pos != end:
                            raise OpenWireCodecError(f"{end - src.pos} bytes left over inside a frame")
                    pos = end
                if obj is None:
                    continue
                commands.append(obj)
                if type(obj) is WireFormatInfo:
                    self._on_wire_format_info(obj)
                    wf = self._wf
                    fast = self._fast_read
                    in_cache = self._in_cache
        except OpenWireCodecError as exc:
            exc.commands = commands
            self._keep(view, pos)
            raise
        except (RecursionError, MemoryError, OverflowError, ValueError) as exc:
            # Defensive: no peer bytes may escape as anything but the codec's error.
            err = OpenWireCodecError(f"undecodable command: {type(exc).__name__}")
            err.commands = commands
            self._keep(view, pos)
            raise err from None
        self._keep(view, pos)
        return commands

    def _keep(self, view: bytes, pos: int) -> None:
        """Hold the bytes from ``pos`` on for the next :meth:`feed`."""
        if pos >= len(view):
            if self._buf:
                self._buf = bytearray()
        elif pos or not self._buf:
            self._buf = bytearray(view[pos:])

    def _on_wire_format_info(self, info: DataStructure) -> None:
        self.remote_info = info
        if self.preferred is None:
            return
        if info.magic != MAGIC:
            raise OpenWireCodecError("WireFormatInfo magic is not 'ActiveMQ'")
        self.set_wire_format(negotiate(self.preferred, info, self._base))
