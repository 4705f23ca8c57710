from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import BrokerProcess

CONFIG = """
users:
  - {username: app, password: app-pass, groups: [apps]}
authorization:
  - {queue: ">", read: [admins], write: [admins], admin: [admins]}
  - {topic: ">", read: [admins], write: [admins], admin: [admins]}
  - {queue: "app.>", read: [apps, admins], write: [apps, admins], admin: [apps, admins]}
  - {topic: "ActiveMQ.Advisory.>", read: [apps, admins], write: [apps, admins], admin: [apps, admins]}
  - {temp: true, read: [apps, admins], write: [apps, admins], admin: [apps, admins]}
"""


@pytest.fixture(scope="module")
def amqp_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(
        tmp_path_factory.mktemp("amqp") / "data", ("amqp", "stomp", "mqtt"), config=CONFIG
    ).start()
    yield b
    b.kill()
