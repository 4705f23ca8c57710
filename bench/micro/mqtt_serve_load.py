"""Run the shared load generator against a fresh `ferrymq serve` with only an MQTT listener.

    python bench/micro/mqtt_serve_load.py [--src DIR] [--scenario queue|queue-p|fanout ...]
        [--count N] [--py-spy OUT.svg|OUT.txt]

``--src`` puts another source tree first on PYTHONPATH (a baseline checkout); the load
generator is the harness copy in ~/.cache/ferrymq-bench. Prints one line per scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.support import free_port  # noqa: E402

BENCH = Path.home() / ".cache" / "ferrymq-bench"
OTHER_LISTENERS = (
    "openwire",
    "openwire-ssl",
    "amqp",
    "amqp-ssl",
    "stomp",
    "stomp-ssl",
    "mqtt-ssl",
    "ws",
    "wss",
    "http",
    "https",
)


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ferrymq exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError("ferrymq did not listen")


def _cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(scenario: str, count: int, src: str | None, spy: str | None, max_time: float) -> dict[str, object]:
    port = free_port()
    data = tempfile.mkdtemp(prefix="ferrymq-mqtt-load-")
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    cmd = [
        str(ROOT / ".venv/bin/ferrymq"),
        "serve",
        "--data-dir",
        data,
        "--bind",
        "127.0.0.1",
        "--user",
        "bench:bench",
        "--log-level",
        "WARNING",
        "--port",
        f"mqtt={port}",
    ]
    for name in OTHER_LISTENERS:
        cmd += ["--port", f"{name}=0"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spy_proc = None
    try:
        _wait(port, proc)
        if spy:
            fmt = "flamegraph" if spy.endswith(".svg") else "raw"
            spy_proc = subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/py-spy"),
                    "record",
                    "-p",
                    str(proc.pid),
                    "-o",
                    spy,
                    "-f",
                    fmt,
                    "-r",
                    "200",
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        args = [
            str(BENCH / ".venv/bin/python"),
            "-m",
            "loadgen",
            "--target",
            f"127.0.0.1:{port}",
            "--protocol",
            "mqtt",
            "--scenario",
            "fanout" if scenario == "fanout" else "queue",
            "--count",
            str(count),
            "--max-time",
            str(max_time),
            "--user",
            "bench",
            "--password",
            "bench",
            "--label",
            "ferrymq",
            "--no-broker-monitor",
        ]
        if scenario == "queue-p":
            args.append("--persistent")
        cpu0 = _cpu(proc.pid)
        out = subprocess.run(args, cwd=BENCH, capture_output=True, text=True, timeout=max_time + 120)
        cpu = _cpu(proc.pid) - cpu0
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
        result: dict[str, object] = json.loads(line)
        result["broker_cpu_s"] = cpu
        return result
    finally:
        if spy_proc is not None:
            spy_proc.send_signal(2)
            try:
                spy_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy_proc.kill()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src")
    ap.add_argument("--scenario", nargs="+", default=["queue", "queue-p", "fanout"])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--max-time", type=float, default=15)
    ap.add_argument("--py-spy")
    a = ap.parse_args()
    for sc in a.scenario:
        r = run(sc, a.count, a.src, a.py_spy, a.max_time)
        load = os.getloadavg()[0]
        received = int(r.get("received") or 0)  # type: ignore[call-overload]
        # broker CPU includes the warm-up messages and connection setup: an upper bound
        per = float(r["broker_cpu_s"]) / received * 1e6 if received else 0.0  # type: ignore[arg-type]
        print(
            f"{sc}: {r.get('msgs_per_s', 0):.0f} msgs/s received={received} lost={r.get('lost')}"
            f" elapsed={r.get('elapsed_s')} broker CPU {per:.1f} us/delivery load={load:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
