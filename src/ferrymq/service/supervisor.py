"""Supervisor of broker instance processes (``ferrymq serve``), one group per broker.

Each instance is a child process with its own log file; when one exits without being
asked to, it is started again after a short back-off (doubling up to 5 s). Readiness is
observed from outside: an instance is *serving* when every one of its ports accepts a TCP
connection. For an active/standby pair the standby keeps its listeners closed while the
active holds the store lease, so "some instance serving" is the broker's readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("ferrymq.service.supervisor")


@dataclass
class InstanceSpec:
    name: str  # e.g. b-<uuid>-1
    argv: list[str]
    log_file: Path
    probe_host: str
    probe_ports: list[int]


@dataclass
class _Instance:
    spec: InstanceSpec
    proc: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    stopping: bool = False
    exited: asyncio.Event = field(default_factory=asyncio.Event)


async def list_protocols(command: list[str], timeout: float = 30.0) -> list[str]:
    """Ask ``serve --list-protocols`` which listener names it accepts ([] if it cannot say)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            "--list-protocols",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return []
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return []
    if proc.returncode != 0:
        return []
    return [line.strip() for line in out.decode(errors="replace").splitlines() if line.strip()]


async def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


class Supervisor:
    def __init__(self, backoff_max: float = 5.0) -> None:
        self._groups: dict[str, list[_Instance]] = {}
        self._backoff_max = backoff_max

    def running(self, group: str) -> bool:
        return group in self._groups

    def restarts(self, group: str) -> int:
        return sum(i.restarts for i in self._groups.get(group, []))

    def pids(self, group: str) -> list[int]:
        return [
            i.proc.pid
            for i in self._groups.get(group, [])
            if i.proc is not None and i.proc.returncode is None
        ]

    async def start(self, group: str, specs: list[InstanceSpec]) -> None:
        if group in self._groups:
            await self.stop(group)
        instances = [_Instance(spec) for spec in specs]
        self._groups[group] = instances
        for inst in instances:
            inst.task = asyncio.create_task(self._run(inst), name=f"supervise {inst.spec.name}")

    @staticmethod
    def _pid_file(spec: InstanceSpec) -> Path:
        return spec.log_file.with_suffix(".pid")

    async def _reap_stale(self, spec: InstanceSpec) -> None:
        """Stop a process left by a service that died without stopping its brokers (it would
        hold the ports): the pid file names it, its command line must name this instance's
        config file."""
        path = self._pid_file(spec)
        try:
            pid = int(path.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        config = next((a for a in spec.argv if a.endswith(".yaml")), None)
        if config is None or config.encode() not in cmdline:
            return
        log.warning("stopping stale broker process %d of %s", pid, spec.name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            await asyncio.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def _spawn(self, inst: _Instance) -> asyncio.subprocess.Process:
        inst.spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        await self._reap_stale(inst.spec)
        with open(inst.spec.log_file, "ab") as logf:
            proc = await asyncio.create_subprocess_exec(
                *inst.spec.argv,
                stdout=logf,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        self._pid_file(inst.spec).write_text(str(proc.pid))
        return proc

    async def _run(self, inst: _Instance) -> None:
        delay = 0.25
        try:
            while not inst.stopping:
                try:
                    inst.proc = await self._spawn(inst)
                except OSError as exc:
                    log.error("cannot start %s: %s", inst.spec.name, exc)
                    inst.proc = None
                else:
                    code = await inst.proc.wait()
                    if inst.stopping:
                        break
                    log.warning("%s exited with %s; restarting in %.2fs", inst.spec.name, code, delay)
                inst.restarts += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
        finally:
            inst.exited.set()

    async def stop(self, group: str, timeout: float = 10.0) -> None:
        instances = self._groups.pop(group, [])
        for inst in instances:
            inst.stopping = True
            if inst.proc is not None and inst.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    inst.proc.send_signal(signal.SIGTERM)
        for inst in instances:
            if inst.proc is not None and inst.proc.returncode is None:
                try:
                    await asyncio.wait_for(inst.proc.wait(), timeout)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(inst.proc.pid, signal.SIGKILL)
                    await inst.proc.wait()
            if inst.task is not None:
                inst.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await inst.task

    async def serving(self, group: str) -> list[int]:
        """Indexes of the instances whose process is running and whose every port accepts
        connections now. (The process first: right after a service restart, the ports may
        still be those of a stale process left by the previous service, about to be stopped.)"""
        out = []
        for n, inst in enumerate(self._groups.get(group, [])):
            proc = inst.proc
            if proc is None or proc.returncode is not None:
                continue
            ports = inst.spec.probe_ports
            if ports and all([await port_accepts(inst.spec.probe_host, p) for p in ports]):
                out.append(n)
        return out

    async def wait_serving(self, group: str, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if group not in self._groups:
                return False
            if await self.serving(group):
                return True
            await asyncio.sleep(0.1)
        return False

    async def close(self) -> None:
        for group in list(self._groups):
            await self.stop(group)
