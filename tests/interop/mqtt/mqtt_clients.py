"""paho-mqtt clients over TCP, TLS and WebSocket, and a raw byte client for wire tests."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from support import BrokerProcess

USER = ("user", "password")
#: paho reports MQTT 3.1.1 CONNACK codes as MQTT 5 reason codes
V5_TO_V3 = {0: 0, 132: 1, 133: 2, 136: 3, 134: 4, 135: 5}


class Received:
    def __init__(self) -> None:
        self.q: queue.Queue[mqtt.MQTTMessage] = queue.Queue()

    def __call__(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.q.put(msg)

    def get(self, timeout: float = 5.0) -> mqtt.MQTTMessage:
        return self.q.get(timeout=timeout)

    def none(self, wait: float = 0.5) -> bool:
        try:
            self.q.get(timeout=wait)
        except queue.Empty:
            return True
        return False


class Paho:
    """A connected paho client with its network loop running."""

    def __init__(
        self,
        broker: BrokerProcess,
        transport: str,
        client_id: str = "",
        *,
        clean: bool = True,
        auth: tuple[str, str] | None = USER,
        will: tuple[str, bytes, int, bool] | None = None,
        keepalive: int = 60,
        connect: bool = True,
    ) -> None:
        ws = transport in ("ws", "wss")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean,
            transport="websockets" if ws else "tcp",
            reconnect_on_failure=False,
        )
        if ws:
            self.client.ws_set_options(path="/mqtt")
        if transport in ("tls", "wss"):
            self.client.tls_set(cert_reqs=ssl.CERT_NONE)
            self.client.tls_insecure_set(True)
        if auth is not None:
            self.client.username_pw_set(*auth)
        if will is not None:
            self.client.will_set(will[0], will[1], will[2], will[3])
        self.messages = Received()
        self.client.on_message = self.messages
        self.connack: queue.Queue[tuple[Any, Any]] = queue.Queue()
        self.disconnected = threading.Event()
        self.client.on_connect = lambda c, u, flags, rc, props: self.connack.put((flags, rc))
        self.client.on_disconnect = lambda c, u, flags, rc, props: self.disconnected.set()
        self.subacks: queue.Queue[list[Any]] = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, rcs, props: self.subacks.put(list(rcs))
        port = broker.ports[{"tcp": "mqtt", "tls": "mqtt-ssl", "ws": "ws", "wss": "wss"}[transport]]
        self.port = port
        if connect:
            self.client.connect("127.0.0.1", port, keepalive=keepalive)
            self.client.loop_start()
            flags, rc = self.connack.get(timeout=5)
            self.session_present = bool(flags.session_present)
            self.rc = rc

    def subscribe(self, topic: str, qos: int = 0) -> list[Any]:
        self.client.subscribe(topic, qos)
        return self.subacks.get(timeout=5)

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos, retain)
        info.wait_for_publish(5)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """Close the socket without DISCONNECT (an abnormal disconnect)."""
        sock = self.client.socket()
        self.client.loop_stop()
        sock = getattr(sock, "_socket", sock)  # paho's WebSocket wrapper
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def connect_rc(
    broker: BrokerProcess,
    transport: str,
    client_id: str,
    *,
    clean: bool = True,
    auth: tuple[str, str] | None = USER,
) -> int:
    """The CONNACK return code paho gets."""
    p = Paho(broker, transport, client_id, clean=clean, auth=auth, connect=False)
    p.client.connect("127.0.0.1", p.port)
    p.client.loop_start()
    try:
        _flags, rc = p.connack.get(timeout=5)
        return V5_TO_V3[int(rc.value)]
    finally:
        p.client.loop_stop()
        p.client.disconnect()


def wait_until(pred: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return bool(pred())
