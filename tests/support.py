"""Test support: run a real ``ferrymq serve`` subprocess on free ports."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: every broker process a test started: killed at exit even when a test failed midway
_RUNNING: set[subprocess.Popen[str]] = set()


def _kill_leftovers() -> None:
    for proc in list(_RUNNING):
        if proc.poll() is None:
            proc.kill()


atexit.register(_kill_leftovers)


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one this process was given before (the kernel may
    offer the same ephemeral port twice in a row)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port}")


class BrokerProcess:
    """A broker subprocess. ``ports`` maps listener names to the ports it got."""

    def __init__(self, data_dir: Path, protocols: tuple[str, ...] = ("stomp",),
                 users: tuple[str, ...] = ("admin:secret:admins", "user:password"),
                 config: str | None = None, extra_args: tuple[str, ...] = (),
                 ports: dict[str, int] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.protocols = protocols
        self.users = users
        self.config = config
        self.extra_args = extra_args
        self.ports = dict(ports or {p: free_port() for p in protocols})
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def port(self) -> int:
        return self.ports[self.protocols[0]]

    def args(self) -> list[str]:
        a = [sys.executable, "-m", "ferrymq", "serve", "--data-dir", str(self.data_dir)]
        if self.config is not None:
            cfg = self.data_dir.parent / f"{self.data_dir.name}-broker.yaml"
            cfg.write_text(self.config)
            a += ["--config", str(cfg)]
        for p in ("stomp", "stomp-ssl", "mqtt", "mqtt-ssl", "amqp", "amqp-ssl", "openwire", "openwire-ssl",
                  "ws", "wss", "http", "https"):
            a += ["--port", f"{p}={self.ports.get(p, 0)}"]
        for u in self.users:
            a += ["--user", u]
        return a + list(self.extra_args)

    def start(self, timeout: float = 20.0, wait: bool = True) -> BrokerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, cwd=str(ROOT))
        _RUNNING.add(self.proc)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        if not wait:
            import threading

            threading.Thread(target=self._pump, daemon=True).start()
            return self
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if "started" in line and line.startswith("ferrymq broker"):
                import threading

                threading.Thread(target=self._pump, daemon=True).start()
                return self
        self.kill()
        raise RuntimeError("broker did not start:\n" + "".join(self.output))

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> BrokerProcess:
        self.stop()
        return self.start()

    def wait_output(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.output):
                return
            time.sleep(0.02)
        raise TimeoutError(f"no output line with {text!r}:\n" + "".join(self.output))

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class AcceptingAuth:
    """An authenticator that lets every login in (in-process adapter tests)."""

    allow_anonymous = True

    def authenticate(self, creds: object) -> object:
        from ferrymq.core import Completion, Principal

        return Completion.done(Principal("u"))


def adapter_context(broker: object) -> object:
    """The context of an in-process adapter on ``broker``: default limits, any login accepted."""
    from ferrymq.protocols.base import AdapterContext, PeerInfo, ProtocolLimits

    return AdapterContext(
        broker=broker, authenticator=AcceptingAuth(), limits=ProtocolLimits(), peer=PeerInfo("x", 1)  # type: ignore[arg-type]
    )
