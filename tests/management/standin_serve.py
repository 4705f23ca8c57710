"""A stand-in for `ferrymq serve` used only while developing the supervisor: it accepts the
serve command line, opens the requested ports and holds them until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

PROTOCOLS = ["stomp", "mqtt", "amqp", "openwire", "ws", "http"]


async def main(args: argparse.Namespace) -> None:
    servers = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    for spec in args.port:
        proto, _, port = spec.partition("=")
        if proto not in PROTOCOLS:
            print(f"unknown protocol {proto}", file=sys.stderr)
            sys.exit(2)
        if int(port):
            servers.append(await asyncio.start_server(client, args.bind, int(port)))
            print(f"ferrymq listening {proto} {args.bind}:{port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--list-protocols", action="store_true")
    p.add_argument("--config")
    p.add_argument("--data-dir")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", action="append", default=[])
    p.add_argument("--user", action="append", default=[])
    a = p.parse_args()
    if a.list_protocols:
        print("\n".join(PROTOCOLS))
        sys.exit(0)
    asyncio.run(main(a))
