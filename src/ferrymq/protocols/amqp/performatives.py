"""AMQP 1.0 composite types: performatives, terminus, error, delivery states, transactions.

Everything here is driven by :data:`TABLE`: one row per composite type with its descriptor
code, its descriptor symbol and its fields (the spec's names, type, default and flags).
The classes below are three-line declarations that take their slots, encoder and decoder
from their row; edit the table, not the classes.

Encoding: a described list, descriptor as smallulong, fields with their declared AMQP type,
fields that are ``None`` or equal to their default written as null, trailing nulls trimmed.
Decoding: both ulong and symbol descriptors; absent/null fields take their default; a missing
mandatory field or a field of the wrong type raises ``AmqpCodecError("amqp:decode-error")``.
Fields flagged *multiple* decode to a ``list`` whether the peer sent one value or an array.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ferrymq.protocols.amqp.types import (
    FIELD_ENCODERS,
    AmqpCodecError,
    Array,
    Byte,
    EncodedList,
    Int,
    Long,
    Short,
    Symbol,
    Timestamp,
    UByte,
    UInt,
    ULong,
    UShort,
    _compound,
    _e_ulong,
    _encode,
    register_described,
    register_encoder,
)

__all__ = [
    "TABLE",
    "Accepted",
    "Attach",
    "Begin",
    "Close",
    "Composite",
    "CompositeSpec",
    "Coordinator",
    "Declare",
    "Declared",
    "DeleteOnClose",
    "DeleteOnNoLinks",
    "DeleteOnNoLinksOrMessages",
    "DeleteOnNoMessages",
    "Detach",
    "Discharge",
    "Disposition",
    "End",
    "Error",
    "FieldSpec",
    "Flow",
    "Modified",
    "Open",
    "Performative",
    "Received",
    "Rejected",
    "Released",
    "Source",
    "Target",
    "TransactionalState",
    "Transfer",
    "build_table",
]

# role
SENDER = False
RECEIVER = True
# sender-settle-mode
SND_UNSETTLED = 0
SND_SETTLED = 1
SND_MIXED = 2
# receiver-settle-mode
RCV_FIRST = 0
RCV_SECOND = 1
# terminus-durability
DURABLE_NONE = 0
DURABLE_CONFIGURATION = 1
DURABLE_UNSETTLED_STATE = 2
# terminus-expiry-policy
EXPIRY_LINK_DETACH = Symbol("link-detach")
EXPIRY_SESSION_END = Symbol("session-end")
EXPIRY_CONNECTION_CLOSE = Symbol("connection-close")
EXPIRY_NEVER = Symbol("never")
#: spec default max-frame-size / handle-max
UINT_MAX = 0xFFFFFFFF
#: frames up to this size must always be accepted (MIN-MAX-FRAME-SIZE)
MIN_MAX_FRAME_SIZE = 512


class FieldSpec(NamedTuple):
    name: str  # the spec's name, e.g. "container-id"
    attr: str  # the Python attribute, e.g. "container_id"
    type: str  # AMQP type name; "*" any, "fields" a map with symbol keys
    default: Any
    mandatory: bool
    multiple: bool


class CompositeSpec:
    """One row of a composite table, compiled."""

    __slots__ = (
        "name",
        "code",
        "symbol",
        "fields",
        "slots",
        "defaults",
        "encoders",
        "decoders",
        "mandatory",
        "descriptor_bytes",
        "getter",
    )

    def __init__(self, name: str, code: int, symbol: str, rows: Iterable[tuple[str, str, Any, str]]) -> None:
        self.name = name
        self.code = code
        self.symbol = Symbol(symbol)
        fields = []
        for fname, ftype, default, flags in rows:
            fields.append(
                FieldSpec(fname, fname.replace("-", "_"), ftype, default, "m" in flags, "*" in flags)
            )
        self.fields: tuple[FieldSpec, ...] = tuple(fields)
        self.slots: tuple[str, ...] = tuple(f.attr for f in fields)
        self.defaults: tuple[Any, ...] = tuple(f.default for f in fields)
        self.mandatory: tuple[bool, ...] = tuple(f.mandatory for f in fields)
        self.encoders = tuple(_field_encoder(f) for f in fields)
        #: per field, for decoding: (attr, default, mandatory, exact types allowed or None,
        #: normaliser or None)
        self.decoders: tuple[tuple[str, Any, bool, frozenset[type] | None, Any], ...] = tuple(
            (f.attr, f.default, f.mandatory, None if f.multiple else _PY_TYPES.get(f.type),
             _normalise_multiple if f.multiple else None)
            for f in fields
        )  # fmt: skip
        self.getter = operator.attrgetter(*self.slots) if self.slots else (lambda obj: ())
        head = bytearray(b"\x00")
        _e_ulong(code, head)
        self.descriptor_bytes = bytes(head)


def build_table(
    rows: Iterable[tuple[str, int, str, Iterable[tuple[str, str, Any, str]]]],
) -> dict[str, CompositeSpec]:
    return {name: CompositeSpec(name, code, symbol, fields) for name, code, symbol, fields in rows}


# ---- per-field encoders and checks, chosen from the declared type


def _enc_any(v: Any, out: bytearray) -> None:
    _encode(v, out)


def _enc_fields(v: Any, out: bytearray) -> None:
    # "fields": a map keyed by symbols; plain str keys become symbols
    _encode({Symbol(k) if type(k) is str else k: x for k, x in v.items()}, out)


def _enc_symbols(v: Any, out: bytearray) -> None:
    if isinstance(v, str):
        FIELD_ENCODERS["symbol"](v, out)
    elif isinstance(v, Array):
        _encode(v, out)
    else:
        _encode(Array("symbol", v), out)


def _field_encoder(f: FieldSpec) -> Any:
    if f.multiple and f.type == "symbol":
        return _enc_symbols
    if f.type == "fields":
        return _enc_fields
    return FIELD_ENCODERS.get(f.type, _enc_any)


_INTS = frozenset((int, UByte, UShort, UInt, ULong, Byte, Short, Int, Long, Timestamp))
_STRS = frozenset((str, Symbol))
_MAPS = frozenset((dict,))
#: exact Python types the decoder produces for each declared field type
_PY_TYPES: dict[str, frozenset[type]] = {
    "boolean": frozenset((bool,)),
    "ubyte": _INTS,
    "ushort": _INTS,
    "uint": _INTS,
    "ulong": _INTS,
    "int": _INTS,
    "long": _INTS,
    "timestamp": _INTS,
    "string": _STRS,
    "symbol": _STRS,
    "binary": frozenset((bytes,)),
    "fields": _MAPS,
    "map": _MAPS,
    "list": frozenset((list,)),
}


def _normalise_multiple(v: Any) -> list[Any]:
    """A multiple symbol field: one value or an array of them, as a list."""
    if isinstance(v, Array):
        v = v.items
    elif not isinstance(v, list):
        v = [v]
    for x in v:
        if not isinstance(x, str):
            raise AmqpCodecError("multiple symbol field holds a non-symbol")
    return v


# ---- the base class


class Composite:
    """A described list with named fields; subclasses declare ``SPEC`` and ``__slots__``."""

    __slots__ = ()
    SPEC: ClassVar[CompositeSpec]
    _decode_fields: ClassVar[Any]
    _BY_CODE: ClassVar[dict[int, type[Composite]]] = {}

    if TYPE_CHECKING:  # field attributes come from the table

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("SPEC")
        if spec is None:
            return
        Composite._BY_CODE[spec.code] = cls
        cls._decode_fields = staticmethod(_compile_decoder(cls, spec))
        register_described((ULong(spec.code), spec.symbol), cls._decode_fields)
        register_encoder(cls, _encode_composite)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        spec = self.SPEC
        if len(args) > len(spec.slots):
            raise TypeError(f"{type(self).__name__} takes at most {len(spec.slots)} positional fields")
        for attr, default in zip(spec.slots, spec.defaults, strict=True):
            object.__setattr__(self, attr, default)
        # None means null on the wire, which means the field's default
        for attr, v in zip(spec.slots, args, strict=False):
            if v is not None:
                object.__setattr__(self, attr, v)
        for attr, v in kwargs.items():
            if attr not in spec.slots:
                raise TypeError(f"{type(self).__name__} has no field {attr!r}")
            if v is not None:
                object.__setattr__(self, attr, v)

    @classmethod
    def from_value(cls, value: Any) -> Any:
        """Build from the decoded described value (a list of fields)."""
        return cls._decode_fields(value)

    def encoded_list(self) -> EncodedList:
        """The fields as an encoded list body (count, content)."""
        spec = self.SPEC
        values = spec.getter(self) if len(spec.slots) > 1 else [getattr(self, a) for a in spec.slots]
        count = len(values)
        defaults = spec.defaults
        while count and (values[count - 1] is None or values[count - 1] == defaults[count - 1]):
            count -= 1
        content = bytearray()
        encoders = spec.encoders
        for i in range(count):
            v = values[i]
            if v is None or (defaults[i] is not None and v == defaults[i] and type(v) is not dict):
                if spec.mandatory[i]:
                    raise ValueError(f"{spec.symbol}: mandatory field {spec.fields[i].name} is not set")
                content.append(0x40)
            else:
                encoders[i](v, content)
        if count < len(values):
            for i in range(count, len(values)):
                if spec.mandatory[i]:
                    raise ValueError(f"{spec.symbol}: mandatory field {spec.fields[i].name} is not set")
        return EncodedList(count, content)

    def encode(self, out: bytearray) -> None:
        _encode_composite(self, out)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in self.SPEC.slots)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        spec = self.SPEC
        parts = [
            f"{a}={getattr(self, a)!r}"
            for a, d in zip(spec.slots, spec.defaults, strict=True)
            if getattr(self, a) != d
        ]
        return f"{type(self).__name__}({', '.join(parts)})"


def _encode_composite(obj: Composite, out: bytearray) -> None:
    body = obj.encoded_list()
    out += obj.SPEC.descriptor_bytes
    if body.count == 0:
        out.append(0x45)
    else:
        _compound(out, body.count, body.content, 0xC0, 0xD0)


def _compile_decoder(cls: type[Composite], spec: CompositeSpec) -> Any:
    """Generate ``decode(value) -> instance`` for one table row as straight-line code (one
    block per field: take it or its default, check mandatory and type), the way dataclasses
    generate ``__init__``; this is the hot path for every received frame."""
    symbol = str(spec.symbol)

    def not_a_list(value: Any) -> AmqpCodecError:
        return AmqpCodecError(f"{symbol} must be a list, got {type(value).__name__}")

    def missing(i: int) -> AmqpCodecError:
        return AmqpCodecError(f"{symbol}: mandatory field {spec.fields[i].name} is missing")

    def wrong(i: int, v: Any) -> AmqpCodecError:
        return AmqpCodecError(f"{symbol}: field {spec.fields[i].name} has the wrong type {type(v).__name__}")

    ns: dict[str, Any] = {
        "_cls": cls, "_new": object.__new__, "_list": list, "_not_a_list": not_a_list,
        "_missing": missing, "_wrong": wrong,
    }  # fmt: skip
    lines = [
        "def decode(value):",
        "    if not isinstance(value, _list):",
        "        raise _not_a_list(value)",
        "    n = len(value)",
        "    obj = _new(_cls)",
    ]
    for i, (attr, default, mandatory, types, normalise) in enumerate(spec.decoders):
        ns[f"_d{i}"] = default
        ns[f"_t{i}"] = types
        ns[f"_n{i}"] = normalise
        lines.append(f"    v = value[{i}] if n > {i} else None")
        lines.append("    if v is None:")
        lines.append(f"        raise _missing({i})" if mandatory else f"        v = _d{i}")
        if types is not None:
            lines.append(f"    elif type(v) not in _t{i}:")
            lines.append(f"        raise _wrong({i}, v)")
        elif normalise is not None:
            lines.append("    else:")
            lines.append(f"        v = _n{i}(v)")
        lines.append(f"    obj.{attr} = v")
    lines.append("    return obj")
    exec("\n".join(lines), ns)  # noqa: S102 - source built only from the table above
    decode = ns["decode"]
    decode.__qualname__ = f"{cls.__name__}._decode_fields"
    return decode


class Performative(Composite):
    """The body of an AMQP (type 0) frame."""

    __slots__ = ()


class DeliveryState(Composite):
    """Delivery states and outcomes (accepted, rejected, released, modified, received...)."""

    __slots__ = ()


M = "m"  # mandatory
MULTI = "*"  # multiple
MM = "m*"

TABLE: dict[str, CompositeSpec] = build_table(
    [
        # ---- transport (part 2)
        ("Open", 0x10, "amqp:open:list", [
            ("container-id", "string", None, M),
            ("hostname", "string", None, ""),
            ("max-frame-size", "uint", UINT_MAX, ""),
            ("channel-max", "ushort", 65535, ""),
            ("idle-time-out", "uint", None, ""),
            ("outgoing-locales", "symbol", None, MULTI),
            ("incoming-locales", "symbol", None, MULTI),
            ("offered-capabilities", "symbol", None, MULTI),
            ("desired-capabilities", "symbol", None, MULTI),
            ("properties", "fields", None, ""),
        ]),
        ("Begin", 0x11, "amqp:begin:list", [
            ("remote-channel", "ushort", None, ""),
            ("next-outgoing-id", "uint", None, M),
            ("incoming-window", "uint", None, M),
            ("outgoing-window", "uint", None, M),
            ("handle-max", "uint", UINT_MAX, ""),
            ("offered-capabilities", "symbol", None, MULTI),
            ("desired-capabilities", "symbol", None, MULTI),
            ("properties", "fields", None, ""),
        ]),
        ("Attach", 0x12, "amqp:attach:list", [
            ("name", "string", None, M),
            ("handle", "uint", None, M),
            ("role", "boolean", None, M),
            ("snd-settle-mode", "ubyte", SND_MIXED, ""),
            ("rcv-settle-mode", "ubyte", RCV_FIRST, ""),
            ("source", "*", None, ""),
            ("target", "*", None, ""),
            ("unsettled", "map", None, ""),
            ("incomplete-unsettled", "boolean", False, ""),
            ("initial-delivery-count", "uint", None, ""),
            ("max-message-size", "ulong", None, ""),
            ("offered-capabilities", "symbol", None, MULTI),
            ("desired-capabilities", "symbol", None, MULTI),
            ("properties", "fields", None, ""),
        ]),
        ("Flow", 0x13, "amqp:flow:list", [
            ("next-incoming-id", "uint", None, ""),
            ("incoming-window", "uint", None, M),
            ("next-outgoing-id", "uint", None, M),
            ("outgoing-window", "uint", None, M),
            ("handle", "uint", None, ""),
            ("delivery-count", "uint", None, ""),
            ("link-credit", "uint", None, ""),
            ("available", "uint", None, ""),
            ("drain", "boolean", False, ""),
            ("echo", "boolean", False, ""),
            ("properties", "fields", None, ""),
        ]),
        ("Transfer", 0x14, "amqp:transfer:list", [
            ("handle", "uint", None, M),
            ("delivery-id", "uint", None, ""),
            ("delivery-tag", "binary", None, ""),
            ("message-format", "uint", None, ""),
            ("settled", "boolean", None, ""),
            ("more", "boolean", False, ""),
            ("rcv-settle-mode", "ubyte", None, ""),
            ("state", "*", None, ""),
            ("resume", "boolean", False, ""),
            ("aborted", "boolean", False, ""),
            ("batchable", "boolean", False, ""),
        ]),
        ("Disposition", 0x15, "amqp:disposition:list", [
            ("role", "boolean", None, M),
            ("first", "uint", None, M),
            ("last", "uint", None, ""),
            ("settled", "boolean", False, ""),
            ("state", "*", None, ""),
            ("batchable", "boolean", False, ""),
        ]),
        ("Detach", 0x16, "amqp:detach:list", [
            ("handle", "uint", None, M),
            ("closed", "boolean", False, ""),
            ("error", "*", None, ""),
        ]),
        ("End", 0x17, "amqp:end:list", [
            ("error", "*", None, ""),
        ]),
        ("Close", 0x18, "amqp:close:list", [
            ("error", "*", None, ""),
        ]),
        ("Error", 0x1D, "amqp:error:list", [
            ("condition", "symbol", None, M),
            ("description", "string", None, ""),
            ("info", "fields", None, ""),
        ]),
        # ---- messaging (part 3): delivery states and outcomes
        ("Received", 0x23, "amqp:received:list", [
            ("section-number", "uint", None, M),
            ("section-offset", "ulong", None, M),
        ]),
        ("Accepted", 0x24, "amqp:accepted:list", []),
        ("Rejected", 0x25, "amqp:rejected:list", [
            ("error", "*", None, ""),
        ]),
        ("Released", 0x26, "amqp:released:list", []),
        ("Modified", 0x27, "amqp:modified:list", [
            ("delivery-failed", "boolean", None, ""),
            ("undeliverable-here", "boolean", None, ""),
            ("message-annotations", "fields", None, ""),
        ]),
        # ---- messaging: terminus
        ("Source", 0x28, "amqp:source:list", [
            ("address", "*", None, ""),
            ("durable", "uint", DURABLE_NONE, ""),
            ("expiry-policy", "symbol", EXPIRY_SESSION_END, ""),
            ("timeout", "uint", 0, ""),
            ("dynamic", "boolean", False, ""),
            ("dynamic-node-properties", "fields", None, ""),
            ("distribution-mode", "symbol", None, ""),
            ("filter", "map", None, ""),
            ("default-outcome", "*", None, ""),
            ("outcomes", "symbol", None, MULTI),
            ("capabilities", "symbol", None, MULTI),
        ]),
        ("Target", 0x29, "amqp:target:list", [
            ("address", "*", None, ""),
            ("durable", "uint", DURABLE_NONE, ""),
            ("expiry-policy", "symbol", EXPIRY_SESSION_END, ""),
            ("timeout", "uint", 0, ""),
            ("dynamic", "boolean", False, ""),
            ("dynamic-node-properties", "fields", None, ""),
            ("capabilities", "symbol", None, MULTI),
        ]),
        # ---- messaging: lifetime policies of dynamic nodes
        ("DeleteOnClose", 0x2B, "amqp:delete-on-close:list", []),
        ("DeleteOnNoLinks", 0x2C, "amqp:delete-on-no-links:list", []),
        ("DeleteOnNoMessages", 0x2D, "amqp:delete-on-no-messages:list", []),
        ("DeleteOnNoLinksOrMessages", 0x2E, "amqp:delete-on-no-links-or-messages:list", []),
        # ---- transactions (part 4)
        ("Coordinator", 0x30, "amqp:coordinator:list", [
            ("capabilities", "symbol", None, MULTI),
        ]),
        ("Declare", 0x31, "amqp:declare:list", [
            ("global-id", "*", None, ""),
        ]),
        ("Discharge", 0x32, "amqp:discharge:list", [
            ("txn-id", "binary", None, M),
            ("fail", "boolean", None, ""),
        ]),
        ("Declared", 0x33, "amqp:declared:list", [
            ("txn-id", "binary", None, M),
        ]),
        ("TransactionalState", 0x34, "amqp:transactional-state:list", [
            ("txn-id", "binary", None, M),
            ("outcome", "*", None, ""),
        ]),
    ]
)  # fmt: skip


class Open(Performative):
    SPEC = TABLE["Open"]
    __slots__ = SPEC.slots


class Begin(Performative):
    SPEC = TABLE["Begin"]
    __slots__ = SPEC.slots


class Attach(Performative):
    SPEC = TABLE["Attach"]
    __slots__ = SPEC.slots


class Flow(Performative):
    SPEC = TABLE["Flow"]
    __slots__ = SPEC.slots


class Transfer(Performative):
    SPEC = TABLE["Transfer"]
    __slots__ = SPEC.slots


class Disposition(Performative):
    SPEC = TABLE["Disposition"]
    __slots__ = SPEC.slots


class Detach(Performative):
    SPEC = TABLE["Detach"]
    __slots__ = SPEC.slots


class End(Performative):
    SPEC = TABLE["End"]
    __slots__ = SPEC.slots


class Close(Performative):
    SPEC = TABLE["Close"]
    __slots__ = SPEC.slots


class Error(Composite):
    SPEC = TABLE["Error"]
    __slots__ = SPEC.slots


class Received(DeliveryState):
    SPEC = TABLE["Received"]
    __slots__ = SPEC.slots


class Accepted(DeliveryState):
    SPEC = TABLE["Accepted"]
    __slots__ = SPEC.slots


class Rejected(DeliveryState):
    SPEC = TABLE["Rejected"]
    __slots__ = SPEC.slots


class Released(DeliveryState):
    SPEC = TABLE["Released"]
    __slots__ = SPEC.slots


class Modified(DeliveryState):
    SPEC = TABLE["Modified"]
    __slots__ = SPEC.slots


class Source(Composite):
    SPEC = TABLE["Source"]
    __slots__ = SPEC.slots


class Target(Composite):
    SPEC = TABLE["Target"]
    __slots__ = SPEC.slots


class DeleteOnClose(Composite):
    SPEC = TABLE["DeleteOnClose"]
    __slots__ = SPEC.slots


class DeleteOnNoLinks(Composite):
    SPEC = TABLE["DeleteOnNoLinks"]
    __slots__ = SPEC.slots


class DeleteOnNoMessages(Composite):
    SPEC = TABLE["DeleteOnNoMessages"]
    __slots__ = SPEC.slots


class DeleteOnNoLinksOrMessages(Composite):
    SPEC = TABLE["DeleteOnNoLinksOrMessages"]
    __slots__ = SPEC.slots


class Coordinator(Composite):
    SPEC = TABLE["Coordinator"]
    __slots__ = SPEC.slots


class Declare(Composite):
    SPEC = TABLE["Declare"]
    __slots__ = SPEC.slots


class Discharge(Composite):
    SPEC = TABLE["Discharge"]
    __slots__ = SPEC.slots


class Declared(DeliveryState):
    SPEC = TABLE["Declared"]
    __slots__ = SPEC.slots


class TransactionalState(DeliveryState):
    SPEC = TABLE["TransactionalState"]
    __slots__ = SPEC.slots


#: every composite class of this module, by table name
CLASSES: dict[str, type[Composite]] = {
    cls.__name__: cls
    for cls in (
        Open, Begin, Attach, Flow, Transfer, Disposition, Detach, End, Close, Error,
        Received, Accepted, Rejected, Released, Modified, Source, Target,
        DeleteOnClose, DeleteOnNoLinks, DeleteOnNoMessages, DeleteOnNoLinksOrMessages,
        Coordinator, Declare, Discharge, Declared, TransactionalState,
    )
}  # fmt: skip
assert set(CLASSES) == set(TABLE), "every table row needs its class"
