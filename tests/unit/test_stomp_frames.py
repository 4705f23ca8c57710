"""The STOMP codec: examples whole, byte by byte and with trailing bytes; escaping per version;
content-length; heart-beats; limits; every error; Hypothesis round trips and a bounded fuzz."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrymq.protocols.errors import CodecError
from ferrymq.protocols.stomp.frames import (
    ALL_COMMANDS,
    CLIENT_COMMANDS,
    HEARTBEAT,
    HEARTBEAT_BYTES,
    SERVER_COMMANDS,
    VERSIONS,
    Frame,
    FrameParser,
    StompCodecError,
    encode_frame,
)

HB = HEARTBEAT


def parse(data: bytes, version: str = "1.0", **limits: int) -> list[Frame | object]:
    parser = FrameParser(**limits)
    parser.version = version
    items = parser.feed(data)
    assert parser.buffered == 0
    return items


def parse_bytewise(data: bytes, version: str = "1.0", **limits: int) -> list[Frame | object]:
    parser = FrameParser(**limits)
    parser.version = version
    items: list[Frame | object] = []
    for i in range(len(data)):
        items.extend(parser.feed(data[i : i + 1]))
    assert parser.buffered == 0
    return items


@dataclass
class Example:
    name: str
    version: str
    wire: bytes
    expected: list[Frame | object]
    canonical: bool = False  # encode_frame reproduces ``wire`` exactly


EXAMPLES = [
    Example(
        "connect-crlf-with-heartbeats",
        "1.0",
        b"\n\r\nCONNECT\r\naccept-version:1.0,1.1,1.2\r\nhost:broker\r\nheart-beat:10000,0\r\n\r\n\x00\n",
        [
            HB,
            HB,
            Frame("CONNECT", {"accept-version": "1.0,1.1,1.2", "host": "broker", "heart-beat": "10000,0"}),
            HB,
        ],
    ),
    Example(
        "stomp-frame-1.0",
        "1.0",
        b"STOMP\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:gu:est\n\n\x00",
        [Frame("STOMP", {"accept-version": "1.2", "host": "/", "login": "guest", "passcode": "gu:est"})],
        canonical=True,
    ),
    Example(
        "send-content-length-embedded-nuls",
        "1.2",
        b"SEND\ndestination:/queue/a\ncontent-length:5\n\n\x00a\x00b\x00\x00",
        [Frame("SEND", {"destination": "/queue/a", "content-length": "5"}, b"\x00a\x00b\x00")],
        canonical=True,
    ),
    Example(
        "send-body-to-nul",
        "1.1",
        b"SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello world\x00",
        [Frame("SEND", {"destination": "/queue/a", "content-type": "text/plain"}, b"hello world")],
        canonical=True,
    ),
    Example(
        "message-1.1-escapes",
        "1.1",
        b"MESSAGE\nsubscription:0\nmy\\cname:a\\\\b\\nc\\cd\n\n\x00",
        [Frame("MESSAGE", {"subscription": "0", "my:name": "a\\b\nc:d"})],
        canonical=True,
    ),
    Example(
        "message-1.2-escapes-with-cr",
        "1.2",
        b"MESSAGE\r\nx:\\r\\n\\c\\\\\r\n\r\nbody\x00",
        [Frame("MESSAGE", {"x": "\r\n:\\"}, b"body")],
    ),
    Example(
        "1.0-no-escaping",
        "1.0",
        b"SEND\ndestination:/queue/a\\cb\nx:y:z\n\n\x00",
        [Frame("SEND", {"destination": "/queue/a\\cb", "x": "y:z"})],
        canonical=True,
    ),
    Example(
        "connect-1.2-never-escaped",
        "1.2",
        b"CONNECT\nlogin:a\\cb\npasscode:x:y\n\n\x00",
        [Frame("CONNECT", {"login": "a\\cb", "passcode": "x:y"})],
        canonical=True,
    ),
    Example(
        "connected-1.1-never-escaped",
        "1.1",
        b"CONNECTED\nversion:1.1\nserver:ferrymq/0.1\nsession:a\\tb\n\n\x00",
        [Frame("CONNECTED", {"version": "1.1", "server": "ferrymq/0.1", "session": "a\\tb"})],
        canonical=True,
    ),
    Example(
        "repeated-header-first-wins",
        "1.2",
        b"MESSAGE\nfoo:World\nfoo:Hello\nfoo:third\n\n\x00",
        [Frame("MESSAGE", {"foo": "World"})],
    ),
    Example(
        "whitespace-is-significant",
        "1.1",
        b"SEND\n destination : /queue/a \nx:\t\n\n\x00",
        [Frame("SEND", {" destination ": " /queue/a ", "x": "\t"})],
        canonical=True,
    ),
    Example("no-headers", "1.2", b"DISCONNECT\n\n\x00", [Frame("DISCONNECT")], canonical=True),
    Example("empty-value", "1.2", b"ACK\nid:\n\n\x00", [Frame("ACK", {"id": ""})], canonical=True),
    Example("heartbeats-only", "1.2", b"\n\r\n\n\r\n", [HB, HB, HB, HB]),
    Example(
        "utf8-headers",
        "1.2",
        "SEND\ndestination:/queue/caf\u00e9\n\u00fcber:\u2603\n\n\x00".encode(),
        [Frame("SEND", {"destination": "/queue/caf\u00e9", "\u00fcber": "\u2603"})],
        canonical=True,
    ),
    Example(
        "two-frames-heartbeats-between",
        "1.2",
        b"SEND\ndestination:/a\n\nx\x00\n\r\nRECEIPT\nreceipt-id:7\n\n\x00\r\n",
        [Frame("SEND", {"destination": "/a"}, b"x"), HB, HB, Frame("RECEIPT", {"receipt-id": "7"}), HB],
    ),
    Example(
        "content-length-zero-and-spaces",
        "1.2",
        b"SEND\ncontent-length: 0\n\n\x00",
        [Frame("SEND", {"content-length": " 0"})],
    ),
    Example(
        "error-frame-body-with-lf",
        "1.2",
        b"ERROR\nmessage:malformed frame received\ncontent-type:text/plain\n\nline1\nline2\n\n\x00",
        [
            Frame(
                "ERROR",
                {"message": "malformed frame received", "content-type": "text/plain"},
                b"line1\nline2\n\n",
            )
        ],
        canonical=True,
    ),
    Example(
        "unsubscribe-crlf-longest-command",
        "1.2",
        b"UNSUBSCRIBE\r\nid:0\r\n\r\n\x00",
        [Frame("UNSUBSCRIBE", {"id": "0"})],
    ),
]


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.name)
def test_example_whole(ex: Example) -> None:
    assert parse(ex.wire, ex.version) == ex.expected


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.name)
def test_example_byte_by_byte(ex: Example) -> None:
    assert parse_bytewise(ex.wire, ex.version) == ex.expected


@pytest.mark.parametrize("trailing", [b"S", b"SEND\nde", b"SEND\ndestination:/a\n\npartial body", b"\r"])
@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.name)
def test_example_with_trailing_bytes(ex: Example, trailing: bytes) -> None:
    parser = FrameParser()
    parser.version = ex.version
    assert parser.feed(ex.wire + trailing) == ex.expected
    assert parser.buffered == len(trailing)
    # the rest of the trailing frame completes it
    rest = {
        b"S": b"END\n\n\x00",
        b"SEND\nde": b"stination:/a\n\n\x00",
        b"SEND\ndestination:/a\n\npartial body": b"!\x00",
        b"\r": b"\n",
    }[trailing]
    tail = parser.feed(rest)
    assert parser.buffered == 0
    assert len(tail) == 1
    if trailing == b"\r":
        assert tail == [HB]
    else:
        assert isinstance(tail[0], Frame) and tail[0].command == "SEND"


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.name)
def test_example_reencode(ex: Example) -> None:
    frames = [f for f in ex.expected if isinstance(f, Frame)]
    encoded = b"".join(encode_frame(f.command, f.headers, f.body, ex.version) for f in frames)
    assert parse(encoded, ex.version) == frames
    if ex.canonical:
        assert encoded == ex.wire


# ----------------------------------------------------------------------------- escaping per version


@pytest.mark.parametrize(
    ("version", "raw", "decoded"),
    [
        ("1.0", b"k\\c:v\\n\\r\\t", {"k\\c": "v\\n\\r\\t"}),
        ("1.1", b"k\\c:v\\n\\\\", {"k:": "v\n\\"}),
        ("1.2", b"k\\c:v\\n\\\\\\r", {"k:": "v\n\\\r"}),
    ],
)
def test_escaping_per_version(version: str, raw: bytes, decoded: dict[str, str]) -> None:
    assert parse(b"SEND\n" + raw + b"\n\n\x00", version) == [Frame("SEND", decoded)]


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (rb"\\c", "\\c"),  # an escaped backslash, then a plain c
        (rb"\\\c", "\\:"),
        (rb"\\\\", "\\\\"),
        (rb"\c\c\n\\n", "::\n\\n"),
        (rb"a\\", "a\\"),
    ],
)
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_unescape_pairs_backslashes_from_the_left(version: str, raw: bytes, decoded: str) -> None:
    assert parse(b"SEND\nk:" + raw + b"\n\n\x00", version) == [Frame("SEND", {"k": decoded})]
    assert encode_frame("SEND", {"k": decoded}, b"", version) == b"SEND\nk:" + raw + b"\n\n\x00"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("command", ["CONNECT", "CONNECTED"])
def test_connect_and_connected_never_escaped(version: str, command: str) -> None:
    wire = command.encode() + b"\nlogin:a\\cb\\t\npasscode:p:q\n\n\x00"
    assert parse(wire, version) == [Frame(command, {"login": "a\\cb\\t", "passcode": "p:q"})]
    assert encode_frame(command, {"login": "a\\cb\\t", "passcode": "p:q"}, version=version) == wire


@pytest.mark.parametrize(
    ("version", "headers", "wire_headers"),
    [
        ("1.0", {"a": "b\\c:d"}, b"a:b\\c:d\n"),
        ("1.1", {"a:b": "c\nd\\"}, b"a\\cb:c\\nd\\\\\n"),
        ("1.1", {"a": "x\ry"}, b"a:x\ry\n"),
        ("1.2", {"a:b": "c\r\nd\\:"}, b"a\\cb:c\\r\\nd\\\\\\c\n"),
    ],
)
def test_encode_escaping(version: str, headers: dict[str, str], wire_headers: bytes) -> None:
    wire = encode_frame("SEND", headers, b"", version)
    assert wire == b"SEND\n" + wire_headers + b"\n\x00"
    assert parse(wire, version) == [Frame("SEND", headers)]


def test_encode_accepts_header_list_and_keeps_order_and_repeats() -> None:
    wire = encode_frame("MESSAGE", [("b", "1"), ("a", "2"), ("b", "3")], b"hi")
    assert wire == b"MESSAGE\nb:1\na:2\nb:3\n\nhi\x00"
    assert parse(wire, "1.2") == [Frame("MESSAGE", {"b": "1", "a": "2"}, b"hi")]


def test_encode_does_not_add_content_length() -> None:
    assert encode_frame("MESSAGE", {"destination": "/queue/a"}, b"abc") == (
        b"MESSAGE\ndestination:/queue/a\n\nabc\x00"
    )


def test_heartbeat_bytes_parse_as_heartbeat() -> None:
    assert parse(HEARTBEAT_BYTES * 3) == [HB, HB, HB]
    assert repr(HEARTBEAT) == "HEARTBEAT"


def test_command_sets() -> None:
    assert {
        "SEND",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "BEGIN",
        "COMMIT",
        "ABORT",
        "ACK",
        "NACK",
        "DISCONNECT",
        "CONNECT",
        "STOMP",
    } == CLIENT_COMMANDS
    assert {"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"} == SERVER_COMMANDS
    for command in sorted(ALL_COMMANDS):
        assert parse(command.encode() + b"\n\n\x00") == [Frame(command)]


# ----------------------------------------------------------------------------- content-length and bodies


def test_content_length_body_arrives_in_pieces() -> None:
    body = bytes(range(256)) * 40
    wire = b"SEND\ncontent-length:%d\n\n" % len(body) + body + b"\x00"
    parser = FrameParser()
    items: list[Frame | object] = []
    for i in range(0, len(wire), 333):
        items += parser.feed(wire[i : i + 333])
    assert items == [Frame("SEND", {"content-length": str(len(body))}, body)]
    assert parser.buffered == 0


def test_body_to_nul_arrives_in_pieces() -> None:
    body = b"x" * 10_000
    wire = b"SEND\n\n" + body + b"\x00SEND\n\n\x00"
    parser = FrameParser()
    items: list[Frame | object] = []
    for i in range(0, len(wire), 97):
        items += parser.feed(wire[i : i + 97])
    assert items == [Frame("SEND", {}, body), Frame("SEND")]


def test_repeated_content_length_first_wins() -> None:
    assert parse(b"SEND\ncontent-length:2\ncontent-length:9\n\n\x00\x00\x00") == [
        Frame("SEND", {"content-length": "2"}, b"\x00\x00")
    ]


def test_many_frames_in_one_buffer() -> None:
    one = b"MESSAGE\ndestination:/queue/a\nmessage-id:ID:1\nsubscription:0\n\nhello\x00\n"
    parser = FrameParser()
    parser.version = "1.2"
    items = parser.feed(one * 10_000)
    frames = [f for f in items if isinstance(f, Frame)]
    assert len(frames) == 10_000
    assert sum(1 for f in items if f is HB) == 10_000
    # 1.2 unescaping turns message-id's colon-free value into itself; the destination keeps its slashes
    assert frames[-1] == Frame(
        "MESSAGE", {"destination": "/queue/a", "message-id": "ID:1", "subscription": "0"}, b"hello"
    )
    assert parser.buffered == 0


def test_feed_accepts_bytearray_and_memoryview() -> None:
    parser = FrameParser()
    assert parser.feed(bytearray(b"SEND\n\nx")) == []
    assert parser.buffered == 7
    assert parser.feed(memoryview(b"\x00")) == [Frame("SEND", {}, b"x")]


def test_version_is_checked() -> None:
    parser = FrameParser()
    assert parser.version == "1.0"
    parser.version = "1.1"
    assert parser.version == "1.1"
    with pytest.raises(ValueError, match="unsupported STOMP version"):
        parser.version = "2.0"
    with pytest.raises(ValueError, match="unsupported STOMP version"):
        encode_frame("SEND", {}, b"", "1.3")


def test_version_change_applies_to_next_frame() -> None:
    parser = FrameParser()
    assert parser.feed(b"SEND\na:\\c\n\n\x00") == [Frame("SEND", {"a": "\\c"})]
    parser.version = "1.2"
    assert parser.feed(b"SEND\na:\\c\n\n\x00") == [Frame("SEND", {"a": ":"})]


# ----------------------------------------------------------------------------- errors


def expect_error(data: bytes, match: str, version: str = "1.2", bytewise: bool = True, **limits: int) -> None:
    with pytest.raises(StompCodecError, match=match) as info:
        parse(data, version, **limits)
    assert isinstance(info.value, CodecError) and info.value.fatal
    if bytewise:
        with pytest.raises(StompCodecError, match=match):
            parse_bytewise(data, version, **limits)


@pytest.mark.parametrize(
    "data",
    [
        b"FOO\n\n\x00",
        b"send\n\n\x00",
        b"SEND \n\n\x00",
        b" SEND\n\n\x00",
        b"\rSEND\n\n\x00",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh",
    ],
)
def test_unknown_command(data: bytes) -> None:
    expect_error(data, "unknown command")


def test_unknown_command_detected_before_frame_completes() -> None:
    parser = FrameParser()
    with pytest.raises(StompCodecError, match="unknown command"):
        parser.feed(b"XXXXXXXXXXXXXXXXXXXX")  # no LF yet, but longer than any command
    with pytest.raises(StompCodecError, match="unknown command"):
        FrameParser().feed(b"HELLO\n")  # headers not complete yet


@pytest.mark.parametrize(
    ("version", "header"),
    [
        ("1.1", b"a:\\t"),
        ("1.1", b"a:\\r"),  # \r is only defined from 1.2
        ("1.2", b"a:\\t"),
        ("1.2", b"a\\x:b"),
        ("1.2", b"a:b\\"),
        ("1.1", b"a:\\"),
    ],
)
def test_invalid_escape(version: str, header: bytes) -> None:
    expect_error(b"SEND\n" + header + b"\n\n\x00", "invalid header escape", version)


def test_invalid_utf8() -> None:
    expect_error(b"SEND\ndestination:\xff\xfe\n\n\x00", "invalid UTF-8")
    expect_error(b"SEND\n\xc3:x\n\n\x00", "invalid UTF-8")


def test_header_without_colon() -> None:
    expect_error(b"SEND\ndestination\n\n\x00", "without ':'")


def test_empty_header_name() -> None:
    expect_error(b"SEND\n:value\n\n\x00", "empty header name")


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1.5", b"", b"+3", b"0x10", b"\xd9\xa3", b"9" * 30])
def test_invalid_content_length(value: bytes) -> None:
    expect_error(b"SEND\ncontent-length:" + value + b"\n\n\x00", "invalid content-length")


def test_content_length_without_nul() -> None:
    expect_error(b"SEND\ncontent-length:2\n\nabc\x00", "not terminated by NUL")


def test_max_frame_size_header_section() -> None:
    expect_error(b"SEND\nh:" + b"x" * 100 + b"\n\n\x00", "max_frame_size", max_frame_size=50)
    # raised before the header section ends
    parser = FrameParser(max_frame_size=50)
    with pytest.raises(StompCodecError, match="exceeds max_frame_size of 50"):
        parser.feed(b"SEND\nh:" + b"x" * 60)


def test_max_frame_size_content_length_raised_at_once() -> None:
    parser = FrameParser(max_frame_size=1000)
    with pytest.raises(StompCodecError, match="max_frame_size"):
        parser.feed(b"SEND\ncontent-length:5000\n\n")  # no body byte arrived yet


def test_max_frame_size_body_without_nul_raised_before_nul() -> None:
    parser = FrameParser(max_frame_size=1000)
    assert parser.feed(b"SEND\n\n" + b"x" * 900) == []
    with pytest.raises(StompCodecError, match="max_frame_size"):
        parser.feed(b"x" * 200)


def test_max_frame_size_boundary() -> None:
    frame = b"SEND\n\n" + b"x" * 94  # 100 bytes before the NUL
    assert parse(frame + b"\x00", max_frame_size=100) == [Frame("SEND", {}, b"x" * 94)]
    expect_error(frame + b"x\x00", "max_frame_size", max_frame_size=100)
    cl = b"SEND\ncontent-length:76\n\n" + b"y" * 76
    assert len(cl) == 100
    assert parse(cl + b"\x00", max_frame_size=100) == [Frame("SEND", {"content-length": "76"}, b"y" * 76)]
    expect_error(b"SEND\ncontent-length:77\n\n" + b"y" * 77 + b"\x00", "max_frame_size", max_frame_size=100)


def test_max_headers() -> None:
    ok = b"SEND\n" + b"".join(b"h%d:v\n" % i for i in range(5)) + b"\n\x00"
    assert len(parse(ok, max_headers=5)[0].headers) == 5  # type: ignore[union-attr]
    too_many = b"SEND\n" + b"".join(b"h%d:v\n" % i for i in range(6)) + b"\n\x00"
    expect_error(too_many, "max_headers", max_headers=5)
    # repeated headers count too
    expect_error(b"SEND\n" + b"h:v\n" * 6 + b"\n\x00", "max_headers", max_headers=5)


def test_max_headers_raised_before_header_section_ends() -> None:
    parser = FrameParser(max_headers=5)
    with pytest.raises(StompCodecError, match="max_headers"):
        parser.feed(b"SEND\n" + b"h:v\n" * 6)


def test_max_header_length() -> None:
    assert parse(b"SEND\nh:" + b"v" * 8 + b"\r\n\n\x00", max_header_length=10)
    expect_error(b"SEND\nh:" + b"v" * 9 + b"\n\n\x00", "max_header_length", max_header_length=10)
    parser = FrameParser(max_header_length=10)
    with pytest.raises(StompCodecError, match="max_header_length"):
        parser.feed(b"SEND\na:b\nh:" + b"v" * 20)


def test_parser_is_dead_after_error_and_error_keeps_earlier_frames() -> None:
    parser = FrameParser()
    with pytest.raises(StompCodecError) as info:
        parser.feed(b"\nSEND\n\nok\x00BOGUS\n\n\x00")
    assert info.value.frames == [HB, Frame("SEND", {}, b"ok")]
    assert parser.buffered == 0
    with pytest.raises(StompCodecError, match="already failed"):
        parser.feed(b"SEND\n\n\x00")


@pytest.mark.parametrize(
    ("version", "command", "headers", "body", "match"),
    [
        ("1.0", "SEND", {"a:b": "c"}, b"", "cannot be sent unescaped"),
        ("1.0", "SEND", {"a": "b\nc"}, b"", "cannot be sent unescaped"),
        ("1.2", "CONNECT", {"a": "b\nc"}, b"", "cannot be sent unescaped"),
        ("1.0", "SEND", {"a": "b\r"}, b"", "ends with CR"),
        ("1.1", "SEND", {"a": "b\r"}, b"", "ends with CR"),
        ("1.2", "CONNECTED", {"a": "b\r"}, b"", "ends with CR"),
        ("1.2", "SEND", {"": "b"}, b"", "empty header name"),
        ("1.2", "SEND", {"a": "\ud800"}, b"", "UTF-8"),
        ("1.2", "SEND", {}, b"a\x00b", "content-length header is required"),
        ("1.2", "SEND", {"content-length": "2"}, b"abc", "does not match"),
        ("1.2", "FOO", {}, b"", "unknown command"),
        ("1.2", "send", {}, b"", "unknown command"),
    ],
)
def test_encode_errors(version: str, command: str, headers: dict[str, str], body: bytes, match: str) -> None:
    with pytest.raises(StompCodecError, match=match):
        encode_frame(command, headers, body, version)


def test_encode_cr_at_end_is_fine_in_1_2() -> None:
    wire = encode_frame("SEND", {"a": "b\r"}, b"", "1.2")
    assert parse(wire, "1.2") == [Frame("SEND", {"a": "b\r"})]


# ----------------------------------------------------------------------------- Hypothesis

_special = st.sampled_from(["\\", ":", "\n", "\r", " ", "\t", "\x00", "\u00e9", "\u2603"])
_plain = st.characters(blacklist_categories=("Cs",))
header_text = st.text(alphabet=st.one_of(_plain, _special), max_size=12)
header_name = header_text.filter(lambda s: s != "" and s != "content-length")


def encodable(version: str, command: str, headers: list[tuple[str, str]]) -> bool:
    raw = version == "1.0" or command in ("CONNECT", "CONNECTED")
    for name, value in headers:
        if raw and (":" in name or "\n" in name or "\n" in value):
            return False
        if (raw or version == "1.1") and value.endswith("\r"):
            return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    version=st.sampled_from(VERSIONS),
    command=st.sampled_from(sorted(ALL_COMMANDS)),
    headers=st.lists(st.tuples(header_name, header_text), max_size=6),
    body=st.binary(max_size=64),
    with_length=st.booleans(),
    split=st.integers(min_value=0),
)
def test_roundtrip(
    version: str,
    command: str,
    headers: list[tuple[str, str]],
    body: bytes,
    with_length: bool,
    split: int,
) -> None:
    if with_length or b"\x00" in body:
        headers = [*headers, ("content-length", str(len(body)))]
    if not encodable(version, command, headers):
        with pytest.raises(StompCodecError):
            encode_frame(command, headers, body, version)
        return
    wire = encode_frame(command, headers, body, version)
    expected: dict[str, str] = {}
    for name, value in headers:
        expected.setdefault(name, value)
    frame = Frame(command, expected, body)
    assert parse(wire, version) == [frame]
    # split anywhere, with a heart-beat before and after
    data = b"\r\n" + wire + b"\n"
    cut = split % (len(data) + 1)
    parser = FrameParser()
    parser.version = version
    assert parser.feed(data[:cut]) + parser.feed(data[cut:]) == [HB, frame, HB]
    assert parser.buffered == 0


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    return st.tuples(st.integers(0, len(seed)), st.binary(max_size=8), st.integers(0, 8)).map(
        lambda t: seed[: t[0]] + t[1] + seed[t[0] + t[2] :]
    )


_seeds = [ex.wire for ex in EXAMPLES]
fuzz_input = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(_seeds).flatmap(_mutations),
    st.lists(st.sampled_from(_seeds + [b"\n", b"\r\n", b"\\", b":", b"\x00"]), max_size=6).map(b"".join),
)


def run_fuzz_case(data: bytes, version: str, chunk: int) -> None:
    """Any bytes yield frames/heart-beats or raise StompCodecError, whole and in chunks alike."""
    limits = {"max_frame_size": 150, "max_headers": 4, "max_header_length": 40}
    whole: list[Frame | object] | None
    parser = FrameParser(**limits)
    parser.version = version
    try:
        whole = parser.feed(data)
    except StompCodecError:
        whole = None
    parser = FrameParser(**limits)
    parser.version = version
    pieces: list[Frame | object] | None = []
    try:
        for i in range(0, len(data), chunk):
            pieces += parser.feed(data[i : i + chunk])  # type: ignore[operator]
    except StompCodecError:
        pieces = None
    assert (whole is None) == (pieces is None)
    if whole is not None:
        assert whole == pieces
        for item in whole:
            assert item is HEARTBEAT or isinstance(item, Frame)
            if isinstance(item, Frame):
                assert item.command in ALL_COMMANDS
                assert all(isinstance(k, str) and isinstance(v, str) for k, v in item.headers.items())
                assert isinstance(item.body, bytes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=fuzz_input, version=st.sampled_from(VERSIONS), chunk=st.integers(1, 64))
def test_fuzz_any_bytes_yield_frames_or_codec_error(data: bytes, version: str, chunk: int) -> None:
    run_fuzz_case(data, version, chunk)


def test_repeated_heads_parse_alike_and_follow_the_version() -> None:
    p = FrameParser()
    p.version = "1.2"
    frame = b"SEND\ndestination:/queue/a\nx:a\\cb\ncontent-length:2\n\nhi\x00"
    frames = p.feed(frame * 3 + b"SEND\ndestination:/queue/a\nx:a\\cb\ncontent-length:3\n\nhey\x00")
    assert [f.headers["x"] for f in frames] == ["a:b"] * 4  # type: ignore[union-attr]
    assert [f.body for f in frames] == [b"hi"] * 3 + [b"hey"]  # type: ignore[union-attr]
    p.version = "1.0"  # 1.0 has no escaping: the same bytes mean something else now
    (f,) = p.feed(frame)
    assert f.headers["x"] == "a\\cb" and f.body == b"hi"  # type: ignore[union-attr]


def test_cached_header_section_still_checks_the_body_terminator() -> None:
    p = FrameParser()
    frame = b"SEND\ndestination:/queue/a\ncontent-length:2\n\nhi\x00"
    assert len(p.feed(frame)) == 1
    with pytest.raises(CodecError):
        p.feed(b"SEND\ndestination:/queue/a\ncontent-length:2\n\nhiX")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([
    b"SEND\ndestination:/queue/a\ncontent-length:2\n\nhi\x00",
    b"SEND\ndestination:/queue/a\ncontent-length:2\n\nhi\x00\n",
    b"SEND\ndestination:/queue/a\r\ncontent-length:2\r\n\r\nhi\x00",
    b"SEND\ndestination:/queue/a\ncontent-length:2\n\r\nhi\x00",
    b"SEND\ndestination:/queue/a\n\nno length\x00",
    b"\n",
]), min_size=1, max_size=12), st.integers(1, 7))
def test_repeated_heads_in_any_split_match_a_fresh_parser(frames: list[bytes], chunk: int) -> None:
    data = b"".join(frames)
    expected = FrameParser().feed(data)  # whole: the first of each head takes the slow path
    p = FrameParser()
    got: list[Frame | object] = []
    p.feed(data)  # warm the head cache
    for i in range(0, len(data), chunk):
        got += p.feed(data[i : i + chunk])
    assert got == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_head_cache_hit_after_a_head_received_in_pieces_forgets_the_partial_scan(version: str) -> None:
    """A repeated head that arrives in pieces is taken by the head cache once complete; the
    partial scan of its pieces must not leak into the next frame (found by the fuzz test)."""
    data = b"SEND\ncontent-length: 0\n\n\x00SEND\ncontent-length: 0\n\n\x00DISCONNECT\n\n\x00"
    run_fuzz_case(data, version, 3)
