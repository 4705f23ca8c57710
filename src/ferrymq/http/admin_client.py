"""``ferrymq dlq list|browse|redrive|purge``: dead-letter queue work through the admin API
of a running broker (the console port), with urllib only.

    ferrymq dlq list    --url http://127.0.0.1:8161 --user admin:secret
    ferrymq dlq browse  --queue ActiveMQ.DLQ --selector "JMSPriority > 4" --user admin:secret
    ferrymq dlq redrive --message-id ID:... --message-id ID:... --user admin:secret
    ferrymq dlq purge   --queue DLQ.orders --user admin:secret

Exit status: 0 done, 1 the broker refused or could not be reached, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8161"
DEFAULT_DLQ = "ActiveMQ.DLQ"


class ClientError(Exception):
    pass


def is_dlq(name: str) -> bool:
    """ActiveMQ's shared DLQ and the individual strategy's default names."""
    return name == DEFAULT_DLQ or name.startswith("DLQ.") or name.endswith(".DLQ")


class AdminClient:
    def __init__(
        self, url: str, user: str, password: str, *, insecure: bool = False, timeout: float = 30.0
    ) -> None:
        self.url = url.rstrip("/")
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.timeout = timeout
        self.context: ssl.SSLContext | None = None
        if insecure:
            self.context = ssl.create_default_context()
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, query: dict[str, str] | None = None
    ) -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", self.auth)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                detail = json.loads(e.read()).get("message", "")
            except (ValueError, AttributeError):
                detail = ""
            raise ClientError(f"{method} {path}: HTTP {e.code} {detail or e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ClientError(f"cannot reach {self.url}: {reason}") from None

    @staticmethod
    def qpath(queue: str) -> str:
        return "/api/queues/" + urllib.parse.quote(queue, safe="")


def register(sub: Any) -> None:
    """Add the ``dlq`` command group to the ``ferrymq`` parser's subcommands."""
    d = sub.add_parser("dlq", help="inspect and redrive dead-letter queues through the admin API")
    dsub = d.add_subparsers(dest="dlq_command", required=True)
    for name, text in (
        ("list", "list dead-letter queues with their sizes"),
        ("browse", "show messages in a dead-letter queue"),
        ("redrive", "send messages back to their original destination"),
        ("purge", "remove every message from a dead-letter queue"),
    ):
        x = dsub.add_parser(name, help=text)
        x.add_argument("--url", default=DEFAULT_URL, help=f"broker console URL (default {DEFAULT_URL})")
        x.add_argument("--user", required=True, metavar="NAME:PASSWORD", help="a console or admin user")
        x.add_argument("--insecure", action="store_true", help="do not verify the https certificate")
        x.add_argument("--json", action="store_true", help="print the API's JSON answer")
        if name != "list":
            x.add_argument(
                "--queue", default=DEFAULT_DLQ, help=f"the dead-letter queue (default {DEFAULT_DLQ})"
            )
        if name in ("browse", "redrive"):
            x.add_argument("--selector", help="SQL-92 message selector")
        if name == "browse":
            x.add_argument("--limit", type=int, default=100, help="at most this many messages (1-1000)")
        if name == "redrive":
            x.add_argument(
                "--message-id",
                action="append",
                default=[],
                dest="message_ids",
                metavar="ID",
                help="only this message (repeatable)",
            )
            x.add_argument(
                "--target", help="move to this queue instead of each message's original destination"
            )
            x.add_argument("--all", action="store_true", help="redrive every message (no selector, no ids)")
        if name == "purge":
            x.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    d.set_defaults(func=cmd_dlq)


def cmd_dlq(args: argparse.Namespace) -> int:
    user, sep, password = args.user.partition(":")
    if not sep or not user:
        print("ferrymq dlq: --user must be NAME:PASSWORD", file=sys.stderr)
        return 2
    client = AdminClient(args.url, user, password, insecure=args.insecure)
    try:
        return _run(client, args)
    except ClientError as e:
        print(f"ferrymq dlq: {e}", file=sys.stderr)
        return 1


def _run(client: AdminClient, args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.dlq_command == "list":
        queues = [q for q in client.call("GET", "/api/queues") if is_dlq(q["name"])]
        if args.json:
            print(json.dumps(queues), file=out)
        else:
            for q in queues:
                print(f"{q['name']}\t{q['size']} message(s)\t{q['consumers']} consumer(s)", file=out)
            if not queues:
                print("no dead-letter queues", file=out)
        return 0
    path = client.qpath(args.queue)
    if args.dlq_command == "browse":
        query = {"limit": str(args.limit)}
        if args.selector:
            query["selector"] = args.selector
        res = client.call("GET", path + "/messages", query=query)
        if args.json:
            print(json.dumps(res), file=out)
            return 0
        for m in res["messages"]:
            props = m["properties"]
            preview = m["body"].replace("\n", "\\n")
            if len(preview) > 80:
                preview = preview[:77] + "..."
            print(
                f"{m['id']}\t{props.get('originalDestination', '-')}\t"
                f"{props.get('dlqDeliveryFailureCause', '-')}\t{preview}",
                file=out,
            )
        print(f"{res['count']} message(s) in {res['queue']}", file=out)
        return 0
    if args.dlq_command == "redrive":
        body: dict[str, Any] = {}
        if args.selector:
            body["selector"] = args.selector
        if args.message_ids:
            body["messageIds"] = list(args.message_ids)
        if args.target:
            body["target"] = args.target
        if not args.selector and not args.message_ids and not args.all:
            print("ferrymq dlq redrive: give --selector, --message-id or --all", file=sys.stderr)
            return 2
        res = client.call("POST", path + "/move", body)
        if args.json:
            print(json.dumps(res), file=out)
        else:
            where = res["target"] or "their original destinations"
            print(f"redrove {res['moved']} message(s) from {res['queue']} to {where}", file=out)
        return 0
    # purge
    if not args.yes:
        if not sys.stdin.isatty():
            print("ferrymq dlq purge: add --yes to purge without a terminal", file=sys.stderr)
            return 2
        answer = input(f"remove every message from {args.queue}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing purged", file=out)
            return 0
    res = client.call("POST", path + "/purge")
    if args.json:
        print(json.dumps(res), file=out)
    else:
        print(f"purged {res['purged']} message(s) from {res['queue']}", file=out)
    return 0
