"""The HTTP API of the real-time path (`audiences serve`; docs/realtime.md, "HTTP API").

- ``POST /v1/events``: a batch of tracker events onto the event stream, whole or not at all,
  idempotent on ``event_id``.
- ``GET /v1/profiles/{id}/segments``: the segments of an anonymous_id or user_id.
- ``GET /healthz``: Redis, the batch cache and the evaluator's heartbeat (no key needed).
- ``GET /audiences.js``, ``GET /demo``: the browser snippet and a page that uses it.

Every call under ``/v1`` needs ``Authorization: Bearer <key>`` (401 otherwise); publishable
keys only from their origin (403), every key at most ``api_rate_limit`` requests per second
(429). A lookup is one round trip (one script, over the process's pipelined
:class:`~audiences.realtime.script_channel.ScriptChannel`), answered by :class:`LookupRoute`
ahead of FastAPI (docs/realtime.md, "Performance"); a batch of events is two on an asyncio
Redis client (the rate counter, then one script); ``/healthz`` runs on the thread pool. A
Redis failure is a 503 and the next request reconnects.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import orjson
import redis
import redis.asyncio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audiences.realtime.auth import Caller, KeyKind, KeyRing, RateLimited, RateLimiter
from audiences.realtime.events import (
    EventVocabulary,
    InvalidBatchError,
    load_vocabulary,
    validate_batch,
)
from audiences.realtime.keys import EVALUATOR_GROUP, RedisKeys
from audiences.realtime.lookup import (
    CacheUnavailable,
    SegmentLookup,
    UnknownProfile,
    format_utc,
    parse_utc,
)
from audiences.realtime.script_channel import channel_for
from audiences.realtime.settings import RealtimeSettings, normalize_origin
from audiences.realtime.stream import AsyncEventPublisher, RedisEventStream

log = logging.getLogger("audiences.realtime.api")

STATIC_DIR = Path(__file__).resolve().parent / "static"
REDIS_RETRY_AFTER = 5
CORS_MAX_AGE = 600


class ApiError(Exception):
    """An answer other than success: status, a machine-readable code, a message a person can
    act on, and optionally the event index and field at fault."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        index: int | None = None,
        field: str | None = None,
        retry_after: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.index = index
        self.field = field
        self.retry_after = retry_after
        self.details = details

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.index is not None:
            body["index"] = self.index
        if self.details:
            body["errors"] = self.details
        headers = {"Cache-Control": "no-store"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="audiences"'
        return JSONResponse(body, status_code=self.status, headers=headers)


def connect_redis(settings: RealtimeSettings) -> redis.Redis:
    """A client that fails fast (one immediate retry, which reconnects after a Redis
    restart) so a Redis outage is a prompt 503, not a hung request."""
    return redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        decode_responses=True,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        retry=Retry(NoBackoff(), 1),
    )


def connect_async_redis(settings: RealtimeSettings) -> redis.asyncio.Redis:
    """The asyncio client of the lookups, failing as fast as :func:`connect_redis`."""
    return redis.asyncio.Redis.from_url(
        settings.redis_url.get_secret_value(),
        decode_responses=True,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        retry=AsyncRetry(NoBackoff(), 1),
    )


