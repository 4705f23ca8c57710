"""AMQP 1.0 type system: every primitive, both widths, compounds, arrays, described, fuzz."""

from __future__ import annotations

import math
import struct
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrymq.protocols.amqp.types import (
    AmqpCodecError,
    Array,
    Byte,
    Char,
    Decimal32,
    Decimal64,
    Decimal128,
    Described,
    Float,
    Int,
    Long,
    Short,
    Symbol,
    Timestamp,
    UByte,
    UInt,
    ULong,
    UShort,
    decode_value,
    encode_value,
    encoded,
    skip_value,
)


def roundtrip(value: Any) -> Any:
    raw = encoded(value)
    decoded, end = decode_value(raw)
    assert end == len(raw)
    assert skip_value(raw) == len(raw)
    # trailing bytes are left alone
    decoded2, end2 = decode_value(raw + b"\x40\xff", 0)
    assert end2 == len(raw)
    # a prefix offset works too
    decoded3, end3 = decode_value(b"\x99\x98" + raw, 2)
    assert end3 == len(raw) + 2
    assert repr(decoded2) == repr(decoded) == repr(decoded3)
    # every strict prefix is an error, never another exception
    for cut in range(len(raw)):
        with pytest.raises(AmqpCodecError):
            decode_value(raw[:cut])
    # re-encoding the decoded value gives the same bytes
    assert encoded(decoded) == raw
    return decoded


# ---- exact encodings (constructor byte and width chosen automatically)

EXACT = [
    (None, "40"),
    (True, "41"),
    (False, "42"),
    (UByte(0), "5000"),
    (UByte(255), "50ff"),
    (UShort(0), "600000"),
    (UShort(65535), "60ffff"),
    (UInt(0), "43"),
    (UInt(1), "5201"),
    (UInt(255), "52ff"),
    (UInt(256), "7000000100"),
    (UInt(2**32 - 1), "70ffffffff"),
    (ULong(0), "44"),
    (ULong(255), "53ff"),
    (ULong(256), "800000000000000100"),
    (ULong(2**64 - 1), "80ffffffffffffffff"),
    (Byte(-128), "5180"),
    (Byte(127), "517f"),
    (Short(-32768), "618000"),
    (Short(32767), "617fff"),
    (Int(-128), "5480"),
    (Int(127), "547f"),
    (Int(128), "7100000080"),
    (Int(-129), "71ffffff7f"),
    (Int(-(2**31)), "7180000000"),
    (Int(2**31 - 1), "717fffffff"),
    (Long(-128), "5580"),
    (Long(127), "557f"),
    (Long(128), "810000000000000080"),
    (Long(-(2**63)), "818000000000000000"),
    (Long(2**63 - 1), "817fffffffffffffff"),
    (0, "5500"),
    (-1, "55ff"),
    (1000, "8100000000000003e8"),
    (Float(1.5), "723fc00000"),
    (1.5, "823ff8000000000000"),
    (Decimal32(b"\x01\x02\x03\x04"), "7401020304"),
    (Decimal64(bytes(range(8))), "840001020304050607"),
    (Decimal128(bytes(range(16))), "94000102030405060708090a0b0c0d0e0f"),
    (Char("a"), "7300000061"),
    (Char("\U0001f600"), "730001f600"),
    (Timestamp(0x0000013167ADB8A1), "830000013167adb8a1"),
    (Timestamp(-1), "83ffffffffffffffff"),
    (uuid.UUID(int=1), "98" + "00" * 15 + "01"),
    (b"", "a000"),
    (b"ab", "a0026162"),
    (b"x" * 255, "a0ff" + "78" * 255),
    (b"x" * 256, "b000000100" + "78" * 256),
    ("", "a100"),
    ("URL", "a10355524c"),
    ("é", "a102c3a9"),
    ("x" * 256, "b100000100" + "78" * 256),
    (Symbol(""), "a300"),
    (Symbol("amqp:open:list"), "a30e616d71703a6f70656e3a6c697374"),
    (Symbol("s" * 256), "b300000100" + "73" * 256),
    ([], "45"),
    ([None], "c0020140"),
    ([True, UInt(1)], "c00402415201"),
    ({}, "c10100"),
    ({Symbol("k"): None}, "c10502a3016b40"),
    (Described(ULong(0x99), []), "00539945"),
    (Described(Symbol("x:y"), "v"), "00a303783a79a10176"),
    (Array("symbol", [Symbol("a"), Symbol("bc")]), "e00702a3016102" + "6263"),
    (Array("uint", [1, 2]), "e0040252" + "0102"),
    (Array("uint", [1, 256]), "e00a0270" + "00000001" + "00000100"),
    (Array("boolean", [True, False]), "e004025601" + "00"),
    (Array("null", [None, None, None]), "e0020340"),
]


