"""A running `ferrymq service` (a real subprocess) and boto3 clients signed with its keys."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config

HERE = Path(__file__).parent
REGION = "eu-west-1"
# ports 20000-20999 belong to these tests: API ports from 20000, broker ranges from 20100.
# Each pytest-xdist worker takes its own 25 API ports, so two workers never pick the same
# free port at the same moment (a client of one would talk to the other's service).
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 4
_API_PORTS = iter(range(20000 + 25 * _WORKER, 20025 + 25 * _WORKER))


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def next_api_port() -> int:
    for port in _API_PORTS:
        if _free(port):
            return port
    raise RuntimeError(f"no free API port in this worker's range from {20000 + 25 * _WORKER}")


def real_serve_available() -> bool:
    exe = Path(sys.executable).with_name("ferrymq")
    if not exe.exists():
        return False
    out = subprocess.run([str(exe), "serve", "--list-protocols"], capture_output=True, text=True, timeout=60)
    return out.returncode == 0 and "stomp" in out.stdout.split()


@dataclass
class Service:
    data_dir: Path
    port: int
    broker_ports: str
    serve_command: list[str] | None
    extra: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    key_id: str = ""
    secret: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        cfg: dict[str, Any] = dict(self.extra)
        if self.serve_command:
            cfg["serve_command"] = self.serve_command
        cfg.setdefault("start_timeout", 30)
        cfg_file = self.data_dir.parent / f"{self.data_dir.name}-service.yaml"
        cfg_file.write_text(yaml.safe_dump(cfg))
        log_path = self.data_dir.parent / f"{self.data_dir.name}-service.log"
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "ferrymq.service.cli", "service", "--config", str(cfg_file),
                "--data-dir", str(self.data_dir), "--bind", "127.0.0.1", "--port", str(self.port),
                "--broker-ports", self.broker_ports, "--region", REGION,
            ],
            stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("service did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def create_key(self) -> tuple[str, str]:
        out = subprocess.run(
            [sys.executable, "-m", "ferrymq.service.cli", "keys", "create", "--data-dir", str(self.data_dir), "--json"],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        data = json.loads(out.stdout)
        return data["accessKeyId"], data["secretAccessKey"]

    def client(self, region: str = REGION, key: tuple[str, str] | None = None) -> Any:
        key_id, secret = key or (self.key_id, self.secret)
        return boto3.client(
            "mq",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}),
        )

    def wait_state(self, broker_id: str, states: set[str], timeout: float = 30) -> dict[str, Any]:
        mq = self.client()
        deadline = time.monotonic() + timeout
        while True:
            desc = mq.describe_broker(BrokerId=broker_id)
            if desc["BrokerState"] in states:
                return desc
            if time.monotonic() > deadline:
                raise AssertionError(f"broker stayed {desc['BrokerState']}, wanted {states}")
            time.sleep(0.1)


def make_service(tmp: Path, broker_ports: str, serve_command: list[str] | None, **extra: Any) -> Service:
    data = tmp / "svc"
    data.mkdir(parents=True, exist_ok=True)
    svc = Service(data, next_api_port(), broker_ports, serve_command, extra)
    svc.key_id, svc.secret = svc.create_key()
    return svc


@pytest.fixture(scope="module")
def service_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Service]]:
    made: list[Service] = []

    def factory(broker_ports: str, serve_command: list[str] | None = None, **extra: Any) -> Service:
        svc = make_service(tmp_path_factory.mktemp("service"), broker_ports, serve_command, **extra)
        svc.start()
        made.append(svc)
        return svc

    yield factory
    for svc in made:
        svc.stop()
        shutil.rmtree(svc.data_dir, ignore_errors=True)


def password() -> str:
    return "Secret-pass-" + os.urandom(4).hex()
