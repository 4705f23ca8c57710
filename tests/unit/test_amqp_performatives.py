"""AMQP 1.0 composites (performatives, terminus, outcomes, transactions, SASL, sections),
all driven from their tables: Hypothesis round trips, mandatory fields, descriptors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrymq.protocols.amqp import performatives as P
from ferrymq.protocols.amqp.message import MESSAGE_TABLE, Header, Properties
from ferrymq.protocols.amqp.performatives import (
    TABLE,
    Accepted,
    Attach,
    Composite,
    CompositeSpec,
    Error,
    Modified,
    Open,
    Rejected,
    Released,
    Source,
    Target,
    Transfer,
)
from ferrymq.protocols.amqp.sasl import SASL_TABLE
from ferrymq.protocols.amqp.types import (
    AmqpCodecError,
    Array,
    Described,
    Symbol,
    UInt,
    ULong,
    decode_value,
    encoded,
)

ALL_SPECS: list[tuple[str, CompositeSpec]] = [
    *TABLE.items(),
    *SASL_TABLE.items(),
    *MESSAGE_TABLE.items(),
]


def cls_of(name: str) -> type[Composite]:
    return Composite._BY_CODE[{**TABLE, **SASL_TABLE, **MESSAGE_TABLE}[name].code]


symbols = st.text(alphabet="abcdefgxyz-:.", max_size=12).map(Symbol)
simple = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 2**32 - 1).map(UInt),
    st.text(max_size=12),
    st.binary(max_size=12),
    symbols,
)
fields_maps = st.dictionaries(symbols, simple, max_size=4)
errors = st.builds(
    Error,
    condition=symbols.filter(bool),
    description=st.none() | st.text(max_size=20),
    info=st.none() | fields_maps,
)
outcomes = st.one_of(
    st.just(Accepted()),
    st.just(Released()),
    st.builds(Rejected, error=st.none() | errors),
    st.builds(
        Modified,
        delivery_failed=st.none() | st.booleans(),
        undeliverable_here=st.none() | st.booleans(),
        message_annotations=st.none() | fields_maps,
    ),
)
states = st.one_of(
    outcomes,
    st.builds(P.Received, section_number=st.integers(0, 2**32 - 1), section_offset=st.integers(0, 2**64 - 1)),
    st.builds(P.Declared, txn_id=st.binary(max_size=8)),
    st.builds(P.TransactionalState, txn_id=st.binary(max_size=8), outcome=st.none() | outcomes),
)
addresses = st.none() | st.text(max_size=30)
filters = st.none() | st.dictionaries(
    symbols, st.builds(Described, st.just(ULong(0x0000468C00000004)), st.text(max_size=20)), max_size=2
)
sources = st.builds(
    Source,
    address=addresses,
    durable=st.integers(0, 2),
    expiry_policy=st.sampled_from([P.EXPIRY_LINK_DETACH, P.EXPIRY_SESSION_END, P.EXPIRY_NEVER]),
    timeout=st.integers(0, 2**32 - 1),
    dynamic=st.booleans(),
    dynamic_node_properties=st.none() | st.just({Symbol("lifetime-policy"): P.DeleteOnClose()}),
    distribution_mode=st.none() | st.sampled_from([Symbol("move"), Symbol("copy")]),
    filter=filters,
    default_outcome=st.none() | outcomes,
    outcomes=st.none() | st.lists(symbols, max_size=3),
    capabilities=st.none() | st.lists(symbols, max_size=3),
)
targets = st.one_of(
    st.builds(
        Target,
        address=addresses,
        durable=st.integers(0, 2),
        dynamic=st.booleans(),
        capabilities=st.none() | st.lists(symbols, max_size=3),
    ),
    st.builds(P.Coordinator, capabilities=st.none() | st.lists(symbols, max_size=2)),
)
message_ids = st.one_of(
    st.text(max_size=20), st.integers(0, 2**64 - 1).map(ULong), st.uuids(), st.binary(max_size=16)
)

# strategies for "*" fields, by field name
ANY_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "source": st.none() | sources,
    "target": st.none() | targets,
    "state": st.none() | states,
    "error": st.none() | errors,
    "default-outcome": st.none() | outcomes,
    "outcome": st.none() | outcomes,
    "address": addresses,
    "global-id": st.none() | st.binary(max_size=8),
    "message-id": st.none() | message_ids,
    "correlation-id": st.none() | message_ids,
    "to": addresses,
    "reply-to": addresses,
}
UNSETTLED = st.none() | st.dictionaries(st.binary(min_size=1, max_size=4), st.none() | outcomes, max_size=3)

TYPE_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=30),
    "symbol": symbols,
    "boolean": st.booleans(),
    "ubyte": st.integers(0, 255),
    "ushort": st.integers(0, 2**16 - 1),
    "uint": st.integers(0, 2**32 - 1),
    "ulong": st.integers(0, 2**64 - 1),
    "timestamp": st.integers(-(2**63), 2**63 - 1),
    "binary": st.binary(max_size=40),
    "fields": fields_maps,
}


def field_strategy(spec: CompositeSpec, f: P.FieldSpec) -> st.SearchStrategy[Any]:
    if f.multiple:
        strat: st.SearchStrategy[Any] = st.lists(symbols, min_size=0 if not f.mandatory else 1, max_size=4)
    elif f.type == "*":
        strat = ANY_FIELDS[f.name]
    elif f.type == "map":
        strat = UNSETTLED if f.name == "unsettled" else filters
    else:
        strat = TYPE_STRATEGIES[f.type]
    if f.mandatory:
        return strat
    return st.none() | strat


@pytest.mark.parametrize(("name", "spec"), ALL_SPECS, ids=[n for n, _ in ALL_SPECS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_composite_roundtrips(name: str, spec: CompositeSpec, data: st.DataObject) -> None:
    cls = cls_of(name)
    kwargs = {f.attr: data.draw(field_strategy(spec, f), label=f.name) for f in spec.fields}
    obj = cls(**kwargs)
    raw = encoded(obj)
    assert raw[:2] == b"\x00\x53" and raw[2] == spec.code
    decoded, end = decode_value(raw)
    assert end == len(raw)
    assert type(decoded) is cls
    assert decoded == obj
    for f in spec.fields:
        value = getattr(decoded, f.attr)
        if kwargs[f.attr] is None:
            assert value == f.default
    # canonical: re-encoding gives the same bytes, also with the symbol descriptor
    assert encoded(decoded) == raw
    by_symbol = b"\x00" + encoded(spec.symbol) + raw[3:]
    assert decode_value(by_symbol)[0] == obj
    by_wide_ulong = b"\x00\x80" + spec.code.to_bytes(8, "big") + raw[3:]
    assert decode_value(by_wide_ulong)[0] == obj


@pytest.mark.parametrize(("name", "spec"), ALL_SPECS, ids=[n for n, _ in ALL_SPECS])
def test_missing_mandatory_fields_are_decode_errors(name: str, spec: CompositeSpec) -> None:
    cls = cls_of(name)
    mandatory = [i for i, f in enumerate(spec.fields) if f.mandatory]
    if not mandatory:
        # all-optional composites decode from an empty list with every default
        obj = decode_value(b"\x00\x53" + bytes((spec.code, 0x45)))[0]
        assert obj == cls()
        return
    for i in mandatory:
        values: list[Any] = [None] * len(spec.fields)
        for j in mandatory:
            f = spec.fields[j]
            values[j] = {
                "string": "x",
                "symbol": Symbol("x"),
                "uint": UInt(1),
                "ubyte": 0,
                "boolean": True,
                "binary": b"x",
            }.get(f.type, Array("symbol", ["x"]))
        values[i] = None
        raw = encoded(Described(ULong(spec.code), values))
        with pytest.raises(AmqpCodecError) as info:
            decode_value(raw)
        assert info.value.condition == "amqp:decode-error"
        # and a list cut before the mandatory field too
        raw = encoded(Described(ULong(spec.code), values[:i]))
        with pytest.raises(AmqpCodecError):
            decode_value(raw)
        with pytest.raises(ValueError):
            encoded(cls(**{spec.fields[j].attr: values[j] for j in mandatory if j != i}))


def test_wrong_field_types_are_decode_errors() -> None:
    for bad in (
        Described(ULong(0x12), ["name", "not-a-handle", False]),  # handle must be uint
        Described(ULong(0x12), ["name", UInt(0), UInt(1)]),  # role must be boolean
        Described(ULong(0x10), [Symbol("ok"), 5]),  # hostname must be string
        Described(ULong(0x10), ["c", None, None, None, None, None, None, [UInt(1)]]),  # symbols
        Described(ULong(0x14), "not a list"),
        Described(ULong(0x11), [None, UInt(0), UInt(0), UInt(0), None, None, None, ["x"]]),  # fields map
    ):
        with pytest.raises(AmqpCodecError):
            decode_value(encoded(bad))


def test_defaults_and_trailing_nulls_are_trimmed() -> None:
    attach = Attach(name="l", handle=0, role=False, snd_settle_mode=P.SND_MIXED, incomplete_unsettled=False)
    raw = encoded(attach)
    # descriptor, list8, size, count 3: name, handle, role only
    assert raw[:5] == b"\x00\x53\x12\xc0\x06" and raw[5] == 3
    assert encoded(Accepted()) == b"\x00\x53\x24\x45"
    assert encoded(Header()) == b"\x00\x53\x70\x45"
    # a default in the middle is written as null
    t = Transfer(handle=1, more=False, settled=True)
    assert encoded(t) == b"\x00\x53\x14\xc0\x07\x05\x52\x01\x40\x40\x40\x41"


def test_multiple_fields_accept_single_values_and_extra_fields_are_ignored() -> None:
    raw = encoded(Described(ULong(0x10), ["c", None, None, None, None, None, None, Symbol("one")]))
    assert decode_value(raw)[0].offered_capabilities == ["one"]
    raw = encoded(Described(Symbol("amqp:close:list"), [None, "future field", 7]))
    close = decode_value(raw)[0]
    assert isinstance(close, P.Close) and close.error is None
    # multiple fields encode as arrays, a single string as one symbol
    assert encoded(Open(container_id="c", offered_capabilities="x"))[-3:] == b"\xa3\x01x"
    arr_raw = encoded(Open(container_id="c", offered_capabilities=["x", "y"]))
    assert b"\xe0\x06\x02\xa3\x01x\x01y" in arr_raw


def test_fields_maps_get_symbol_keys() -> None:
    o = Open(container_id="c", properties={"product": "ferrymq"})
    decoded = decode_value(encoded(o))[0]
    key = next(iter(decoded.properties))
    assert type(key) is Symbol and key == "product"


def test_constructor_checks_and_repr() -> None:
    with pytest.raises(TypeError):
        Open(bogus=1)
    with pytest.raises(TypeError):
        Accepted(1)
    o = Open("cid", "host")
    assert o.container_id == "cid" and o.hostname == "host" and o.max_frame_size == P.UINT_MAX
    assert "cid" in repr(o) and "max_frame_size" not in repr(o)
    with pytest.raises(AttributeError):
        o.bogus = 1
    assert Open("a") != Open("b")
    assert Open("a") != Header()


def test_source_with_filter_and_lifetime_policy() -> None:
    selector = Described(ULong(0x0000468C00000004), "color = 'red'")
    src = Source(
        address="queue://orders",
        filter={Symbol("jms-selector"): selector},
        dynamic_node_properties={Symbol("lifetime-policy"): P.DeleteOnClose()},
        outcomes=[Symbol("amqp:accepted:list"), Symbol("amqp:rejected:list")],
        default_outcome=Modified(delivery_failed=True),
    )
    back = decode_value(encoded(src))[0]
    assert back == src
    assert back.filter[Symbol("jms-selector")] == selector
    assert isinstance(back.dynamic_node_properties[Symbol("lifetime-policy")], P.DeleteOnClose)


def test_message_properties_types() -> None:
    props = Properties(
        message_id=uuid.UUID(int=5),
        user_id=b"user",
        to="queue://a",
        content_type="text/plain",
        absolute_expiry_time=1700000000000,
        creation_time=1600000000000,
        group_sequence=3,
    )
    raw = encoded(props)
    assert b"\x83" in raw  # timestamps as timestamps
    back = decode_value(raw)[0]
    assert back == props
    assert type(back.content_type) is Symbol
