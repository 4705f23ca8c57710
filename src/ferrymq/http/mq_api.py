"""The Amazon MQ management API on aiohttp: routes, SigV4, error shapes.

Routes and wire names follow botocore's service model for ``mq`` (API 2017-11-27,
rest-json). Every request is verified with SigV4 before anything else happens; then the
route is matched on the *raw* path (the tag routes carry a percent-encoded ARN), the
path parameters are percent-decoded, query parameters collected (``tagKeys`` repeats) and
the JSON body parsed. The operation itself is a coroutine on the backend named like the
operation in snake case (``create_broker(params)``), returning the response body or None.

Errors leave through one door: ``ApiError`` becomes the modeled status, a JSON body
``{"message": ..., "errorAttribute": ...}`` and ``x-amzn-ErrorType: <shape>`` so that
botocore raises ``client.exceptions.<Shape>``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from ferrymq.http.sigv4 import SigV4Error, SigV4Verifier

log = logging.getLogger("ferrymq.http.mq_api")

_STATUS = {
    "BadRequestException": 400,
    "UnauthorizedException": 401,
    "ForbiddenException": 403,
    "NotFoundException": 404,
    "ConflictException": 409,
    "InternalServerErrorException": 500,
}


class ApiError(Exception):
    """A modeled error: ``shape`` is one of the six error shapes of the ``mq`` model."""

    def __init__(self, shape: str, message: str, attribute: str | None = None) -> None:
        super().__init__(message)
        self.shape = shape
        self.status = _STATUS[shape]
        self.message = message
        self.attribute = attribute


def bad_request(message: str, attribute: str | None = None) -> ApiError:
    return ApiError("BadRequestException", message, attribute)


def not_found(message: str, attribute: str | None = None) -> ApiError:
    return ApiError("NotFoundException", message, attribute)


def conflict(message: str, attribute: str | None = None) -> ApiError:
    return ApiError("ConflictException", message, attribute)


# (method, path template, operation, success status)
ROUTES: list[tuple[str, str, str, int]] = [
    ("POST", "/v1/brokers", "CreateBroker", 200),
    ("GET", "/v1/brokers", "ListBrokers", 200),
    ("GET", "/v1/brokers/{broker-id}", "DescribeBroker", 200),
    ("PUT", "/v1/brokers/{broker-id}", "UpdateBroker", 200),
    ("DELETE", "/v1/brokers/{broker-id}", "DeleteBroker", 200),
    ("POST", "/v1/brokers/{broker-id}/reboot", "RebootBroker", 200),
    ("POST", "/v1/brokers/{broker-id}/promote", "Promote", 200),
    ("GET", "/v1/brokers/{broker-id}/shared-resources", "DescribeSharedResources", 200),
    ("GET", "/v1/brokers/{broker-id}/users", "ListUsers", 200),
    ("POST", "/v1/brokers/{broker-id}/users/{username}", "CreateUser", 200),
    ("GET", "/v1/brokers/{broker-id}/users/{username}", "DescribeUser", 200),
    ("PUT", "/v1/brokers/{broker-id}/users/{username}", "UpdateUser", 200),
    ("DELETE", "/v1/brokers/{broker-id}/users/{username}", "DeleteUser", 200),
    ("POST", "/v1/configurations", "CreateConfiguration", 200),
    ("GET", "/v1/configurations", "ListConfigurations", 200),
    ("GET", "/v1/configurations/{configuration-id}", "DescribeConfiguration", 200),
    ("PUT", "/v1/configurations/{configuration-id}", "UpdateConfiguration", 200),
    ("DELETE", "/v1/configurations/{configuration-id}", "DeleteConfiguration", 200),
    ("GET", "/v1/configurations/{configuration-id}/revisions", "ListConfigurationRevisions", 200),
    (
        "GET",
        "/v1/configurations/{configuration-id}/revisions/{configuration-revision}",
        "DescribeConfigurationRevision",
        200,
    ),
    ("POST", "/v1/tags/{resource-arn}", "CreateTags", 204),
    ("GET", "/v1/tags/{resource-arn}", "ListTags", 200),
    ("DELETE", "/v1/tags/{resource-arn}", "DeleteTags", 204),
    ("GET", "/v1/broker-engine-types", "DescribeBrokerEngineTypes", 200),
    ("GET", "/v1/broker-instance-options", "DescribeBrokerInstanceOptions", 200),
]
# query parameters that are lists on the wire (the key repeats)
_LIST_QUERY = {"tagKeys"}
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def operation_method(operation: str) -> str:
    return _SNAKE.sub("_", operation).lower()


class _Route:
    __slots__ = ("method", "parts", "operation", "status")

    def __init__(self, method: str, template: str, operation: str, status: int) -> None:
        self.method = method
        self.parts = template.strip("/").split("/")
        self.operation = operation
        self.status = status

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.parts):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.parts, segments, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                params[want[1:-1]] = unquote(got)
            elif want != got:
                return None
        return params


_ROUTES = [_Route(*r) for r in ROUTES]


class MqBackend(Protocol):
    """Implemented by the managed service: one coroutine per operation, in snake case,
    taking the merged parameters (path, query and body under their wire names)."""

    def __getattr__(self, name: str) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]: ...


def _error_response(
    status: int, shape: str, message: str, attribute: str | None, request_id: str
) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if attribute:
        body["errorAttribute"] = attribute
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        headers={"x-amzn-ErrorType": shape, "x-amzn-RequestId": request_id},
    )


def resolve(method: str, raw_path: str) -> tuple[_Route | None, dict[str, str], bool]:
    """(route, path params, path known under another method)."""
    path = raw_path.split("?", 1)[0]
    segments = path.strip("/").split("/")
    known = False
    for route in _ROUTES:
        params = route.match(segments)
        if params is None:
            continue
        if route.method == method:
            return route, params, True
        known = True
    return None, {}, known


def create_app(
    backend: Any, verifier: SigV4Verifier, max_body_bytes: int = 2 * 1024 * 1024
) -> web.Application:
    """An aiohttp application serving the API for ``backend``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        try:
            if request.content_length is not None and request.content_length > max_body_bytes:
                raise bad_request(f"Request body larger than {max_body_bytes} bytes")
            body = await request.content.read(max_body_bytes + 1)
            if len(body) > max_body_bytes:
                raise bad_request(f"Request body larger than {max_body_bytes} bytes")
            try:
                verifier.verify(request.method, request.raw_path, request.headers.items(), body)
            except SigV4Error as exc:
                return _error_response(exc.status, exc.shape, exc.message, None, request_id)
            route, params, known = resolve(request.method, request.raw_path)
            if route is None:
                if known:
                    raise bad_request(f"Method {request.method} is not allowed on {request.path}")
                raise not_found(f"No route for {request.method} {request.path}")
            merged: dict[str, Any] = {}
            if body:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    raise bad_request("The request body is not valid JSON") from None
                if not isinstance(parsed, dict):
                    raise bad_request("The request body must be a JSON object")
                merged.update(parsed)
            query = request.raw_path.partition("?")[2]
            for name, value in parse_qsl(query, keep_blank_values=True):
                if name in _LIST_QUERY:
                    merged.setdefault(name, []).append(value)
                else:
                    merged[name] = value
            merged.update(params)
            fn = getattr(backend, operation_method(route.operation), None)
            if fn is None:
                raise bad_request(f"ferrymq does not support {route.operation} yet", route.operation)
            result = await fn(merged)
            headers = {"x-amzn-RequestId": request_id}
            if route.status == 204:
                return web.Response(status=204, headers=headers)
            return web.Response(
                status=route.status,
                text=json.dumps(result or {}),
                content_type="application/json",
                headers=headers,
            )
        except ApiError as exc:
            return _error_response(exc.status, exc.shape, exc.message, exc.attribute, request_id)
        except Exception:
            log.exception("internal error in %s %s", request.method, request.path)
            return _error_response(500, "InternalServerErrorException", "Internal error", None, request_id)

    app = web.Application(client_max_size=max_body_bytes + 1)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
