"""Shape-specialised readers for the hot OpenWire commands (tight encoding, marshal cache on).

In tight encoding every boolean of a command (null flags, the ASCII flag of strings, the
size class of longs, cache hit or miss) comes first, in the boolean stream. Given the bytes
of that stream, the whole layout of the command is known: which fields are null, zero or
false, how many bytes each long takes, where each fixed-size field sits up to the next
variable-length one. A JMS producer sends a handful of such *shapes* over and over.

:func:`reader` compiles, once per (type, version, boolean stream), a straight-line reader for
that shape: constants for the booleans, nulls and zero longs, ``unpack_from`` at constant
offsets for the rest, no bit arithmetic at run time. Only shapes whose structures are all
cache hits and whose only nested structure is a MessageId are compiled; any other shape
(and any new one beyond :data:`MAX_COMPILES_PER_SECOND`) gets :data:`NO_SHAPE` and the
caller reads the frame its usual way; past :data:`MAX_SHAPES` the compiled ones are dropped. A compiled reader raises (anything) when the bytes do not fit the
frame, and the caller then leaves the frame to the generic reader, which reports the precise
error; for bytes that fit, it builds exactly the object the generic reader builds.
"""

from __future__ import annotations

import struct
import time
from typing import Any

from . import spec
from .props import decode_mutf8, encode_mutf8
from .spec import DataStructure, Kind

__all__ = ["reader", "NO_SHAPE", "MAX_SHAPES", "ShapeMiss", "WriterSlot"]

#: compiled shapes kept per process (all are dropped when one more is needed)
MAX_SHAPES = 256
#: compilations per second at most (a peer inventing shapes costs at most this many ~ms)
MAX_COMPILES_PER_SECOND = 50
NO_SHAPE: Any = object()

_SHAPES: dict[tuple[int, int, bytes], Any] = {}
_budget = [0.0, 0]  # window start (monotonic seconds), compilations in that window


class ShapeMiss(Exception):
    """The frame's bytes do not fit its shape (the generic reader decides)."""


class _NotCompiled(Exception):
    pass


_TWINS: dict[type, type] = {}


def twin(cls: type[DataStructure]) -> type[DataStructure]:
    """A subclass of key-caching ``cls`` with the same layout and plain attribute assignment:
    a reader fills an instance of it with ordinary (fast) slot stores, then assigns
    ``__class__ = cls``; the object is then exactly what ``cls``'s own setters would leave."""
    got = _TWINS.get(cls)
    if got is None:
        ns = {"__slots__": (), "__setattr__": object.__setattr__, "__module__": __name__}
        got = _TWINS[cls] = type(f"_{cls.__name__}Twin", (cls,), ns)
    return got


def reader(cls: type[DataStructure], version: int, raw: bytes) -> Any:
    """The compiled reader ``read(data, pos, end, cache)`` for ``cls`` frames whose boolean
    stream is ``raw`` (``pos`` just after the stream), or :data:`NO_SHAPE`."""
    key = (cls.type_code, version, raw)
    got = _SHAPES.get(key)
    if got is None:
        now = time.monotonic()
        if now - _budget[0] >= 1.0:
            _budget[0], _budget[1] = now, 0
        if _budget[1] >= MAX_COMPILES_PER_SECOND:
            return NO_SHAPE  # not remembered: compiled once the budget allows
        _budget[1] += 1
        if len(_SHAPES) >= MAX_SHAPES:
            _SHAPES.clear()
        try:
            got = _compile(cls, version, raw)
        except _NotCompiled:
            got = NO_SHAPE
        _SHAPES[key] = got
    return got


