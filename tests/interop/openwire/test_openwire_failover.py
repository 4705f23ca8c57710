"""failover:(tcp://...,tcp://...) with the unchanged ActiveMQ JMS client: the broker stops
and comes back (on the second address of the list, same store); the client reconnects and
resumes its queue consumer and durable subscription, and the unacknowledged message comes
again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jms_harness  # noqa: E402

from support import BrokerProcess, free_port  # noqa: E402

VARIANTS = {
    "tight": "wireFormat.tightEncodingEnabled=true",
    "loose": "wireFormat.tightEncodingEnabled=false&wireFormat.cacheEnabled=false",
}


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return jms_harness.compile_jms(tmp_path_factory.mktemp("openwire-jms-fo"))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_failover_reconnects_and_resumes(classes: Path, tmp_path: Path, variant: str) -> None:
    first, second = free_port(), free_port()
    opts = VARIANTS[variant]
    url = (
        f"failover:(tcp://127.0.0.1:{first}?{opts},tcp://127.0.0.1:{second}?{opts})"
        "?randomize=false&initialReconnectDelay=50&maxReconnectDelay=300&useExponentialBackOff=false"
    )
    broker = BrokerProcess(tmp_path / "data", ("openwire",), ports={"openwire": first}).start()
    again: BrokerProcess | None = None
    proc = subprocess.Popen(
        jms_harness.command(classes, url, "-", variant, ["failover"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None and proc.stdin is not None
        for line in proc.stdout:
            lines.append(line)
            if '"k":"ready"' in line or '"k":"error"' in line:
                break
        assert any('"k":"ready"' in ln for ln in lines), "".join(lines)
        broker.stop()
        again = BrokerProcess(tmp_path / "data", ("openwire",), ports={"openwire": second}).start()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=60)
        lines.append(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        broker.kill()
        if again is not None:
            again.kill()
    got = jms_harness.parse("".join(lines))
    log = "".join(lines)[-3000:]
    assert ("failover", "error") not in got, log
    assert got[("failover", "before")] == "q0,q1,q2"
    assert got[("failover", "queue_after")] == ["q2", "q3", "q4"], log
    assert got[("failover", "durable_after")] == "after-restart-topic", log
