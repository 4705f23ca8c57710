"""Command-line entry points of the managed service: ``ferrymq service`` and ``ferrymq keys``.

``register(subparsers)`` adds both subcommands to the top-level parser; each parsed
namespace carries ``func(args) -> int``. ``main(argv)`` runs them stand-alone
(``python -m ferrymq.service.cli keys create --data-dir DIR --json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ferrymq.service.config import ServiceConfig, parse_port_range


def _open_keys(data_dir: Path) -> Any:
    from ferrymq.service.crypto import SecretBox
    from ferrymq.service.db import ServiceDB
    from ferrymq.service.keys import KeyStore

    return KeyStore(ServiceDB(data_dir), SecretBox.for_data_dir(data_dir))


def _keys_create(args: argparse.Namespace) -> int:
    key_id, secret = _open_keys(args.data_dir).create(args.description or "")
    if args.json:
        print(json.dumps({"accessKeyId": key_id, "secretAccessKey": secret}))
    else:
        print(f"AccessKeyId:     {key_id}")
        print(f"SecretAccessKey: {secret}")
        print("The secret is shown only now; store it safely.")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    keys = _open_keys(args.data_dir).list()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "accessKeyId": k.access_key_id,
                        "created": k.created,
                        "status": "Active" if k.enabled else "Inactive",
                        "description": k.description,
                    }
                    for k in keys
                ]
            )
        )
    else:
        for k in keys:
            print(
                f"{k.access_key_id}  {'Active  ' if k.enabled else 'Inactive'}  {k.created}  {k.description}"
            )
    return 0


def _keys_disable(args: argparse.Namespace) -> int:
    if not _open_keys(args.data_dir).disable(args.access_key_id):
        print(f"no such access key: {args.access_key_id}", file=sys.stderr)
        return 1
    return 0


def _keys_enable(args: argparse.Namespace) -> int:
    if not _open_keys(args.data_dir).enable(args.access_key_id):
        print(f"no such access key: {args.access_key_id}", file=sys.stderr)
        return 1
    return 0


def _keys_delete(args: argparse.Namespace) -> int:
    if not _open_keys(args.data_dir).delete(args.access_key_id):
        print(f"no such access key: {args.access_key_id}", file=sys.stderr)
        return 1
    return 0


def build_service_config(args: argparse.Namespace) -> ServiceConfig:
    cfg = ServiceConfig.load(args.config) if args.config else ServiceConfig()
    if args.data_dir is not None:
        cfg.data_dir = args.data_dir
    if args.bind is not None:
        cfg.bind = args.bind
    if args.port is not None:
        cfg.port = args.port
    if args.broker_ports is not None:
        cfg.broker_ports = parse_port_range(args.broker_ports)
    if args.region is not None:
        cfg.region = args.region
    if args.advertised_host is not None:
        cfg.advertised_host = args.advertised_host
    cfg.validate()
    return cfg


def _service(args: argparse.Namespace) -> int:
    from ferrymq.service.server import run_service

    try:
        cfg = build_service_config(args)
    except (OSError, ValueError) as exc:
        print(f"ferrymq service: {exc}", file=sys.stderr)
        return 2
    return run_service(cfg)


def register(subparsers: Any) -> None:
    """Add the ``service`` and ``keys`` subcommands (``func`` set on each)."""
    sp = subparsers.add_parser("service", help="run the Amazon MQ-compatible management API")
    sp.add_argument("--config", type=Path, help="service YAML file")
    sp.add_argument("--data-dir", type=Path, help="state, keys and broker data (default ./ferrymq-service)")
    sp.add_argument("--bind", help="address of the API listener (default 127.0.0.1)")
    sp.add_argument("--port", type=int, help="port of the API listener (default 8180)")
    sp.add_argument("--broker-ports", metavar="LOW-HIGH", help="ports given to broker listeners")
    sp.add_argument("--region", help="region requests must be signed for (default us-east-1)")
    sp.add_argument("--advertised-host", help="host name written into broker endpoints")
    sp.set_defaults(func=_service)

    kp = subparsers.add_parser("keys", help="manage access keys of the management API")
    ksub = kp.add_subparsers(dest="keys_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir", type=Path, default=Path("ferrymq-service"), help="the service data directory"
        )

    p = ksub.add_parser("create", help="issue a new access key (the secret is shown once)")
    common(p)
    p.add_argument("--description", default="")
    p.add_argument("--json", action="store_true", help='print {"accessKeyId": ..., "secretAccessKey": ...}')
    p.set_defaults(func=_keys_create)
    p = ksub.add_parser("list", help="list access keys (never their secrets)")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_keys_list)
    for name, fn, text in (
        ("disable", _keys_disable, "refuse requests signed with this key"),
        ("enable", _keys_enable, "accept requests signed with this key again"),
        ("delete", _keys_delete, "remove the key for good"),
    ):
        p = ksub.add_parser(name, help=text)
        common(p)
        p.add_argument("access_key_id")
        p.set_defaults(func=fn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferrymq")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