@pytest.mark.parametrize(("value", "hexbytes"), EXACT, ids=[repr(v)[:40] for v, _ in EXACT])
def test_exact_encoding(value: Any, hexbytes: str) -> None:
    raw = bytes.fromhex(hexbytes)
    assert encoded(value) == raw
    decoded = roundtrip(value)
    assert decoded == value or (value is None and decoded is None)
    if value is not None and type(value) is not int:
        assert type(decoded) is type(value)
    if type(value) is int:
        assert type(decoded) is Long


# ---- the wide and alternative encodings a peer may send decode to the same values

ALTERNATIVES = [
    ("5601", True),
    ("5600", False),
    ("7000000000", UInt(0)),
    ("5200", UInt(0)),
    ("700000002a", UInt(42)),
    ("800000000000000000", ULong(0)),
    ("5300", ULong(0)),
    ("71ffffffff", Int(-1)),
    ("81ffffffffffffffff", Long(-1)),
    ("b00000000161", b"a"),
    ("b10000000161", "a"),
    ("b30000000161", Symbol("a")),
    ("d0000000050000000140", [None]),
    ("d00000000400000000", []),
    ("c00100", []),
    ("d1000000080000000240a10161", {None: "a"}),
    ("c10100", {}),
    ("f0000000060000000152" + "07", Array("uint", [7])),
    ("e0020143", Array("uint", [0])),
    ("e0020341", Array("boolean", [True, True, True])),
]


@pytest.mark.parametrize(("hexbytes", "value"), ALTERNATIVES)
def test_wide_encodings_decode(hexbytes: str, value: Any) -> None:
    raw = bytes.fromhex(hexbytes)
    decoded, end = decode_value(raw)
    assert end == len(raw)
    assert decoded == value
    assert type(decoded) is type(value)
    assert skip_value(raw) == len(raw)
    # the compact re-encoding decodes to the same value again
    assert decode_value(encoded(decoded))[0] == value


def test_list8_and_list32_of_same_items() -> None:
    items = [UInt(1), "two", Symbol("three"), None, True]
    narrow = encoded(items)
    assert narrow[0] == 0xC0
    content = narrow[3:]
    wide = b"\xd0" + struct.pack(">II", len(content) + 4, len(items)) + content
    assert decode_value(wide)[0] == decode_value(narrow)[0] == items


def test_large_compounds_switch_to_32_bit() -> None:
    big = ["x" * 100] * 3
    raw = encoded(big)
    assert raw[0] == 0xD0
    assert roundtrip(big) == big
    many = list(range(300))
    raw = encoded(many)
    assert raw[0] == 0xD0
    assert roundtrip(many) == many
    bigmap = {f"k{i}": i for i in range(200)}
    assert encoded(bigmap)[0] == 0xD1
    assert roundtrip(bigmap) == bigmap
    arr = Array("string", ["y" * 300])
    assert encoded(arr)[0] == 0xF0
    assert roundtrip(arr) == arr