def _async_twin(client: redis.Redis) -> redis.asyncio.Redis:
    """An asyncio client to the same server, database and credentials as ``client``."""
    given = client.connection_pool.connection_kwargs
    where: dict[str, Any] = (
        {"unix_socket_path": given["path"]}
        if "path" in given
        else {"host": given.get("host", "127.0.0.1"), "port": given.get("port", 6379)}
    )
    return redis.asyncio.Redis(
        **where,
        db=given.get("db", 0),
        username=given.get("username"),
        password=given.get("password"),
        decode_responses=True,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        retry=AsyncRetry(NoBackoff(), 1),
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Services:
    settings: RealtimeSettings
    client: redis.Redis
    keys: RedisKeys
    keyring: KeyRing
    limiter: RateLimiter
    publisher: AsyncEventPublisher
    stream: RedisEventStream
    lookup: SegmentLookup
    vocabulary: EventVocabulary
    clock: Callable[[], datetime]


def create_app(
    settings: RealtimeSettings,
    redis_client: redis.Redis | None = None,
    clock: Callable[[], datetime] | None = None,
    vocabulary: EventVocabulary | None = None,
) -> ASGIApp:
    """The app: FastAPI, with the lookup route served ahead of it by :class:`LookupRoute`.
    ``redis_client`` (decode_responses=True) and ``clock`` (aware UTC datetimes) default to
    a client of ``settings.redis_url`` and the system clock; the /v1 calls use an asyncio
    client of the same server (the lookups a pipelined channel to it), closed when the app
    stops."""
    client = redis_client if redis_client is not None else connect_redis(settings)
    if not client.connection_pool.connection_kwargs.get("decode_responses"):
        raise ValueError("create_app needs a Redis client made with decode_responses=True")
    async_client = (
        connect_async_redis(settings) if redis_client is None else _async_twin(redis_client)
    )
    keys = RedisKeys(settings.redis_prefix)
    # the lookups' one script over one pipelined connection (redis-py for a TLS Redis)
    channel = channel_for(async_client)
    services = _Services(
        settings=settings,
        client=client,
        keys=keys,
        keyring=KeyRing(settings),
        limiter=RateLimiter(async_client, keys, settings.api_rate_limit),
        publisher=AsyncEventPublisher(async_client, keys, dedup_ttl_seconds=settings.dedup_ttl),
        stream=RedisEventStream(client, keys, dedup_ttl_seconds=settings.dedup_ttl),
        lookup=SegmentLookup(
            channel or async_client, keys, timedelta(seconds=settings.stale_after)
        ),
        vocabulary=vocabulary or load_vocabulary(settings.project_dir),
        clock=clock or _utcnow,
    )
    if not len(services.keyring):
        log.warning(
            "no API keys configured (AUDIENCES_SERVER_KEYS, AUDIENCES_PUBLISHABLE_KEYS): "
            "every /v1 call will answer 401"
        )
    log.info(
        "real-time API: %d server key(s), %d publishable key(s) for %s; Redis %s, prefix %r",
        len(settings.server_keys),
        len(settings.publishable_keys),
        ", ".join(sorted(settings.allowed_origins)) or "no origin",
        settings.redis_url_redacted,
        settings.redis_prefix,
    )
    snippet = (STATIC_DIR / "audiences.js").read_bytes()
    demo_template = (STATIC_DIR / "demo.html").read_text()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if channel is not None:
            await channel.aclose()
        await async_client.aclose()

    app = FastAPI(
        title="Audiences real-time API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_middleware(CorsMiddleware, origins=services.keyring.origins)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> Response:
        return exc.response()

    @app.post("/v1/events", status_code=202)
    async def post_events(request: Request) -> JSONResponse:
        caller = _authorize(
            services,
            request.headers.get("authorization"),
            request.headers.get("origin"),
            lambda: str(request.base_url),
        )
        try:
            await services.limiter.enforce(caller, services.clock())
        except RateLimited:
            raise _rate_limited(services) from None
        except redis.RedisError:
            raise _redis_unavailable(services) from None
        body = await _read_body(request, services.settings.max_body_bytes)
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            # RecursionError: nesting deeper than the parser's stack
            where = (
                f" at line {exc.lineno} column {exc.colno}"
                if isinstance(exc, json.JSONDecodeError)
                else ""
            )
            raise ApiError(
                400, "malformed_json", f"the body is not valid JSON{where}", field="body"
            ) from None
        events = payload.get("events") if isinstance(payload, dict) else None
        limit = services.settings.max_events_per_batch
        if isinstance(events, list) and len(events) > limit:
            raise ApiError(
                413,
                "too_many_events",
                f"{len(events)} events in one batch; at most {limit} "
                "(AUDIENCES_MAX_EVENTS_PER_BATCH): split the batch",
                field="events",
            )
        try:
            accepted = validate_batch(
                payload,
                vocabulary=services.vocabulary,
                now=services.clock(),
                max_future_seconds=services.settings.max_future_seconds,
            )
        except InvalidBatchError as exc:
            where = f"event {exc.index}: " if exc.index is not None else ""
            raise ApiError(
                400,
                "invalid_event" if exc.index is not None else "invalid_body",
                f"{where}field '{exc.field}' {exc.message}; nothing in this batch was accepted",
                index=exc.index,
                field=exc.field,
                details=[
                    {"index": e.index, "field": e.field, "message": e.message}
                    for e in exc.errors[:50]
                ],
            ) from None
        try:
            new = await services.publisher.publish(accepted)
        except redis.RedisError:
            raise _redis_unavailable(services) from None
        return JSONResponse(
            {"accepted": new, "duplicates": len(accepted) - new},
            status_code=202,
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/v1/profiles/{profile_id}/segments")
    async def get_segments(profile_id: str, request: Request) -> Response:
        # reached only for what LookupRoute leaves to FastAPI (an app mounted under a
        # root_path); the answer is the same
        body = await _segments_body(
            services,
            profile_id,
            request.headers.get("authorization"),
            request.headers.get("origin"),
            lambda: str(request.base_url),
        )
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        report = await run_in_threadpool(_health, services)
        healthy = report["redis"] == "ok" and report["cache"] == "fresh"
        return JSONResponse(
            report, status_code=200 if healthy else 503, headers={"Cache-Control": "no-store"}
        )

    @app.get("/audiences.js")
    async def audiences_js() -> Response:
        return Response(
            snippet,
            media_type="application/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @app.get("/demo")
    async def demo(request: Request) -> Response:
        own = normalize_origin(str(request.base_url))
        key = next(
            (p.key.get_secret_value() for p in settings.publishable_keys if p.origin == own),
            "",
        )
        page = demo_template.replace("__AUDIENCES_KEY__", html.escape(key, quote=True))
        page = page.replace("__AUDIENCES_ORIGIN__", html.escape(own))
        return Response(page, media_type="text/html; charset=utf-8")

    return LookupRoute(app, services)


class LookupRoute:
    """``GET /v1/profiles/{id}/segments``, the one route a web page calls on every view,
    answered as plain ASGI ahead of FastAPI (its routing, dependency solving, middleware
    stack and response classes cost several times the lookup itself; decision 0016).
    Every other request, and a lookup under a ``root_path``, goes to ``app``. The answers
    are FastAPI's: the same bodies, statuses and headers, CORS included."""

    def __init__(self, app: ASGIApp, services: _Services):
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path: str = scope["path"]
            if path.startswith(_LOOKUP_PREFIX) and path.endswith(_LOOKUP_SUFFIX):
                profile_id = path[len(_LOOKUP_PREFIX) : -len(_LOOKUP_SUFFIX)]
                if profile_id and "/" not in profile_id:
                    await self._answer(scope, send, profile_id)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send, profile_id: str) -> None:
        authorization = origin = None
        for name, value in scope["headers"]:  # names arrive lower-cased; the first one counts
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"origin" and origin is None:
                origin = value.decode("latin-1")
        cors = _cors_headers(origin, self.services.keyring.origins)
        try:
            body = await _segments_body(
                self.services,
                profile_id,
                authorization,
                origin,
                lambda: str(Request(scope).base_url),
            )
        except ApiError as exc:
            error = exc.response()
            status, body, headers = error.status_code, bytes(error.body), error.raw_headers
        else:
            status = 200
            headers = [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
                (b"cache-control", b"no-store"),
            ]
        await send({"type": "http.response.start", "status": status, "headers": headers + cors})
        await send({"type": "http.response.body", "body": body})


_LOOKUP_PREFIX = "/v1/profiles/"
_LOOKUP_SUFFIX = "/segments"


class CorsMiddleware:
    """CORS for the publishable keys' origins (plain ASGI, no per-request task): a request
    from such an origin gets ``Access-Control-Allow-Origin`` naming that exact origin (never
    ``*``); a preflight ``OPTIONS`` under ``/v1/`` is answered here, 204 for such an origin
    and 403 without CORS headers for any other."""

    def __init__(self, app: ASGIApp, origins: frozenset[str]):
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")
        allowed = _allowed_origin(origin, self.origins)

        def decorate(headers: MutableHeaders) -> None:
            if allowed is not None and origin is not None:
                headers["Access-Control-Allow-Origin"] = origin
                headers["Access-Control-Expose-Headers"] = "Retry-After"
            headers.add_vary_header("Origin")  # as _cors_headers says for LookupRoute

        if scope["method"] == "OPTIONS" and scope["path"].startswith("/v1/"):
            if allowed is None:
                response: Response = JSONResponse(
                    {"error": "origin_not_allowed", "message": "this origin has no key"},
                    status_code=403,
                )
            else:
                response = Response(status_code=204)
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
                response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE)
            decorate(response.headers)
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                decorate(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_cors)


# --- request steps -------------------------------------------------------------------------


def _allowed_origin(origin: str | None, allowed: frozenset[str]) -> str | None:
    if not origin:
        return None
    normalized = _normalized_origin(origin)
    return normalized if normalized in allowed else None


def _normalized_origin(origin: str) -> str:
    """The origin as :func:`normalize_origin` spells it, or "" when it is malformed. Cached,
    as a site's visitors send the same few origins on every request; only values of a
    sensible length, so that the cache's memory stays small whatever clients send."""
    if len(origin) > _ORIGIN_CACHE_MAX_LENGTH:
        return _normalize_or_blank(origin)
    return _cached_origin(origin)


def _normalize_or_blank(origin: str) -> str:
    try:
        return normalize_origin(origin)
    except ValueError:
        return ""


_ORIGIN_CACHE_MAX_LENGTH = 256
_cached_origin = lru_cache(maxsize=1024)(_normalize_or_blank)


def _cors_headers(origin: str | None, allowed: frozenset[str]) -> list[tuple[bytes, bytes]]:
    """The CORS headers :class:`CorsMiddleware` adds to an answer without a ``Vary`` of its
    own, as raw ASGI headers (for :class:`LookupRoute`)."""
    if origin and _allowed_origin(origin, allowed) is not None:
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-expose-headers", b"Retry-After"),
            (b"vary", b"Origin"),
        ]
    return [(b"vary", b"Origin")]


def _authorize(
    services: _Services,
    authorization: str | None,
    origin: str | None,
    own_origin: Callable[[], str],
) -> Caller:
    """The caller of a request, from its ``Authorization`` and ``Origin`` headers;
    ``own_origin`` gives this server's base URL (called only for a publishable key sent
    without an ``Origin``)."""
    caller = services.keyring.authenticate(authorization)
    if caller is None:
        raise ApiError(
            401,
            "unauthorized",
            "a valid API key is required: send 'Authorization: Bearer <key>' with a key "
            "from AUDIENCES_SERVER_KEYS or AUDIENCES_PUBLISHABLE_KEYS",
        )
    # browsers send no Origin on a same-origin GET: then the page is this server's own
    if (
        caller.kind is KeyKind.PUBLISHABLE
        and _normalized_origin(origin or own_origin()) not in caller.origins
    ):
        raise ApiError(
            403,
            "origin_not_allowed",
            "this publishable key is only valid on the pages of its own origin",
        )
    return caller


async def _segments_body(
    services: _Services,
    profile_id: str,
    authorization: str | None,
    origin: str | None,
    own_origin: Callable[[], str],
) -> bytes:
    """The JSON body of a lookup's 200, or the ApiError to answer instead."""
    caller = _authorize(services, authorization, origin, own_origin)
    now = services.clock()
    check = services.limiter.check(caller, now)
    try:
        found = await services.lookup.lookup(profile_id, now, check)
    except RateLimited:
        raise _rate_limited(services) from None
    except redis.RedisError:
        raise _redis_unavailable(services) from None
    except UnknownProfile:
        raise ApiError(
            404, "unknown_profile", "no person is known by this id", field="id"
        ) from None
    except CacheUnavailable as exc:
        raise ApiError(
            503, f"cache_{exc.reason}", exc.message, retry_after=exc.retry_after
        ) from None
    updated_at = _format_utc(found.updated_at)
    if caller.kind is KeyKind.SERVER:
        return orjson.dumps(
            {"person_id": found.person_id, "segments": found.segments, "updated_at": updated_at}
        )
    return orjson.dumps({"segments": found.segments, "updated_at": updated_at})


#: most answers carry the batch load's time: formatted once per load
_format_utc = lru_cache(maxsize=1024)(format_utc)


def _rate_limited(services: _Services) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"more than {services.settings.api_rate_limit} requests per second with this key "
        "(AUDIENCES_API_RATE_LIMIT); retry after a second",
        retry_after=1,
    )


