"""The admin JSON API under ``/api``: what the console and ``ferrymq dlq`` call.

Reads go to the core's BrokerAdmin on the event loop thread (the core is single threaded,
R2); mutations are logged on ``ferrymq.audit`` with the user. Every bad input is a 4xx with
``{"error": ..., "message": ...}``; an unknown queue is a 404.

    GET    /api/broker                        name, version, uptime, connections, totals
    GET    /api/queues                        every queue with its counters
    GET    /api/queues/{name}                 one queue
    GET    /api/queues/{name}/messages        browse: ?selector=SQL92&limit=N (1..1000, default 100)
    POST   /api/queues/{name}/purge           remove every waiting message
    DELETE /api/queues/{name}                 delete the queue and its messages
    POST   /api/queues/{name}/move            {"selector"?, "messageIds"?, "target"?}; no target:
                                              redrive each message to its originalDestination
    POST   /api/queues/{name}/send            {"body", "properties"?, "persistent"?, "priority"?,
                                              "timeToLive"?, "correlationId"?, "type"?}
    POST   /api/topics/{name}/send            the same for a topic
    GET    /api/topics                        every topic with its subscriptions' counters
    GET    /api/connections                   client connections
    GET    /api/subscriptions                 durable topic subscriptions
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from typing import Any

from aiohttp import web

from ferrymq import __version__
from ferrymq.core import (
    QUEUE,
    TEXT,
    TOPIC,
    DestinationName,
    DestinationView,
    Message,
    Principal,
    parse_uri,
    validate_path,
)
from ferrymq.http.server import CTX, PRINCIPAL_KEY, ApiError, completion_future

audit = logging.getLogger("ferrymq.audit")

DEFAULT_BROWSE_LIMIT = 100
MAX_BROWSE_LIMIT = 1000
PREVIEW_CHARS = 1024
MAX_MESSAGE_IDS = 10_000
_PROPERTY_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.\-]{0,255}$")
_INT64 = (-(2**63), 2**63 - 1)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


# ---------------------------------------------------------------------------- views
def destination_json(v: DestinationView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": v.name.path,
        "type": v.name.kind,
        "consumers": v.consumers,
        "inFlight": v.in_flight,
        "enqueued": v.enqueued,
        "dequeued": v.dequeued,
        "dispatched": v.dispatched,
        "expired": v.expired,
        "memoryBytes": v.memory_bytes,
    }
    if v.name.is_queue:
        out["size"] = v.size
        out["deadLettered"] = v.dead_lettered
    return out


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return str(v)


def message_json(m: Message) -> dict[str, Any]:
    headers: dict[str, Any] = {
        "destination": str(m.destination),
        "persistent": m.persistent,
        "priority": m.priority,
        "timestamp": m.timestamp,
        "expiration": m.expiration,
    }
    for key, value in (
        ("correlationId", m.correlation_id),
        ("type", m.type),
        ("groupId", m.group_id),
        ("contentType", m.content_type),
        ("userId", m.user_id),
    ):
        if value is not None:
            headers[key] = value
    if m.reply_to is not None:
        headers["replyTo"] = str(m.reply_to)
    if m.group_id is not None:
        headers["groupSeq"] = m.group_seq
    body = m.body
    encoding = "text"
    if isinstance(body, str):
        size = len(body.encode("utf-8", "replace"))
        text = body
    elif isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        size = len(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            cut = raw[: PREVIEW_CHARS * 3 // 4]
            text = base64.b64encode(cut).decode("ascii")
            encoding = "base64"
            return {
                "id": m.message_id,
                "headers": headers,
                "properties": _jsonable(m.properties),
                "bodyKind": m.body_kind,
                "bodySize": size,
                "bodyEncoding": encoding,
                "body": text,
                "bodyTruncated": len(cut) < size,
            }
    elif body is None:
        size, text = 0, ""
    else:
        text = json.dumps(_jsonable(body))
        size = len(text)
        encoding = "json"
    return {
        "id": m.message_id,
        "headers": headers,
        "properties": _jsonable(m.properties),
        "bodyKind": m.body_kind,
        "bodySize": size,
        "bodyEncoding": encoding,
        "body": text[:PREVIEW_CHARS],
        "bodyTruncated": len(text) > PREVIEW_CHARS,
    }


# ---------------------------------------------------------------------------- helpers
def _principal(request: web.Request) -> Principal:
    return request[PRINCIPAL_KEY]


def _audit(request: web.Request, action: str, destination: str, /, **detail: Any) -> None:
    extra = "".join(f" {k}={v!r}" for k, v in detail.items())
    audit.info(
        "admin action=%s destination=%s user=%s peer=%s%s",
        action,
        destination,
        _principal(request).username,
        request.remote,
        extra,
    )


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    why = validate_path(name)
    if why:
        raise bad_request(why)
    return name


def _queue_name(request: web.Request) -> DestinationName:
    """The queue named in the path, or 404."""
    name = _name(request)
    q = request.app[CTX].broker.queues.get(name)
    if q is None or q.deleted:
        raise not_found(f"no such queue: {name}")
    return q.name


async def _json_body(request: web.Request, allowed: set[str], *, required: bool = False) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        if required:
            raise bad_request("a JSON object body is required")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad_request(f"the body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise bad_request(f"unknown field(s): {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    return data


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    v = data.get(key)
    if v is not None and not isinstance(v, str):
        raise bad_request(f"{key} must be a string")
    return v


def _opt_int(data: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    v = data.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise bad_request(f"{key} must be an integer from {lo} to {hi}")
    return v


def _compile(request: web.Request, selector: str | None) -> None:
    if selector:
        request.app[CTX].broker.compile_selector(selector)  # InvalidSelector -> 400


# ---------------------------------------------------------------------------- handlers
async def get_broker(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    b = ctx.broker
    queues = b.admin.queues()
    topics = b.admin.topics()
    sub_queues = [x.queue for x in b.topic_trie.values()]
    out: dict[str, Any] = {
        "name": b.name,
        "version": __version__,
        "startedAt": ctx.started_at,
        "uptimeSeconds": round(max(0.0, time.time() - ctx.started_at), 3),
        "connections": len(b.connections),
        "totals": {
            "queues": len(queues),
            "topics": len(topics),
            "messages": sum(v.size + v.in_flight for v in queues)
            + sum(q.count + q.in_flight for q in sub_queues),
            "consumers": sum(v.consumers for v in queues) + sum(len(q.consumers) for q in sub_queues),
            "enqueued": sum(v.enqueued for v in queues) + sum(v.enqueued for v in topics),
            "dequeued": sum(v.dequeued for v in queues) + sum(v.dequeued for v in topics),
            "deadLettered": b.stats.messages_dead_lettered,
            "connectionsOpened": b.stats.connections_total,
            "durableSubscriptions": len(b.durables),
        },
    }
    if ctx.info is not None:
        out.update(ctx.info())
    return web.json_response(out)


async def list_queues(request: web.Request) -> web.Response:
    return web.json_response([destination_json(v) for v in request.app[CTX].broker.admin.queues()])


async def get_queue(request: web.Request) -> web.Response:
    name = _queue_name(request)
    for v in request.app[CTX].broker.admin.queues():
        if v.name == name:
            return web.json_response(destination_json(v))
    raise not_found(f"no such queue: {name.path}")


async def list_topics(request: web.Request) -> web.Response:
    return web.json_response([destination_json(v) for v in request.app[CTX].broker.admin.topics()])


async def list_connections(request: web.Request) -> web.Response:
    out = [
        {
            "id": c["id"],
            "clientId": c["client_id"],
            "protocol": c["protocol"],
            "remote": c["remote"],
            "user": c["user"],
            "subscriptions": c["subscriptions"],
            "connectedAt": c["connected_at"],
        }
        for c in request.app[CTX].broker.admin.connections()
    ]
    return web.json_response(out)


async def list_subscriptions(request: web.Request) -> web.Response:
    out = [
        {
            "clientId": d["client_id"],
            "name": d["name"],
            "destination": d["destination"],
            "selector": d["selector"],
            "active": d["active"],
            "pending": d["pending"],
            "inFlight": d["in_flight"],
        }
        for d in request.app[CTX].broker.admin.durable_subscriptions()
    ]
    return web.json_response(out)


async def browse(request: web.Request) -> web.Response:
    name = _queue_name(request)
    q = request.query
    unknown = sorted(set(q) - {"selector", "limit"})
    if unknown:
        raise bad_request(f"unknown query parameter(s): {', '.join(unknown)} (allowed: limit, selector)")
    limit = DEFAULT_BROWSE_LIMIT
    if "limit" in q:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise bad_request(f"limit must be an integer, got {q['limit']!r}") from None
        if not 1 <= limit <= MAX_BROWSE_LIMIT:
            raise bad_request(f"limit must be from 1 to {MAX_BROWSE_LIMIT}")
    selector = q.get("selector") or None
    _compile(request, selector)
    msgs = request.app[CTX].broker.admin.browse(name, selector, limit)
    return web.json_response(
        {"queue": name.path, "count": len(msgs), "limit": limit, "messages": [message_json(m) for m in msgs]}
    )


async def purge(request: web.Request) -> web.Response:
    name = _queue_name(request)
    n = request.app[CTX].broker.admin.purge(name)
    _audit(request, "purge", str(name), removed=n)
    return web.json_response({"queue": name.path, "purged": n})


async def delete_queue(request: web.Request) -> web.Response:
    name = _queue_name(request)
    request.app[CTX].broker.admin.delete_queue(name)
    _audit(request, "delete-queue", str(name))
    return web.json_response({"deleted": name.path})


async def move(request: web.Request) -> web.Response:
    name = _queue_name(request)
    data = await _json_body(request, {"selector", "messageIds", "target"})
    selector = _opt_str(data, "selector") or None
    _compile(request, selector)
    ids: set[str] | None = None
    raw_ids = data.get("messageIds")
    if raw_ids is not None:
        if not isinstance(raw_ids, list) or not all(isinstance(i, str) and i for i in raw_ids):
            raise bad_request("messageIds must be a list of non-empty strings")
        if len(raw_ids) > MAX_MESSAGE_IDS:
            raise bad_request(f"at most {MAX_MESSAGE_IDS} messageIds per call")
        if not raw_ids:
            raise bad_request("messageIds is empty: leave it out to move every message")
        ids = set(raw_ids)
    target: DestinationName | None = None
    raw_target = _opt_str(data, "target")
    if raw_target is not None:
        target = parse_uri(raw_target)
        why = validate_path(target.path)
        if why:
            raise bad_request(f"target: {why}")
        if target.kind not in (QUEUE, TOPIC):
            raise bad_request(
                "target must be a queue or a topic (queue://NAME, topic://NAME or a bare queue name)"
            )
        if target.is_wildcard:
            raise bad_request("target must not contain wildcards")
        if target == name:
            raise bad_request("target is the source queue")
    n = request.app[CTX].broker.admin.move(name, selector, ids, target)
    _audit(
        request,
        "move" if target else "redrive",
        str(name),
        moved=n,
        selector=selector,
        ids=len(ids) if ids is not None else None,
        target=str(target) if target else None,
    )
    return web.json_response({"queue": name.path, "moved": n, "target": str(target) if target else None})


_SEND_FIELDS = {"body", "properties", "persistent", "priority", "timeToLive", "correlationId", "type"}


async def _send(request: web.Request, kind: str) -> web.Response:
    path = _name(request)
    dest = DestinationName(kind, path)
    if dest.is_wildcard:
        raise bad_request(f"cannot send to a wildcard {kind}: {path}")
    data = await _json_body(request, _SEND_FIELDS, required=True)
    body = data.get("body", "")
    if not isinstance(body, str):
        raise bad_request("body must be a string")
    props = data.get("properties") or {}
    if not isinstance(props, dict):
        raise bad_request("properties must be a JSON object")
    for k, v in props.items():
        if not _PROPERTY_NAME.match(k):
            raise bad_request(f"property name {k!r} is not a valid identifier")
        if k.startswith("JMS"):
            raise bad_request(f"property name {k!r} is reserved (JMS...)")
        if v is None or not isinstance(v, bool | int | float | str):
            raise bad_request(f"property {k!r} must be a string, number or boolean")
        if isinstance(v, int) and not isinstance(v, bool) and not _INT64[0] <= v <= _INT64[1]:
            raise bad_request(f"property {k!r} does not fit in 64 bits")
    persistent = data.get("persistent", True)
    if not isinstance(persistent, bool):
        raise bad_request("persistent must be true or false")
    priority = _opt_int(data, "priority", 0, 9)
    ttl = _opt_int(data, "timeToLive", 0, 10 * 365 * 86400 * 1000)
    correlation = _opt_str(data, "correlationId")
    mtype = _opt_str(data, "type")
    principal = _principal(request)
    now = int(time.time() * 1000)
    msg = Message(
        dest,
        body,
        TEXT,
        properties=dict(props),
        persistent=persistent,
        priority=4 if priority is None else priority,
        expiration=now + ttl if ttl else 0,
        timestamp=now,
        correlation_id=correlation,
        type=mtype,
        user_id=principal.username,
        origin="http",
    )
    broker = request.app[CTX].broker
    done = broker.send(msg)
    _audit(request, "send", str(dest), message_id=msg.message_id, persistent=persistent)
    await completion_future(done)
    return web.json_response({"messageId": msg.message_id, "destination": str(dest)}, status=201)


async def send_queue(request: web.Request) -> web.Response:
    return await _send(request, QUEUE)


async def send_topic(request: web.Request) -> web.Response:
    return await _send(request, TOPIC)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/broker", get_broker)
    r.add_get("/api/queues", list_queues)
    r.add_get("/api/queues/{name}", get_queue)
    r.add_delete("/api/queues/{name}", delete_queue)
    r.add_get("/api/queues/{name}/messages", browse)
    r.add_post("/api/queues/{name}/purge", purge)
    r.add_post("/api/queues/{name}/move", move)
    r.add_post("/api/queues/{name}/send", send_queue)
    r.add_post("/api/topics/{name}/send", send_topic)
    r.add_get("/api/topics", list_topics)
    r.add_get("/api/connections", list_connections)
    r.add_get("/api/subscriptions", list_subscriptions)
