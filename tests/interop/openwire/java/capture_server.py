"""A tiny OpenWire test server that records what the real ActiveMQ JMS client sends.

Used by ``tests/unit/test_openwire_interop.py`` and ``tests/unit/data/openwire/record.py``. It
answers every command that asks for a response, sends a BrokerInfo after its
WireFormatInfo and dispatches one text message to the first consumer on ``ferry.in`` --
all encoded with ferrymq's codec, so the real client also checks our encoder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferrymq.protocols.openwire import codec, props, spec

JAVA_DIR = Path(__file__).resolve().parent
JARS = [
    "activemq-client.jar",
    "geronimo-jms_1.1_spec.jar",
    "hawtbuf.jar",
    "slf4j-api.jar",
    "slf4j-nop.jar",
    "geronimo-j2ee-management-1.1-spec.jar",
]
JAR_DIR = Path(os.environ.get("FERRYMQ_JAVA_LIB", "/usr/share/java"))


def classpath(extra: Path) -> str:
    return os.pathsep.join([*(str(JAR_DIR / j) for j in JARS), str(extra)])


def compile_capture(out_dir: Path) -> None:
    missing = [j for j in JARS if not (JAR_DIR / j).exists()]
    if missing:
        raise RuntimeError(f"missing jars {missing}: run scripts/install-java-deps.sh")
    subprocess.run(
        ["javac", "-d", str(out_dir), "-cp", classpath(out_dir), str(JAVA_DIR / "Capture.java")],
        check=True,
        capture_output=True,
        timeout=120,
    )


@dataclass
class Session:
    raw: bytearray = field(default_factory=bytearray)
    commands: list[Any] = field(default_factory=list)
    wire_format: codec.WireFormat | None = None
    errors: list[BaseException] = field(default_factory=list)
    sent: bytearray = field(default_factory=bytearray)


def server_info() -> Any:
    return codec.make_wire_format_info(provider_version="0.1.0")


def _serve(conn: socket.socket, session: Session, port: int) -> None:
    parser = codec.OpenWireParser(preferred=server_info())
    dispatched = False

    def send(cmd: Any) -> None:
        data = parser.encode(cmd)
        session.sent += data
        conn.sendall(data)

    try:
        send(server_info())
        while True:
            data = conn.recv(65536)
            if not data:
                break
            session.raw += data
            for cmd in parser.feed(data):
                session.commands.append(cmd)
                if isinstance(cmd, spec.WireFormatInfo):
                    session.wire_format = parser.wire_format
                    send(
                        spec.BrokerInfo(
                            broker_id=spec.BrokerId(value="ID:ferrymq-test-broker"),
                            broker_url=f"tcp://127.0.0.1:{port}",
                            broker_name="ferrymq",
                        )
                    )
                    continue
                if getattr(cmd, "response_required", False):
                    send(spec.Response(correlation_id=cmd.command_id))
                if (
                    isinstance(cmd, spec.ConsumerInfo)
                    and isinstance(cmd.destination, spec.ActiveMQQueue)
                    and cmd.destination.physical_name == "ferry.in"
                    and not dispatched
                ):
                    dispatched = True
                    producer = spec.ProducerId(connection_id="ID:ferrymq-test-broker", session_id=0, value=1)
                    message = spec.ActiveMQTextMessage(
                        producer_id=producer,
                        destination=cmd.destination,
                        message_id=spec.MessageId(producer_id=producer, producer_sequence_id=1),
                        persistent=True,
                        timestamp=1_700_000_000_000,
                        content=props.encode_text_body("from ferrymq \u00e9\U0001f600"),
                        marshalled_properties=props.encode_map(
                            {"origin": "ferrymq", "color": "blue", "n": props.JmsLong(5)}
                        ),
                    )
                    send(
                        spec.MessageDispatch(
                            consumer_id=cmd.consumer_id, destination=cmd.destination, message=message
                        )
                    )
    except BaseException as exc:  # recorded for the test to report
        session.errors.append(exc)
    finally:
        conn.close()


def run_capture(class_dir: Path, variants: list[str], timeout: float = 60.0) -> tuple[list[Session], str]:
    """Run the Java client once over ``variants``; one recorded Session per variant."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(timeout)
    port = listener.getsockname()[1]
    sessions: list[Session] = []
    threads: list[threading.Thread] = []
    proc = subprocess.Popen(
        [
            "java",
            "-Xshare:auto",
            "-XX:TieredStopAtLevel=1",
            "-cp",
            classpath(class_dir),
            "Capture",
            str(port),
            *variants,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in variants:
            conn, _addr = listener.accept()
            conn.settimeout(timeout)
            session = Session()
            sessions.append(session)
            t = threading.Thread(target=_serve, args=(conn, session, port), daemon=True)
            t.start()
            threads.append(t)
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        listener.close()
    for t in threads:
        t.join(timeout)
    return sessions, out
