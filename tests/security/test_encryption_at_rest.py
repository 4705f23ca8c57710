"""Encryption at rest through a running broker: no plaintext on disk, readable after restart."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop" / "stomp"))
from stomp_util import connect  # noqa: E402

from support import BrokerProcess  # noqa: E402


def test_persistent_messages_are_encrypted_on_disk(tmp_path: Path) -> None:
    key = tmp_path / "master.key"
    key.write_bytes(os.urandom(32))
    cfg = f"store:\n  encryption:\n    master_key_file: {key}\n"
    b = BrokerProcess(tmp_path / "data", ("stomp",), config=cfg).start()
    secret = "card-number-4111111111111111"
    c, col = connect(b.port)
    c.send("/queue/secrets", secret, headers={"persistent": "true", "note": "also-secret-header"}, receipt="r")
    col.wait_receipt("r")
    c.disconnect()
    b.stop()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir() if p.name.startswith("store.db"))
    assert secret.encode() not in blob and b"also-secret-header" not in blob
    b.start()
    c, col = connect(b.port)
    c.subscribe("/queue/secrets", id="s", ack="auto")
    (m,) = col.wait_messages(1)
    assert m.body == secret and m.headers["note"] == "also-secret-header"
    c.disconnect()
    b.kill()
