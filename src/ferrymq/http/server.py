"""The broker's HTTP side (console port, 8161 http / 8162 https): the admin JSON API, the
Prometheus ``/metrics`` endpoint and the static web console, on one aiohttp application.

Authentication is HTTP Basic, checked by the broker's Authenticator (its Completion is
bridged to an asyncio future). Users in the ``admins`` group, or with console access,
may use the API; anyone else gets 403. The console's static files carry no data and are
served without credentials; the page asks for a user and sends it with each API call.

Every error leaves as JSON ``{"error": <code>, "message": <text>}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from ferrymq.core import Authenticator, Broker, Completion, CoreError, Credentials, Principal

log = logging.getLogger("ferrymq.http")

CONSOLE_DIR = Path(__file__).resolve().parent / "console"
REALM = "ferrymq"
#: request header the console sends: its 401s then carry a challenge browsers do not act on,
#: so that the page shows its own login form instead of the browser's dialog
CONSOLE_HEADER = "X-Ferrymq-Console"

PRINCIPAL_KEY: web.RequestKey[Principal] = web.RequestKey("principal", Principal)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class HttpContext:
    """What the handlers need; stored on the aiohttp application."""

    broker: Broker
    authenticator: Authenticator
    can_use_console: Callable[[Principal], bool]
    registry: CollectorRegistry | None = None
    metrics_public: bool = False
    started_at: float = field(default_factory=time.time)
    info: Callable[[], dict[str, Any]] | None = None
    #: CIDR allow rules of this listener (security groups); empty: everyone
    allow: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)


CTX: web.AppKey[HttpContext] = web.AppKey("ferrymq", HttpContext)


def json_error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status, headers=headers)


class ApiError(Exception):
    """A 4xx/5xx answer with a JSON body naming the problem."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


_CONDITION_STATUS = {
    "not-found": (404, "not_found"),
    "unauthorized": (403, "forbidden"),
    "resource-limit": (429, "resource_limit"),
    "invalid": (400, "bad_request"),
    "client-id-in-use": (409, "conflict"),
    "illegal-state": (409, "conflict"),
    "internal": (500, "internal"),
}


def completion_future(c: Completion) -> asyncio.Future[Any]:
    """An asyncio future settled by ``c`` (on the loop thread, where completions resolve)."""
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(c: Completion) -> None:
        if fut.done():
            return
        if c.ok:
            fut.set_result(c.result)
        else:
            fut.set_exception(c.error or RuntimeError("failed"))

    c.add_callback(done)
    return fut


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user:
        return None
    return user, password


def _unauthorized(request: web.Request, message: str) -> web.Response:
    scheme = "FerrymqBasic" if request.headers.get(CONSOLE_HEADER) else "Basic"
    return json_error(
        401,
        "unauthorized",
        message,
        headers={"WWW-Authenticate": f'{scheme} realm="{REALM}", charset="UTF-8"'},
    )


def _needs_auth(request: web.Request, ctx: HttpContext) -> bool:
    path = request.path
    if path.startswith("/api/"):
        return True
    if path == "/metrics":
        return not ctx.metrics_public
    return False


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return json_error(e.status, e.error, e.message)
    except CoreError as e:
        status, code = _CONDITION_STATUS.get(str(e.condition), (500, "internal"))
        return json_error(status, code, e.message)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = (e.reason or "error").lower().replace(" ", "_")
        return json_error(
            e.status,
            code,
            e.text
            if e.text and not e.text.startswith(str(e.status))
            else f"{e.reason}: {request.method} {request.path}",
        )
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("http: %s %s failed", request.method, request.path)
        return json_error(500, "internal", "internal error (see the broker log)")


@web.middleware
async def allow_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    nets = request.app[CTX].allow
    if nets:
        try:
            ip = ipaddress.ip_address(request.remote or "")
        except ValueError:
            ip = None
        if ip is None or not any(ip in net for net in nets):
            log.warning("http: refused %s (not in the allowed networks)", request.remote)
            return json_error(403, "forbidden", "your address is not in this listener's allowed networks")
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = request.app[CTX]
    if not _needs_auth(request, ctx):
        return await handler(request)
    header = request.headers.get("Authorization")
    if not header:
        return _unauthorized(request, "credentials required (HTTP Basic)")
    creds = _basic_credentials(header)
    if creds is None:
        return _unauthorized(request, "malformed Authorization header: expected Basic base64(user:password)")
    user, password = creds
    try:
        principal = await completion_future(
            ctx.authenticator.authenticate(
                Credentials(user, password, peer=request.remote or "", protocol="http")
            )
        )
    except CoreError:
        return _unauthorized(request, "bad username or password")
    if not isinstance(principal, Principal) or principal.anonymous:
        return _unauthorized(request, "bad username or password")
    if not (principal.admin or ctx.can_use_console(principal)):
        return json_error(403, "forbidden", f"user {principal.username} has no console access")
    request[PRINCIPAL_KEY] = principal
    return await handler(request)


async def metrics_handler(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    if ctx.registry is None:
        raise ApiError(404, "not_found", "metrics are not enabled")
    body = generate_latest(ctx.registry)
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


async def console_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(CONSOLE_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def build_app(
    broker: Broker,
    authenticator: Authenticator,
    *,
    can_use_console: Callable[[Principal], bool] | None = None,
    registry: CollectorRegistry | None = None,
    metrics_public: bool = False,
    started_at: float | None = None,
    info: Callable[[], dict[str, Any]] | None = None,
    allow: Sequence[str] = (),
) -> web.Application:
    """The aiohttp application: ``/api/...``, ``/metrics``, the console at ``/``."""
    from ferrymq.http.admin_api import add_routes

    app = web.Application(
        middlewares=[allow_middleware, error_middleware, auth_middleware], client_max_size=4 * 1024 * 1024
    )
    app[CTX] = HttpContext(
        broker=broker,
        authenticator=authenticator,
        can_use_console=can_use_console or (lambda p: p.admin),
        registry=registry,
        metrics_public=metrics_public,
        started_at=started_at if started_at is not None else time.time(),
        info=info,
        allow=[ipaddress.ip_network(c, strict=False) for c in allow],
    )
    add_routes(app)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/", console_index)
    app.router.add_static("/console/", CONSOLE_DIR, show_index=False)
    return app


class HttpServer:
    """One listener (http or https) serving ``app``."""

    def __init__(
        self, name: str, app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.name = name
        self.app = app
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._runner: web.AppRunner | None = None
        self.bound_port = port

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self.ssl_context, reuse_address=True
        )
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        server = getattr(site, "_server", None)
        socks = getattr(server, "sockets", None) or []
        if socks:
            self.bound_port = int(socks[0].getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