class _Source:
    """The generated function's lines and the symbolic read position."""

    def __init__(self, raw: bytes) -> None:
        self.bits = int.from_bytes(raw, "little")
        self.nbits = len(raw) * 8
        self.bp = 0
        self.off = 0  # bytes past the run-time ``pos`` already accounted for
        self.lines: list[str] = []
        #: bumped whenever the run-time ``pos`` moves (a variable-length field was read)
        self.moves = 0
        #: the last MessageId read at a constant place: (depth, moves, first byte offset, byte
        #: count, its boolean bits, their count)
        self.last_id: tuple[int, int, int, int, int, int] | None = None
        #: fixed-size values read since ``pos`` last moved: (offset, struct code, size, variable),
        #: unpacked by one call inserted at line ``group_at`` (see :meth:`fixed`)
        self.group: list[tuple[int, str, int, str]] = []
        self.group_at = 0
        self.nvars = 0
        self.ns: dict[str, Any] = {
            "_new": object.__new__,
            "_set": object.__setattr__,
            "_i16": struct.Struct(">h").unpack_from,
            "_u16": struct.Struct(">H").unpack_from,
            "_i32": struct.Struct(">i").unpack_from,
            "_u32": struct.Struct(">I").unpack_from,
            "_i64": struct.Struct(">q").unpack_from,
            "_mutf8": decode_mutf8,
            "_Miss": ShapeMiss,
        }

    def bit(self) -> bool:
        if self.bp >= self.nbits:
            raise _NotCompiled  # the generic reader reports the exhausted stream
        b = self.bits >> self.bp & 1
        self.bp += 1
        return b == 1

    def name(self, prefix: str, value: Any) -> str:
        n = f"{prefix}{len(self.ns)}"
        self.ns[n] = value
        return n

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    def fixed(self, code: str, size: int) -> str:
        """The variable that holds the fixed-size value (struct ``code``) at the current
        offset: every such value up to the next move of ``pos`` comes from one
        ``unpack_from`` call, put before the first line that uses one of them."""
        if not self.group:
            self.group_at = len(self.lines)
        var = f"u{self.nvars}"
        self.nvars += 1
        self.group.append((self.off, code, size, var))
        self.off += size
        return var

    def flush(self) -> None:
        """Insert the ``unpack_from`` of the values :meth:`fixed` gave out since the last one
        (before ``pos`` moves, and at the end)."""
        group = self.group
        if not group:
            return
        first = at = group[0][0]
        fmt = ">"
        for off, code, size, _var in group:
            if off > at:
                fmt += f"{off - at}x"
            fmt += code
            at = off + size
        names = ", ".join(var for *_, var in group)
        fn = self.name("_S", struct.Struct(fmt).unpack_from)
        self.lines.insert(self.group_at, f"    ({names},) = {fn}(data, pos + {first})")
        self.group = []

    def value(self, f: spec.FieldSpec, depth: int) -> str:
        """Source that leaves field ``f``'s value in ``v`` (or a constant expression)."""
        kind = f.kind
        if kind is Kind.BOOLEAN:
            return "True" if self.bit() else "False"
        if kind is Kind.BYTE:
            return self.fixed("b", 1)
        if kind is Kind.INT:
            return self.fixed("i", 4)
        if kind is Kind.LONG:
            b0, b1 = self.bit(), self.bit()
            if not b0 and not b1:
                return "0"
            return self.fixed(*(("q", 8) if b0 and b1 else ("I", 4) if b0 else ("H", 2)))
        if kind is Kind.STRING:
            if not self.bit():
                return "None"
            ascii_ = self.bit()
            n = self.fixed("h" if ascii_ else "H", 2)
            if ascii_:
                self.emit(f"if {n} < 0: raise _Miss")
            self.emit(f"p = pos + {self.off}")
            self.emit(f"pos = p + {n}")
            self.emit("v = data[p:pos].decode('latin-1')" if ascii_ else "v = _mutf8(data[p:pos])")
            self.flush()
            self.off = 0
            self.moves += 1
            return "v"
        if kind is Kind.BYTES or kind is Kind.BYTE_SEQUENCE:
            if not self.bit():
                return "None"
            n = self.fixed("i", 4)
            self.emit(f"if {n} < 0: raise _Miss")
            self.emit(f"p = pos + {self.off}")
            self.emit(f"pos = p + {n}")
            self.emit("v = data[p:pos]")
            self.flush()
            self.off = 0
            self.moves += 1
            return "v"
        if kind is Kind.CACHED:
            if self.bit():
                raise _NotCompiled  # the value is on the wire: read it the usual way
            slot = self.fixed("h", 2)
            self.emit(f"if {slot} < 0: raise _Miss")
            self.emit(f"v = cache[{slot}]")
            if f.ref is not None:
                ref = self.name("_R", spec.CLASSES[f.ref])
                self.emit(f"if v is not None and not isinstance(v, {ref}): raise _Miss")
            return "v"
        if kind is Kind.NESTED or kind is Kind.OBJECT_ARRAY or kind is Kind.THROWABLE:
            if not self.bit():
                return "None"
            if kind is Kind.NESTED and f.ref == "MessageId":
                return self.shared_message_id(depth)
            raise _NotCompiled
        raise _NotCompiled  # kinds the hot commands do not have

    def shared_message_id(self, depth: int) -> str:
        """A nested MessageId; when the previous one (a MessageAck's first and last ids) had
        the same booleans at a constant place, the same bytes give the same object again."""
        moves, off, bp, start = self.moves, self.off, self.bp, len(self.lines)
        var = self.message_id(depth)
        if self.moves != moves:  # a text view: its place varies
            self.last_id = None
            return var
        size, nbits = self.off - off, self.bp - bp
        bits = self.bits >> bp & ((1 << nbits) - 1)
        prev = self.last_id
        self.last_id = (depth, moves, off, size, bits, nbits)
        if prev is not None and prev[:2] == (depth, moves) and prev[3:] == (size, bits, nbits):
            # built only when its bytes differ from the previous id's (``var`` still holds it)
            body = self.lines[start:]
            del self.lines[start:]
            p0 = prev[2]
            self.emit(f"if data[pos + {off} : pos + {off + size}] != data[pos + {p0} : pos + {p0 + size}]:")
            self.lines += ["    " + line for line in body]
        return var

    def message_id(self, depth: int) -> str:
        """A nested MessageId (its presence bit read): built into ``m``."""
        cls = spec.MessageId
        self.emit(f"if {self.fixed('B', 1)} != {cls.type_code}: raise _Miss")
        var = f"m{depth}"
        # built as its twin (plain slot stores), then given its own class
        self.emit(f"{var} = _new({self.name('_T', twin(cls))})")
        wire = set()
        for f in spec.fields_for(cls.type_code, self.version):
            expr = self.value(f, depth + 1)
            self.emit(f"{var}_{f.name} = {expr}")
            self.emit(f"{var}.{f.name} = {var}_{f.name}")
            wire.add(f.name)
        for name, default in cls._init_defaults:
            if name not in wire:
                self.emit(f"{var}_{name} = {self.name('_D', default)}")
                self.emit(f"{var}.{name} = {var}_{name}")
        # the key DataStructure._key gives, with the producer id's own key in its place
        p = f"{var}_producer_id"
        self.emit(f"pk = None if {p} is None else ({p}._kc or {p}._key())")
        values = ", ".join("pk" if n == p else n for n in (f"{var}_{name}" for name, _ in cls._init_defaults))
        self.emit(f"{var}._kc = ({cls.type_code}, {values})")
        self.emit(f"{var}._hc = None")
        self.emit(f"{var}.__class__ = {self.name('_C', cls)}")
        return var

    version = spec.MAX_VERSION


