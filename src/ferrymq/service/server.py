"""``ferrymq service``: wire the state store, key store, supervisor and API together and run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from ferrymq.http.mq_api import create_app
from ferrymq.http.sigv4 import SigV4Verifier
from ferrymq.service.config import ServiceConfig
from ferrymq.service.crypto import SecretBox
from ferrymq.service.db import ServiceDB
from ferrymq.service.keys import KeyStore
from ferrymq.service.manager import BrokerService
from ferrymq.service.supervisor import Supervisor

log = logging.getLogger("ferrymq.service")


@contextlib.asynccontextmanager
async def running_service(cfg: ServiceConfig) -> AsyncIterator[BrokerService]:
    """The service with its API listening on ``cfg.bind:cfg.port`` until the block ends."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    db = ServiceDB(cfg.data_dir)
    box = SecretBox.for_data_dir(cfg.data_dir)
    keys = KeyStore(db, box)
    service = BrokerService(cfg, db, box, Supervisor())
    verifier = SigV4Verifier(keys.secret_for, cfg.region)
    app = create_app(service, verifier, cfg.max_body_bytes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, cfg.bind, cfg.port)
    await site.start()
    await service.start()
    try:
        yield service
    finally:
        await runner.cleanup()
        await service.close()
        db.close()


async def _serve(cfg: ServiceConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_service(cfg):
        print(f"ferrymq service listening http://{cfg.bind}:{cfg.port} region {cfg.region}", flush=True)
        await stop.wait()


def run_service(cfg: ServiceConfig) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(cfg))
    except OSError as exc:
        print(f"ferrymq service: {exc}", flush=True)
        return 1
    return 0
