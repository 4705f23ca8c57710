"""The real ActiveMQ 5.x JMS client against a test server built on ferrymq's OpenWire codec.

Needs a JDK and Debian's libactivemq-java: ``scripts/install-java-deps.sh`` installs them.
One JVM runs every variant (tight/loose, cache on/off, versions 9-11, compression): the
server decodes everything the client sends, and the client must accept what the server
encodes (WireFormatInfo, BrokerInfo, Responses and a dispatched message it prints back).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from ferrymq.protocols.openwire import codec, props, spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop" / "openwire" / "java"))

import capture_server  # noqa: E402

VARIANTS = {
    "-": (12, True, True),
    "wireFormat.tightEncodingEnabled=false": (12, False, True),
    "wireFormat.cacheEnabled=false": (12, True, False),
    "wireFormat.tightEncodingEnabled=false&wireFormat.cacheEnabled=false": (12, False, False),
    "wireFormat.version=9&wireFormat.tightEncodingEnabled=false": (9, False, True),
    "wireFormat.version=10": (10, True, True),
    "wireFormat.version=11&wireFormat.cacheEnabled=false": (11, True, False),
    "jms.useCompression=true&wireFormat.tightEncodingEnabled=false": (12, False, True),
}


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[capture_server.Session], str]:
    assert shutil.which("javac") and shutil.which("java"), "no JDK: run scripts/install-java-deps.sh"
    classes = tmp_path_factory.mktemp("openwire-java")
    capture_server.compile_capture(classes)
    return capture_server.run_capture(classes, list(VARIANTS), timeout=60)


def by_type(commands: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for c in commands:
        out.setdefault(type(c).__name__, []).append(c)
    return out


def test_client_accepts_what_ferrymq_encodes(capture: tuple[list[capture_server.Session], str]) -> None:
    sessions, stdout = capture
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RECEIVED")]
    assert len(lines) == len(VARIANTS), stdout
    for i, line in enumerate(lines, 1):
        assert line.startswith(f"RECEIVED {i} text=from ferrymq \u00e9\U0001f600 origin=ferrymq n=5 "), line
        assert "id=ID:ferrymq-test-broker:0:1:1" in line
    for s in sessions:
        assert not s.errors


@pytest.mark.parametrize("index", range(len(VARIANTS)))
def test_server_decodes_every_client_command(
    capture: tuple[list[capture_server.Session], str], index: int
) -> None:
    options = list(VARIANTS)[index]
    version, tight, cache = VARIANTS[options]
    session = capture[0][index]
    assert session.wire_format is not None
    wf = session.wire_format
    assert (wf.version, wf.tight_encoding, wf.cache_enabled) == (version, tight, cache)
    kinds = by_type(session.commands)
    assert len(kinds["ActiveMQTextMessage"]) == 3
    conn = kinds["ConnectionInfo"][0]
    assert conn.client_id == f"capture-{index + 1}" and conn.user_name == "capture-user"
    text = kinds["ActiveMQTextMessage"][0]
    assert text.destination == spec.ActiveMQQueue(physical_name="ferry.test")
    assert props.decode_text_body(text.content, compressed=text.compressed) == (
        f"hello ferrymq \u00e9\x00\U0001f600 #{index + 1}"
    )
    assert text.compressed is ("useCompression" in options)
    properties = props.decode_map(text.marshalled_properties)
    assert properties is not None and properties["color"] == "red" and properties["big"] == 1 << 40
    mapped = kinds["ActiveMQMapMessage"][0]
    assert props.decode_map_body(mapped.content, compressed=mapped.compressed)["qty"] == 42
    body = kinds["ActiveMQBytesMessage"][0]
    assert props.decode_bytes_body(body.content, compressed=body.compressed) == b"\x00\x01\x02\xff"
    consumer = kinds["ConsumerInfo"][1]
    assert consumer.selector == "color = 'blue'"
    assert (consumer.client_id is None) or version >= 10
    assert kinds["MessageAck"][0].consumer_id == consumer.consumer_id
    assert isinstance(kinds["ShutdownInfo"][0], spec.ShutdownInfo)

    # What the client sent re-decodes offline, whole, and re-encodes byte for byte.
    parser = codec.OpenWireParser(preferred=capture_server.server_info())
    again = parser.feed(bytes(session.raw))
    assert again == session.commands
    encoder = codec.OpenWireParser()
    out = bytearray(encoder.encode(again[0]))
    encoder.set_wire_format(parser.wire_format)
    for c in again[1:]:
        out += encoder.encode(c)
    assert bytes(out) == bytes(session.raw)
