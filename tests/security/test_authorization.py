"""The authorization map and anonymous access, through stomp.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import stomp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop" / "stomp"))
from stomp_util import Collector, connect  # noqa: E402

from support import BrokerProcess  # noqa: E402

CONFIG = """
users:
  - {username: reader, password: r-pass, groups: [readers]}
  - {username: writer, password: w-pass, groups: [writers]}
authorization:
  - {queue: "orders.>", read: [readers], write: [writers], admin: [writers]}
  - {topic: "ActiveMQ.Advisory.>", read: [everyone], write: [everyone], admin: [everyone]}
"""


def test_authorization_map_per_destination(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "data", ("stomp",), config=CONFIG, users=()).start()
    w, wcol = connect(b.port, user="writer", password="w-pass")
    w.send("/queue/orders.eu", "ok", receipt="r")
    wcol.wait_receipt("r")
    r, rcol = connect(b.port, user="reader", password="r-pass")
    r.subscribe("/queue/orders.eu", id="s", ack="auto")
    assert [m.body for m in rcol.wait_messages(1)] == ["ok"]
    # the reader may not write, the writer may not read, nobody may use other queues
    r.send("/queue/orders.eu", "nope")
    err = rcol.wait_error()
    assert "not authorized" in err.headers["message"] and "write" in err.headers["message"]
    w.subscribe("/queue/orders.eu", id="x", ack="auto")
    assert "not authorized" in wcol.wait_error().headers["message"]
    w2, w2col = connect(b.port, user="writer", password="w-pass")
    w2.send("/queue/payroll", "nope")
    assert "not authorized" in w2col.wait_error().headers["message"]
    b.kill()


def test_anonymous_only_when_configured(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "closed", ("stomp",)).start()
    c = stomp.Connection12([("127.0.0.1", b.port)])
    col = Collector()
    c.set_listener("c", col)
    with pytest.raises(stomp.exception.ConnectFailedException):
        c.connect(wait=True)
    assert "username" in col.wait_error().headers["message"]
    b.kill()
    open_b = BrokerProcess(tmp_path / "open", ("stomp",), extra_args=("--allow-anonymous",)).start()
    c2 = stomp.Connection12([("127.0.0.1", open_b.port)])
    c2.set_listener("c", Collector())
    c2.connect(wait=True)
    assert c2.is_connected()
    c2.disconnect()
    open_b.kill()