def _compile(cls: type[DataStructure], version: int, raw: bytes) -> Any:
    src = _Source(raw)
    src.version = version
    fields = spec.fields_for(cls.type_code, version)
    if cls._key_cached or cls.__setattr__ is not object.__setattr__:  # pragma: no cover
        raise _NotCompiled  # the hot commands have plain slots
    c = src.name("_C", cls)
    src.emit(f"o = _new({c})")
    wire = {f.name for f in fields}
    for name, default in cls._init_defaults:
        if name not in wire:
            src.emit(f"o.{name} = {src.name('_D', default)}")
    for f in fields:
        if not f.name.isidentifier():  # pragma: no cover - the table uses identifiers
            raise _NotCompiled
        expr = src.value(f, 0)
        src.emit(f"o.{f.name} = {expr}")
    src.flush()
    src.emit(f"if pos + {src.off} != end: raise _Miss")
    if issubclass(cls, spec.Message):
        src.emit(f"o._wshape = {src.name('_W', WriterSlot(cls, version, raw))}")
    src.emit("return o")
    text = "def read(data, pos, end, cache):\n" + "\n".join(src.lines)
    exec(text, src.ns)  # noqa: S102 - source built only from the spec table and one bit pattern
    return src.ns["read"]


# -- writers for the layout a reader saw ------------------------------------------------------