@pytest.mark.parametrize(
    "arr",
    [
        Array("null", [None]),
        Array("boolean", [True, False, True]),
        Array("ubyte", [0, 255]),
        Array("ushort", [0, 65535]),
        Array("uint", [0, 255]),
        Array("uint", [0, 2**32 - 1]),
        Array("ulong", [0, 2**64 - 1]),
        Array("ulong", [3]),
        Array("byte", [-128, 127]),
        Array("short", [-32768, 32767]),
        Array("int", [-1, 1]),
        Array("int", [-(2**31), 2**31 - 1]),
        Array("long", [-5]),
        Array("long", [-(2**63), 2**63 - 1]),
        Array("float", [1.5, -2.0]),
        Array("double", [math.pi]),
        Array("decimal32", [Decimal32(b"abcd")]),
        Array("decimal64", [Decimal64(b"abcdefgh")]),
        Array("decimal128", [Decimal128(b"abcdefghijklmnop")]),
        Array("char", [Char("a"), Char("\u20ac")]),
        Array("timestamp", [0, 1700000000000]),
        Array("uuid", [uuid.UUID(int=7), uuid.UUID(int=2**128 - 1)]),
        Array("binary", [b"", b"a" * 300]),
        Array("binary", [b"ab"]),
        Array("string", ["a", "bc"]),
        Array("symbol", ["a", "b"]),
        Array("list", [[1, "a"], []]),
        Array("list", [["z" * 300]]),
        Array("map", [{"a": 1}, {}]),
        Array("array", [Array("uint", [1, 2]), Array("uint", [3])]),
        Array("symbol", []),
        Array(0xA3, ["x"]),
        Array("list", [[UInt(1)], [UInt(2)]], descriptor=ULong(0x9999)),
        Array("string", ["a", "b"], descriptor=Symbol("my:desc")),
    ],
    ids=repr,
)
def test_arrays_of_every_kind(arr: Array) -> None:
    decoded = roundtrip(arr)
    assert isinstance(decoded, Array)
    assert decoded.type == arr.type
    if arr.descriptor is None:
        if arr.type in ("float",):
            assert [float(x) for x in decoded.items] == arr.items
        else:
            assert decoded.items == arr.items
    else:
        assert decoded.descriptor == arr.descriptor
        assert decoded.items == [Described(arr.descriptor, v) for v in arr.items]


def test_array_of_known_described_type_decodes_to_classes() -> None:
    from ferrymq.protocols.amqp.performatives import Accepted, Rejected, Released

    arr = Array("list", [Rejected(), Rejected()], descriptor=ULong(0x25))
    decoded = roundtrip(arr)
    assert decoded.items == [Rejected(), Rejected()]
    assert isinstance(decoded.items[0], Rejected)
    assert not isinstance(decoded.items[0], (Accepted, Released))


def test_described_nested_and_symbol_descriptor() -> None:
    value = Described(Symbol("com.example:thing"), Described(ULong(2**40), {Symbol("k"): [1, 2]}))
    assert roundtrip(value) == value
    # described values hash when their parts do
    assert hash(Described(ULong(1), "a")) == hash(Described(ULong(1), "a"))


def test_float_specials_and_nan() -> None:
    for v in (math.inf, -math.inf, 0.0, -0.0):
        assert roundtrip(v) == v
    assert math.isnan(roundtrip(math.nan))
    assert math.isnan(roundtrip(Float(math.nan)))


def test_encoding_errors_are_type_or_value_errors() -> None:
    with pytest.raises(ValueError):
        encoded(UByte(256))
    with pytest.raises(ValueError):
        encoded(UInt(-1))
    with pytest.raises(ValueError):
        encoded(2**63)
    with pytest.raises(ValueError):
        encoded(Symbol("é"))
    with pytest.raises(ValueError):
        encoded(Char("ab"))
    with pytest.raises(ValueError):
        Decimal32(b"abc")
    with pytest.raises(TypeError):
        encoded(object())
    with pytest.raises(TypeError):
        encoded({1, 2})
    with pytest.raises(ValueError):
        Array("nonsense", [])


def test_subclasses_encode_like_their_base() -> None:
    import enum
    from collections import OrderedDict

    class Color(enum.IntEnum):
        RED = 1

    assert encoded(Color.RED) == encoded(1)
    assert encoded(OrderedDict(a=1)) == encoded({"a": 1})
    out = bytearray(b"pre")
    encode_value(memoryview(b"ab"), out)
    assert out == b"pre\xa0\x02ab"


@pytest.mark.parametrize(
    "hexbytes",
    [
        "",  # nothing
        "ff",  # unknown constructor
        "5602",  # boolean octet out of range
        "7300110000",  # char above U+10FFFF
        "730000d800",  # surrogate char
        "a102c3",  # truncated string
        "a101ff",  # invalid utf-8
        "a301ff",  # non-ascii symbol
        "c00000",  # list8 size 0 (no room for count)
        "c0020240",  # list8 count 2 in size 2
        "c003014040",  # list8 content longer than its count
        "c1030140 40".replace(" ", ""),  # odd map count
        "c10502c0010040",  # unhashable (list) map key
        "e00101",  # array8 too small
        "e003010000",  # array element constructor is 0x00 0x00
        "e0030fa3",  # array count larger than its bytes
        "d0ffffffff00000001",  # list32 beyond the buffer
        "f0000000ff000000ff52",  # array32 beyond the buffer
        "0053",  # described without value
        "00",  # described without descriptor
        "9800",  # truncated uuid
        "7401",  # truncated decimal32
        "f05e1aeb7333a42ced411fcc",  # array32 of 866M zero-width items claiming 1.5 GB
        "e003024040",  # zero-width elements followed by bytes
        "c0ff0140",  # list8 larger than the buffer
    ],
)
def test_malformed_values_raise_codec_error(hexbytes: str) -> None:
    with pytest.raises(AmqpCodecError) as info:
        decode_value(bytes.fromhex(hexbytes))
    assert info.value.condition == "amqp:decode-error"


