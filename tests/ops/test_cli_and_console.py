"""`ferrymq dlq` against a real broker, and the web console in headless chromium.

The console test needs scripts/install-browser.sh (Debian's chromium and playwright-core under
tests/interop/browser); scripts/test-all runs it first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ops_util import Http, q, send_persistent, stomp_connect

from support import ROOT, BrokerProcess, free_port

HERE = Path(__file__).resolve().parent


def dlq(
    b: BrokerProcess, *args: str, user: str = "admin:secret", url: str | None = None
) -> subprocess.CompletedProcess[str]:
    url = url or f"http://127.0.0.1:{b.ports['http']}"
    cmd = [sys.executable, "-m", "ferrymq", "dlq", args[0], "--url", url, "--user", user, *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=str(ROOT))


def dead_letter(b: BrokerProcess, queue: str, kinds: list[str]) -> list[str]:
    c, lst = stomp_connect(b.ports["stomp"])
    c.subscribe(f"/queue/{queue}", id="s", ack="client-individual")
    for i, kind in enumerate(kinds):
        send_persistent(c, lst, f"/queue/{queue}", f"{queue} #{i}", kind=kind)
    msgs = lst.wait_messages(len(kinds))
    for i, m in enumerate(msgs):
        c.nack(m.headers["ack"], receipt=f"n{i}")
        lst.wait_receipt(f"n{i}")
    c.disconnect()
    return [m.headers["message-id"] for m in msgs]


def size(b: BrokerProcess, queue: str) -> int:
    status, _, body = Http(b.ports["http"]).request("GET", f"/api/queues/{q(queue)}")
    return int(body["size"]) if status == 200 else 0


def test_dlq_cli_round_trip(broker: BrokerProcess) -> None:
    ids = dead_letter(broker, "cli.orders", ["a", "b", "b"])

    r = dlq(broker, "list")
    assert r.returncode == 0, r.stderr
    assert "ActiveMQ.DLQ\t3 message(s)" in r.stdout
    r = dlq(broker, "list", "--json")
    assert [x["name"] for x in json.loads(r.stdout)] == ["ActiveMQ.DLQ"]

    r = dlq(broker, "browse", "--selector", "kind = 'b'")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "2 message(s) in ActiveMQ.DLQ"
    assert all("queue://cli.orders" in line and "cli.orders #" in line for line in lines[:-1])
    assert {line.split("\t")[0] for line in lines[:-1]} == set(ids[1:])

    r = dlq(broker, "redrive", "--selector", "kind = 'b'")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "redrove 2 message(s) from ActiveMQ.DLQ to their original destinations"
    assert size(broker, "cli.orders") == 2

    r = dlq(broker, "redrive", "--message-id", ids[0], "--json")
    assert json.loads(r.stdout) == {"queue": "ActiveMQ.DLQ", "moved": 1, "target": None}
    assert size(broker, "cli.orders") == 3
    assert size(broker, "ActiveMQ.DLQ") == 0

    # purge: one more dead letter, then gone
    dead_letter(broker, "cli.other", ["z"])
    r = dlq(broker, "purge", "--yes")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "purged 1 message(s) from ActiveMQ.DLQ"
    r = dlq(broker, "purge")  # no terminal, no --yes: refuses
    assert r.returncode == 2 and "--yes" in r.stderr


def test_dlq_cli_errors(broker: BrokerProcess) -> None:
    r = dlq(broker, "list", user="admin:wrong")
    assert r.returncode == 1 and "HTTP 401" in r.stderr and "bad username or password" in r.stderr
    r = dlq(broker, "list", user="app:app-pass")
    assert r.returncode == 1 and "HTTP 403" in r.stderr
    r = dlq(broker, "browse", "--queue", "no.such.queue")
    assert r.returncode == 1 and "no such queue" in r.stderr
    r = dlq(broker, "browse", "--selector", "kind ===")
    assert r.returncode == 1 and "HTTP 400" in r.stderr and "selector" in r.stderr
    r = dlq(broker, "redrive")
    assert r.returncode == 2 and "--selector, --message-id or --all" in r.stderr
    r = dlq(broker, "list", user="no-colon")
    assert r.returncode == 2
    r = dlq(broker, "list", url=f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 1 and "cannot reach" in r.stderr


def test_https_listener_and_cli_insecure(tmp_path: Path) -> None:
    import ssl
    import urllib.request

    # the plain listener only admits 10.9.0.0/16 (a security group); https admits everyone
    config = "listeners:\n  http:\n    port: 1\n    allow: ['10.9.0.0/16']\n"
    ports = {"stomp": free_port(), "https": free_port(), "http": free_port()}
    b = BrokerProcess(
        tmp_path / "data",
        ("stomp", "https", "http"),
        ports=ports,
        config=config,
        extra_args=("--self-signed",),
    ).start()
    try:
        for path in ("/", "/api/broker", "/metrics"):
            status, _, body = Http(ports["http"]).request("GET", path)
            assert status == 403 and "allowed networks" in body["message"], path
        url = f"https://127.0.0.1:{b.ports['https']}"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(url + "/", context=ctx, timeout=10) as resp:
            assert resp.status == 200 and b"login-form" in resp.read()
        r = dlq(b, "list", "--insecure", url=url)
        assert r.returncode == 0 and r.stdout.strip() == "no dead-letter queues", r.stderr
        r = dlq(b, "list", url=url)  # the self-signed certificate is refused without --insecure
        assert r.returncode == 1 and "certificate" in r.stderr.lower()
    finally:
        b.kill()


@pytest.mark.slow
def test_console_in_chromium(broker: BrokerProcess, tmp_path: Path) -> None:
    assert Path("/usr/bin/chromium").exists(), "run scripts/install-browser.sh"
    assert (ROOT / "tests/interop/browser/node_modules/playwright-core").is_dir(), (
        "run scripts/install-browser.sh"
    )
    c, lst = stomp_connect(broker.ports["stomp"])
    send_persistent(c, lst, "/queue/console.q", "waiting for the console", color="green")
    c.disconnect()
    proc = subprocess.run(
        [
            "node",
            str(HERE / "console_check.mjs"),
            str(broker.ports["http"]),
            "viewer",
            "viewer-pass",
            "console.q",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=HERE,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # the only console error is the 401 of the deliberately wrong password
    assert [e for e in out["errors"] if "401" not in e] == [], out["errors"]
    assert out["dialogs"] == 0
    assert out["loginError"] == "bad username or password"
    assert out["facts"]["Name"] == "opsbroker"
    assert out["facts"]["Listener http"] == str(broker.ports["http"])
    assert {"name": "console.q", "size": 1} in out["queues"]
    assert [m["body"] for m in out["browsed"]] == ["waiting for the console"]
    assert out["sendNotice"].startswith("Sent ID:") and "queue://console.q" in out["sendNotice"]
    for shot in ("overview", "queues", "browse", "send"):
        assert (tmp_path / f"{shot}.png").stat().st_size > 1000
    # the message sent from the form is in the queue
    res = Http(broker.ports["http"]).get("/api/queues/console.q/messages")
    assert [m["body"] for m in res["messages"]] == ["waiting for the console", "sent from the console"]
    assert res["messages"][1]["properties"] == {"origin": "console"}
    assert res["messages"][1]["headers"]["userId"] == "viewer"
