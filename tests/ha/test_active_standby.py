"""Active/standby on one store: the standby waits with its listeners closed and takes
over, with every acknowledged persistent message, when the active dies."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest
import stomp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop" / "stomp"))
from stomp_util import connect  # noqa: E402

from support import BrokerProcess, free_port  # noqa: E402


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def test_standby_takes_over_after_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "shared"
    active = BrokerProcess(data, ("stomp",), ports={"stomp": free_port()}).start()
    standby = BrokerProcess(data, ("stomp",), ports={"stomp": free_port()}).start(wait=False)
    standby.wait_output("standby")
    time.sleep(0.5)
    assert not listening(standby.port), "the standby must not serve while the active is alive"

    c, col = connect(active.port)
    for i in range(200):
        c.send("/queue/ha", f"m{i}", headers={"persistent": "true"}, receipt=f"r{i}")
    col.wait_receipt("r199")
    c.disconnect()

    t0 = time.monotonic()
    active.kill()
    standby.wait_output("ferrymq broker", timeout=10)
    took_over = time.monotonic() - t0
    assert listening(standby.port)
    assert took_over < 5.0

    c2, col2 = connect(standby.port)
    c2.subscribe("/queue/ha", id="s", ack="auto")
    got = [m.body for m in col2.wait_messages(200)]
    assert got == [f"m{i}" for i in range(200)]
    c2.disconnect()
    standby.kill()


def test_standby_stops_cleanly_while_waiting(tmp_path: Path) -> None:
    data = tmp_path / "shared"
    active = BrokerProcess(data, ("stomp",), ports={"stomp": free_port()}).start()
    standby = BrokerProcess(data, ("stomp",), ports={"stomp": free_port()}).start(wait=False)
    standby.wait_output("standby")
    assert standby.stop() == 0
    with pytest.raises(stomp.exception.ConnectFailedException):
        connect(standby.port)
    active.kill()
