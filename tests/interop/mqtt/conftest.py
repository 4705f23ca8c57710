from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import BrokerProcess  # noqa: E402

ALL = ("mqtt", "mqtt-ssl", "ws", "wss", "stomp")


@pytest.fixture(scope="module")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker per module with MQTT over TCP, TLS, ws and wss, and STOMP."""
    b = BrokerProcess(tmp_path_factory.mktemp("mqtt") / "data", ALL).start()
    yield b
    b.kill()


@pytest.fixture(params=["tcp", "tls", "ws"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)