class WriterSlot:
    """The dispatch writer of one message shape, compiled the first time it is needed.

    ``write(m, buf, bb, bn, index, destination, user_id, redelivery_counter, broker_in_time)``
    appends the fields of message ``m`` as the generic writer would (command id 0, no response
    wanted, no transaction, the given per-delivery values) and returns ``(bb, bn)``, or
    ``None`` with nothing written to the cache when it cannot (a cache lookup misses, a value
    whose canonical encoding is not the one the shape had): the caller then truncates ``buf``
    and uses the general writer. It relies on ``m`` being what the reader built (a decoded
    command is never modified in place: the broker copies it to change it)."""

    __slots__ = ("cls", "version", "raw", "_write")

    def __init__(self, cls: type[DataStructure], version: int, raw: bytes) -> None:
        self.cls, self.version, self.raw = cls, version, raw
        self._write: Any = None

    @property
    def write(self) -> Any:
        w = self._write
        if w is None:
            w = self._write = _compile_writer(self.cls, self.version, self.raw)
        return w


class _WSource:
    """Source of a shape writer: constant booleans are folded into runs, and fixed-size
    values into one ``struct`` pack per run of them (up to the next variable-length field)."""

    def __init__(self, raw: bytes) -> None:
        self.bits = int.from_bytes(raw, "little")
        self.bp = 0
        self.run_bits = 0
        self.run_n = 0
        self.lines: list[str] = []
        #: fixed-size values not written yet: (struct code, expression)
        self.packs: list[tuple[str, str]] = []
        self.nvars = 0
        self.ns: dict[str, Any] = {
            "_pu16": struct.Struct(">H").pack,
            "_pu32": struct.Struct(">I").pack,
            "_p64": struct.Struct(">q").pack,
            "_mutf8": encode_mutf8,
            "_M64": 0xFFFF_FFFF_FFFF_FFFF,
        }

    def inbit(self) -> int:
        b = self.bits >> self.bp & 1
        self.bp += 1
        return b

    def const(self, b: int) -> None:
        self.run_bits |= b << self.run_n
        self.run_n += 1

    def flush(self) -> None:
        if self.run_n:
            if self.run_bits:
                self.emit(f"bb |= {self.run_bits} << bn")
            self.emit(f"bn += {self.run_n}")
        self.run_bits = 0
        self.run_n = 0

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    def var(self) -> str:
        self.nvars += 1
        return f"t{self.nvars}"

    def put(self, code: str, expr: str) -> None:
        """Write ``expr`` (struct ``code``) with the fixed-size values around it; ``expr``
        must keep its value until :meth:`dump`."""
        self.packs.append((code, expr))

    def dump(self) -> None:
        """Write the fixed-size values :meth:`put` since the last dump, in one pack."""
        if self.packs:
            fmt = ">" + "".join(code for code, _ in self.packs)
            fn = self.name("_P", struct.Struct(fmt).pack)
            self.emit(f"buf += {fn}({', '.join(expr for _, expr in self.packs)})")
            self.packs = []

    def name(self, prefix: str, value: Any) -> str:
        n = f"{prefix}{len(self.ns)}"
        self.ns[n] = value
        return n

    def long(self, expr: str) -> None:
        """A long whose size class may differ from the shape's: written in full."""
        self.flush()
        self.dump()
        self.emit(f"v = {expr}")
        self.emit("if type(v) is not int or not -0x8000000000000000 <= v <= 0x7FFFFFFFFFFFFFFF: return None")
        self.emit("u = v & _M64")
        self.emit("if u == 0: bn += 2")
        self.emit("elif u <= 0xFFFF: bb |= 2 << bn; bn += 2; buf += _pu16(u)")
        self.emit("elif u <= 0xFFFFFFFF: bb |= 1 << bn; bn += 2; buf += _pu32(u)")
        self.emit("else: bb |= 3 << bn; bn += 2; buf += _p64(v)")

    def string(self, expr: str) -> None:
        """A string whose null-ness may differ from the shape's: written in full (ASCII or
        the general writer)."""
        self.flush()
        self.dump()
        self.emit(f"v = {expr}")
        self.emit("if v is None: bn += 1")
        self.emit("elif type(v) is str and v.isascii() and '\\x00' not in v and len(v) < 0x7FFF:")
        self.emit("    bb |= 3 << bn; bn += 2; buf += _pu16(len(v)); buf += v.encode('ascii')")
        self.emit("else: return None")

    def field(self, f: spec.FieldSpec, obj: str) -> None:
        kind = f.kind
        name = f.name
        ref = f"{obj}.{name}"
        top = obj == "m"
        if top and name == "command_id":
            self.put("i", "0")
        elif top and name == "response_required":
            self.inbit()
            self.const(0)
        elif kind is Kind.BOOLEAN:
            self.const(self.inbit())
        elif kind is Kind.BYTE:
            self.put("b", ref)
        elif kind is Kind.INT:
            self.put("i", "redelivery_counter" if top and name == "redelivery_counter" else ref)
        elif kind is Kind.LONG:
            b0, b1 = self.inbit(), self.inbit()
            if top and name == "broker_in_time":
                self.long("broker_in_time")
                return
            self.const(b0)
            self.const(b1)
            if not b0 and not b1:
                self.emit(f"if {ref} != 0: return None")
                return
            t = self.var()
            self.emit(f"{t} = {ref}")
            if b0 and b1:  # canonical only when it does not fit 32 unsigned bits
                self.emit(f"if 0 <= {t} <= 0xFFFFFFFF: return None")
                self.put("q", t)
            elif b0:
                self.emit(f"if not 0xFFFF < {t} <= 0xFFFFFFFF: return None")
                self.put("I", t)
            else:
                self.emit(f"if not 0 < {t} <= 0xFFFF: return None")
                self.put("H", t)
        elif kind is Kind.STRING:
            present = self.inbit()
            ascii_ = self.inbit() if present else 0
            if top and name == "user_id":
                self.string("user_id")
                return
            if not present:
                self.const(0)
                return
            t = self.var()
            self.emit(f"{t} = {ref}")
            self.const(1)
            self.const(ascii_)
            if ascii_:
                self.emit(f"if not {t}.isascii() or '\\x00' in {t} or len({t}) >= 0x7FFF: return None")
                self.put("H", f"len({t})")
                self.dump()
                self.emit(f"buf += {t}.encode('ascii')")
            else:
                self.emit(f"if {t}.isascii() and '\\x00' not in {t}: return None")
                self.emit(f"{t} = _mutf8({t})")
                self.emit(f"if len({t}) > 0xFFFF: return None")
                self.put("H", f"len({t})")
                self.dump()
                self.emit(f"buf += {t}")
        elif kind is Kind.BYTES or kind is Kind.BYTE_SEQUENCE:
            present = self.inbit()
            self.const(present)
            if present:
                t = self.var()
                self.emit(f"{t} = {ref}")
                self.put("i", f"len({t})")
                self.dump()
                self.emit(f"buf += {t}")
        elif kind is Kind.CACHED:
            if self.inbit():
                raise _NotCompiled  # pragma: no cover - readers compile all-hit shapes only
            self.const(0)
            if top and name == "transaction_id":
                self.emit("if pnone is None: return None")
                self.put("h", "pnone")
                return
            t = self.var()
            v = "destination" if top and name == "destination" else ref
            self.emit(f"{t} = {v}")
            self.emit(f"{t} = pnone if {t} is None else index.get({t}._kc or {t}._key())")
            self.emit(f"if {t} is None: return None")
            self.put("h", t)
        elif kind is Kind.NESTED and f.ref == "MessageId":
            present = self.inbit()
            self.const(present)
            if present:
                self.emit(f"mm = {ref}")
                self.put("B", str(spec.MESSAGE_ID))
                for g in spec.fields_for(spec.MESSAGE_ID, self.version):
                    self.field(g, "mm")
        elif kind in (Kind.NESTED, Kind.OBJECT_ARRAY, Kind.THROWABLE):
            if self.inbit():
                raise _NotCompiled  # pragma: no cover - readers compile such shapes never
            self.const(0)
        else:  # pragma: no cover - kinds the messages do not have
            raise _NotCompiled

    version = spec.MAX_VERSION


def _compile_writer(cls: type[DataStructure], version: int, raw: bytes) -> Any:
    src = _WSource(raw)
    src.version = version
    src.emit("pnone = index.get(None)")
    for f in spec.fields_for(cls.type_code, version):
        src.field(f, "m")
    src.flush()
    src.dump()
    src.emit("return bb, bn")
    text = (
        "def write(m, buf, bb, bn, index, destination, user_id, redelivery_counter, broker_in_time):\n"
        + "\n".join(src.lines)
    )
    exec(text, src.ns)  # noqa: S102 - source built only from the spec table and one bit pattern
    return src.ns["write"]
