"""The store lease for active/standby pairs: an exclusive ``flock`` on a file beside the
SQLite database. The kernel drops the lock the moment its holder dies (even by SIGKILL),
so a standby polling for it takes over within one poll interval."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path


class FileLease:
    def __init__(self, path: str | os.PathLike[str], poll_interval: float = 0.2) -> None:
        self.path = Path(path)
        self.poll_interval = poll_interval
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    async def acquire(self) -> None:
        """Wait until this process holds the lease."""
        while not self.try_acquire():
            await asyncio.sleep(self.poll_interval)

    def holder_pid(self) -> int | None:
        try:
            text = self.path.read_text().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
