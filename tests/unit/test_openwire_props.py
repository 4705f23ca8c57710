"""OpenWire marshalled values: modified UTF-8, primitive maps, message bodies."""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrymq.protocols.openwire import props
from ferrymq.protocols.openwire.props import JmsByte, JmsChar, JmsFloat, JmsLong, JmsShort
from ferrymq.protocols.openwire.spec import OpenWireCodecError


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("abc", b"abc"),
        ("a\x00b", b"a\xc0\x80b"),
        ("\u00e9", b"\xc3\xa9"),
        ("\u20ac", b"\xe2\x82\xac"),
        ("\U0001f600", b"\xed\xa0\xbd\xed\xb8\x80"),  # a surrogate pair, three bytes each
    ],
)
def test_modified_utf8(text: str, encoded: bytes) -> None:
    assert props.encode_mutf8(text) == encoded
    assert props.decode_mutf8(encoded) == text


def test_modified_utf8_lenient_and_errors() -> None:
    assert props.decode_mutf8("\U0001f600".encode()) == "\U0001f600"  # standard 4-byte form
    assert props.decode_mutf8(b"\xed\xa0\xbd") == "\ufffd"  # lone surrogate
    with pytest.raises(OpenWireCodecError):
        props.decode_mutf8(b"\xff")


@given(st.text())
def test_modified_utf8_round_trip(text: str) -> None:
    data = props.encode_mutf8(text)
    assert b"\x00" not in data
    assert props.decode_mutf8(data) == text


def test_map_encoding_matches_activemq_layout() -> None:
    data = props.encode_map({"a": True, "b": JmsByte(-1), "c": 7, "d": "x"})
    assert data == (
        struct.pack(">i", 4)
        + b"\x00\x01a\x01\x01"
        + b"\x00\x01b\x02\xff"
        + b"\x00\x01c\x05"
        + struct.pack(">i", 7)
        + b"\x00\x01d\x09\x00\x01x"
    )
    assert props.encode_map(None) == struct.pack(">i", -1)
    assert props.decode_map(struct.pack(">i", -1)) is None


def test_python_type_choices() -> None:
    m = props.decode_map(
        props.encode_map(
            {
                "int": 5,
                "long": 1 << 40,
                "double": 0.5,
                "float": JmsFloat(0.25),
                "short": JmsShort(-3),
                "char": JmsChar("z"),
                "forced_long": JmsLong(1),
                "bytes": b"\x01",
                "none": None,
                "list": [1, "two", [3]],
                "map": {"inner": False},
                "big": "y" * 9000,
            }
        )
    )
    assert m is not None
    assert type(m["int"]) is int and type(m["long"]) is JmsLong and type(m["forced_long"]) is JmsLong
    assert type(m["double"]) is float and type(m["float"]) is JmsFloat and type(m["short"]) is JmsShort
    assert m["char"] == "z" and type(m["char"]) is JmsChar
    assert m["list"] == [1, "two", [3]] and m["map"] == {"inner": False} and m["none"] is None
    assert m["big"] == "y" * 9000


def test_big_string_type_code() -> None:
    data = props.encode_map({"s": "y" * 8191})
    assert data[4 + 3] == props.BIG_STRING_TYPE
    data = props.encode_map({"s": "y" * 8190})
    assert data[4 + 3] == props.STRING_TYPE


@pytest.mark.parametrize(
    "bad",
    [
        {"x": JmsByte(200)},
        {"x": 1 << 70},
        {"x": object()},
        {1: "a"},
        {"x": JmsChar("ab")},
        {"x": JmsFloat(1e300)},
    ],
)
def test_unrepresentable_values(bad: dict[Any, Any]) -> None:
    with pytest.raises(OpenWireCodecError) as info:
        props.encode_map(bad)
    assert not info.value.fatal


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.binary(max_size=10)
    | st.integers(-128, 127).map(JmsByte)
    | st.integers(-(2**15), 2**15 - 1).map(JmsShort)
    | st.floats(width=32, allow_nan=False).map(JmsFloat)
    | st.characters(max_codepoint=0xFFFF).map(JmsChar),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=8), values, max_size=6))
def test_map_round_trip(mapping: dict[str, Any]) -> None:
    data = props.encode_map(mapping)
    decoded = props.decode_map(data)
    assert decoded == mapping
    assert props.encode_map(decoded) == data  # types survive


def test_nan_round_trips() -> None:
    decoded = props.decode_map(props.encode_map({"n": math.nan}))
    assert decoded is not None and math.isnan(decoded["n"])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_decode_map(blob: bytes) -> None:
    try:
        props.decode_map(blob)
    except OpenWireCodecError:
        pass
    try:
        props.decode_stream_body(blob)
    except OpenWireCodecError:
        pass


def test_deep_nesting_is_refused() -> None:
    deep: dict[str, Any] = {}
    cur = deep
    for _ in range(80):
        cur["m"] = {}
        cur = cur["m"]
    with pytest.raises(OpenWireCodecError):
        props.encode_map(deep)
    blob = struct.pack(">i", 1) + b"\x00\x01m\x0b"
    data = blob * 100 + struct.pack(">i", 0)
    with pytest.raises(OpenWireCodecError, match="deeply"):
        props.decode_map(data)


# -- bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_bodies_round_trip(compress: bool) -> None:
    text = "h\u00e9llo\x00\U0001f600"
    assert (
        props.decode_text_body(props.encode_text_body(text, compress=compress), compressed=compress) == text
    )
    assert (
        props.decode_text_body(props.encode_text_body(None, compress=compress), compressed=compress) is None
    )
    body = {"a": 1, "b": b"\x00"}
    assert props.decode_map_body(props.encode_map_body(body, compress=compress), compressed=compress) == body
    items = ["s", 5, 2.5, True, None, b"\x01", JmsByte(1)]
    assert (
        props.decode_stream_body(props.encode_stream_body(items, compress=compress), compressed=compress)
        == items
    )
    raw = bytes(range(256)) * 3
    assert (
        props.decode_bytes_body(props.encode_bytes_body(raw, compress=compress), compressed=compress) == raw
    )
    assert (
        props.decode_object_body(props.encode_object_body(raw, compress=compress), compressed=compress) == raw
    )


def test_text_body_layout() -> None:
    assert props.encode_text_body("a\x00") == struct.pack(">i", 3) + b"a\xc0\x80"
    assert props.encode_text_body(None) == struct.pack(">i", -1)
    assert zlib.decompress(props.encode_text_body("x", compress=True)) == struct.pack(">i", 1) + b"x"


def test_compressed_bytes_body_layout_and_padding() -> None:
    data = props.encode_bytes_body(b"abc", compress=True)
    assert data[:4] == struct.pack(">i", 3)
    assert zlib.decompress(data[4:]) == b"abc"
    # ActiveMQ may deflate trailing zero padding past the declared length.
    padded = struct.pack(">i", 3) + zlib.compress(b"abc" + b"\x00" * 29)
    assert props.decode_bytes_body(padded, compressed=True) == b"abc"
    with pytest.raises(OpenWireCodecError):
        props.decode_bytes_body(struct.pack(">i", 10) + zlib.compress(b"abc"), compressed=True)


def test_inflate_limit() -> None:
    bomb = zlib.compress(b"\x00" * 100_000)
    with pytest.raises(OpenWireCodecError, match="exceeds"):
        props.decode_object_body(bomb, compressed=True, max_inflated=1000)
    with pytest.raises(OpenWireCodecError):
        props.decode_text_body(b"not zlib", compressed=True)
