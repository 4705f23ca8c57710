"""@stomp/stompjs and mqtt.js in headless chromium against ws:// on the broker.

Needs scripts/install-browser.sh (chromium from Debian, npm packages from the lock file);
scripts/test-all runs it first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from support import BrokerProcess  # noqa: E402

HERE = Path(__file__).resolve().parent


def test_stompjs_and_mqttjs_in_chromium(tmp_path: Path) -> None:
    assert (HERE / "node_modules" / "playwright-core").is_dir(), "run scripts/install-browser.sh"
    assert Path("/usr/bin/chromium").exists(), "run scripts/install-browser.sh"
    b = BrokerProcess(tmp_path / "data", ("ws", "stomp")).start()
    try:
        proc = subprocess.run(
            ["node", str(HERE / "run.mjs"), str(b.ports["ws"])],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=HERE,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        b.kill()
    assert out["stompVersion"] == "1.2"
    assert out["stompSubprotocol"] == "v12.stomp"
    assert out["mqttGot"] == [  # sorted by topic in the page
        {"topic": "browser/frommqtt", "payload": "hello from mqtt.js", "qos": 1, "retain": False},
        {"topic": "browser/fromstomp", "payload": "hello from stompjs", "qos": 1, "retain": False},
    ]
    assert out["stompGot"] == [
        {"dest": "/topic/browser.frommqtt", "body": "hello from mqtt.js"},
        {"dest": "/topic/browser.fromstomp", "body": "hello from stompjs"},
    ]
    assert out["retained"] == {"topic": "browser/retained", "payload": "kept", "retain": True}