def _redis_unavailable(services: _Services) -> ApiError:
    log.warning("Redis at %s unavailable; answering 503", services.settings.redis_url_redacted)
    return ApiError(
        503,
        "redis_unavailable",
        "the segment cache (Redis) is unreachable; retry shortly",
        retry_after=REDIS_RETRY_AFTER,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    too_big = ApiError(
        413,
        "body_too_large",
        f"the body is larger than {limit} bytes (AUDIENCES_MAX_BODY_BYTES): split the batch",
        field="body",
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "bad_content_length", "Content-Length is not a number")
        if int(declared) > limit:
            raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


def _health(services: _Services) -> dict[str, Any]:
    report: dict[str, Any] = {
        "redis": "ok",
        "cache": "unknown",
        "cache_loaded_at": None,
        "cache_as_of": None,
        "evaluator_heartbeat": None,
        "evaluator_lag": None,
    }
    try:
        client, keys = services.client, services.keys
        client.ping()
        meta = cast(dict[str, str], client.hgetall(keys.batch_meta))
        status = services.lookup.cache_status(meta or {}, services.clock())
        report["cache"] = status.state
        report["cache_loaded_at"] = format_utc(status.loaded_at) if status.loaded_at else None
        report["cache_as_of"] = status.as_of
        heartbeat = parse_utc(cast(str | None, client.get(keys.heartbeat)))
        report["evaluator_heartbeat"] = format_utc(heartbeat) if heartbeat else None
        if client.exists(keys.events):
            report["evaluator_lag"] = services.stream.lag(EVALUATOR_GROUP)
    except redis.RedisError as exc:
        log.warning(
            "health check: Redis at %s unavailable (%s)",
            services.settings.redis_url_redacted,
            type(exc).__name__,
        )
        report["redis"] = "unreachable"
    return report