def test_deep_nesting_is_a_codec_error() -> None:
    raw = b"\x00\x53\x01" * 5000 + b"\x40"
    with pytest.raises(AmqpCodecError):
        decode_value(raw)


def test_decode_accepts_memoryview_and_bytearray() -> None:
    raw = encoded({Symbol("a"): [b"bin", "str", UInt(7)]})
    for buf in (memoryview(raw), bytearray(raw)):
        assert decode_value(buf)[0] == {Symbol("a"): [b"bin", "str", UInt(7)]}


# ---- Hypothesis: any value we can build survives encode -> decode -> encode

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(0, 255).map(UByte),
    st.integers(0, 2**16 - 1).map(UShort),
    st.integers(0, 2**32 - 1).map(UInt),
    st.integers(0, 2**64 - 1).map(ULong),
    st.integers(-128, 127).map(Byte),
    st.integers(-(2**15), 2**15 - 1).map(Short),
    st.integers(-(2**31), 2**31 - 1).map(Int),
    st.integers(-(2**63), 2**63 - 1).map(Long),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, width=32).map(Float),
    st.floats(allow_nan=False),
    st.binary(min_size=4, max_size=4).map(Decimal32),
    st.binary(min_size=8, max_size=8).map(Decimal64),
    st.binary(min_size=16, max_size=16).map(Decimal128),
    st.characters(blacklist_categories=("Cs",)).map(Char),
    st.integers(-(2**63), 2**63 - 1).map(Timestamp),
    st.uuids(),
    st.binary(max_size=300),
    st.text(max_size=300),
    st.text(alphabet=st.characters(max_codepoint=127), max_size=40).map(Symbol),
)

arrays = st.one_of(
    st.lists(st.integers(0, 2**32 - 1), max_size=5).map(lambda xs: Array("uint", xs)),
    st.lists(st.text(max_size=10), max_size=5).map(lambda xs: Array("string", xs)),
    st.lists(st.text(alphabet="abc:", max_size=10), max_size=5).map(lambda xs: Array("symbol", xs)),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5).map(lambda xs: Array("long", xs)),
    st.lists(st.booleans(), max_size=5).map(lambda xs: Array("boolean", xs)),
)

hashable_keys = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=10),
    st.text(alphabet="xyz", max_size=5).map(Symbol),
    st.integers(0, 2**64 - 1).map(ULong),
)

values = st.recursive(
    st.one_of(scalars, arrays),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(hashable_keys, children, max_size=5),
        st.tuples(st.integers(2**32, 2**64 - 1).map(ULong), children).map(lambda t: Described(*t)),
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_hypothesis_roundtrip(value: Any) -> None:
    raw = encoded(value)
    decoded, end = decode_value(raw)
    assert end == len(raw)
    assert skip_value(raw) == len(raw)
    assert encoded(decoded) == raw
    assert decoded == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_decode_value_only_codec_errors(data: bytes) -> None:
    try:
        value, end = decode_value(data)
    except AmqpCodecError:
        return
    assert 0 < end <= len(data)
    # whatever decoded encodes again; re-encoding is then stable
    raw = encoded(value)
    assert encoded(decode_value(raw)[0]) == raw


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0x00, 0xC0, 0xD0, 0xC1, 0xD1, 0xE0, 0xF0, 0xA1, 0xB1]), st.binary(max_size=60))
def test_fuzz_compound_headers_only_codec_errors(code: int, rest: bytes) -> None:
    data = bytes((code,)) + rest
    try:
        decode_value(data)
    except AmqpCodecError:
        pass
    try:
        skip_value(data)
    except AmqpCodecError:
        pass
