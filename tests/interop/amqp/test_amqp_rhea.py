"""rhea (npm, Node) against ferrymq: SASL PLAIN, queue send/receive with credit windows,
topic capability, a rejected delivery going to the DLQ, read back with proton."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

from proton.utils import BlockingConnection

from support import BrokerProcess

NODE_DIR = Path(__file__).resolve().parent / "node"


def test_rhea_send_receive_topic_and_reject(amqp_broker: BrokerProcess) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not installed: run scripts/install-node-amqp.sh"
    assert (NODE_DIR / "node_modules" / "rhea").is_dir(), (
        "rhea is not installed: run scripts/install-node-amqp.sh"
    )
    tag = uuid.uuid4().hex[:8]
    q, t = f"rhea.{tag}", f"rhea.news.{tag}"
    proc = subprocess.run(
        [node, "rhea_client.mjs", str(amqp_broker.ports["amqp"]), q, t],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] == []
    assert out["topic"] == [{"body": "to-all", "props": {"from": "rhea"}}]
    assert out["received"] == [f"m{i}" for i in range(20)]
    assert out["rejected"] == "m0"
    # the rejected delivery went to the DLQ: proton reads it there
    c = BlockingConnection(
        f"amqp://127.0.0.1:{amqp_broker.ports['amqp']}", user="user", password="password", timeout=10
    )
    r = c.create_receiver("ActiveMQ.DLQ", options=None)
    seen = []
    for _ in range(10):
        m = r.receive(timeout=10)
        r.accept()
        seen.append(m.body)
        if m.body == "m0" and m.properties.get("n") == 0:
            break
    assert "m0" in seen
    c.close()
