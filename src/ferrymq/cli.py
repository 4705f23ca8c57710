"""The ``ferrymq`` console script: argument parsing only; the work is in app.py."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from pathlib import Path

from ferrymq import __version__


def _port_arg(text: str) -> tuple[str, int]:
    name, sep, port = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected PROTOCOL=PORT, got {text!r}")
    try:
        n = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number in {text!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range in {text!r}")
    return name.strip(), n


def _user_arg(text: str) -> tuple[str, str, list[str]]:
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError(f"expected NAME:PASSWORD[:group,group], got {text!r}")
    groups = [g for g in parts[2].split(",") if g] if len(parts) == 3 else []
    return parts[0], parts[1], groups


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ferrymq", description="ferrymq message broker service")
    p.add_argument("--version", action="version", version=f"ferrymq {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run one broker instance")
    s.add_argument("--config", help="broker YAML config file")
    s.add_argument("--data-dir", help="data directory (overrides the config's data_dir)")
    s.add_argument("--bind", help="listen address for every listener")
    s.add_argument("--port", action="append", type=_port_arg, default=[], metavar="PROTOCOL=PORT",
                   help="listener port; 0 disables it (repeatable)")
    s.add_argument("--user", action="append", type=_user_arg, default=[], metavar="NAME:PASSWORD[:GROUPS]",
                   help="add a broker user for this run (repeatable)")
    s.add_argument("--self-signed", action="store_true", help="enable TLS listeners with a self-signed certificate")
    s.add_argument("--allow-anonymous", action="store_true", help="accept connections without credentials")
    s.add_argument("--list-protocols", action="store_true", help="print the listener names this build supports")
    s.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser("check-config", help="validate a broker config file")
    c.add_argument("file")
    c.set_defaults(func=cmd_check_config)

    u = sub.add_parser("user", help="manage broker users in a data directory")
    usub = u.add_subparsers(dest="user_command", required=True)
    ua = usub.add_parser("add", help="add or replace a user")
    ua.add_argument("username")
    ua.add_argument("--password", help="the password (prompted for when omitted)")
    ua.add_argument("--groups", default="", help="comma-separated groups")
    ua.add_argument("--console-access", action="store_true")
    ur = usub.add_parser("remove", help="remove a user")
    ur.add_argument("username")
    ul = usub.add_parser("list", help="list users")
    ul.add_argument("--json", action="store_true")
    for x in (ua, ur, ul):
        x.add_argument("--data-dir", default="./ferrymq-data")
    u.set_defaults(func=cmd_user)

    try:
        from ferrymq.service import cli as service_cli
    except ImportError:  # pragma: no cover - the service package is optional in a partial tree
        service_cli = None  # type: ignore[assignment]
    if service_cli is not None and hasattr(service_cli, "register"):
        service_cli.register(sub)

    from ferrymq.http import admin_client

    admin_client.register(sub)  # ferrymq dlq list|browse|redrive|purge
    return p


def cmd_serve(args: argparse.Namespace) -> int:
    from ferrymq.app import BrokerApp, available_protocols, run_broker
    from ferrymq.config import ConfigError, load_config

    if args.list_protocols:
        for name in available_protocols():
            print(name)
        return 0
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(f"ferrymq: {e}", file=sys.stderr)
        return 2
    changes: dict[str, object] = {}
    if args.data_dir:
        changes["data_dir"] = args.data_dir
    if args.bind:
        changes["bind"] = args.bind
    if args.allow_anonymous:
        changes["allow_anonymous"] = True
    if args.log_level:
        changes["log_level"] = args.log_level
    if changes:
        cfg = cfg.model_copy(update=changes)
    from ferrymq.config import DEFAULT_PORTS

    known = set(available_protocols())
    ports: dict[str, int] = {}
    for name, port in args.port:
        if port == 0 and name in DEFAULT_PORTS:
            ports[name] = 0  # disabling a listener this build lacks is fine
            continue
        if name not in known:
            print(f"ferrymq: --port {name}={port}: unknown or unsupported protocol "
                  f"(supported: {', '.join(sorted(known))})", file=sys.stderr)
            return 2
        ports[name] = port
    logging.basicConfig(level=getattr(logging, cfg.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = BrokerApp(cfg, extra_users=list(args.user), port_overrides=ports, self_signed=args.self_signed)
    return run_broker(app)


def cmd_check_config(args: argparse.Namespace) -> int:
    from ferrymq.config import ConfigError, load_config

    try:
        cfg = load_config(args.file)
    except ConfigError as e:
        print(f"ferrymq: {e}", file=sys.stderr)
        return 2
    print(f"{args.file}: ok (broker {cfg.BrokerName}, {len(cfg.users)} users, {len(cfg.policies)} policies)")
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    from ferrymq.security.users import UserFile

    uf = UserFile(Path(args.data_dir) / "users.json")
    if args.user_command == "add":
        password = args.password
        if password is None:
            password = getpass.getpass(f"password for {args.username}: ")
        if len(password) < 1:
            print("ferrymq: the password must not be empty", file=sys.stderr)
            return 2
        try:
            uf.add(args.username, password, [g for g in args.groups.split(",") if g], args.console_access)
        except ValueError as e:
            print(f"ferrymq: {e}", file=sys.stderr)
            return 2
        print(f"user {args.username} saved in {uf.path} (takes effect when the broker restarts)")
        return 0
    if args.user_command == "remove":
        if not uf.remove(args.username):
            print(f"ferrymq: no user {args.username}", file=sys.stderr)
            return 1
        print(f"user {args.username} removed")
        return 0
    users = uf.load()
    if args.json:
        print(json.dumps([{"username": u.username, "groups": u.groups, "console_access": u.console_access}
                          for u in users.values()]))
    else:
        for u in users.values():
            print(f"{u.username}\tgroups={','.join(u.groups) or '-'}\tconsole={'yes' if u.console_access else 'no'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
