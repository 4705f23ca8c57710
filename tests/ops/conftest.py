from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from support import BrokerProcess, free_port  # noqa: E402

#: a user that may connect with STOMP but has no console access (config users keep the flag)
CONFIG = """
BrokerName: opsbroker
users:
  - username: app
    password: app-pass
    groups: [apps]
    console_access: false
  - username: viewer
    password: viewer-pass
    groups: [ops]
    console_access: true
"""


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(
        tmp_path_factory.mktemp("ops") / "data",
        ("stomp", "http"),
        config=CONFIG,
        ports={"stomp": free_port(), "http": free_port()},
    ).start()
    yield b
    b.kill()
