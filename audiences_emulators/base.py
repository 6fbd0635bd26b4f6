"""A small stateful HTTP server base for destination emulators, with fault injection, on
werkzeug (its threaded WSGI server, its request parsing and its URL routing).

Each emulator registers routes with werkzeug rule strings (``/crm/v3/lists/<re("\\d+"):id>``);
the base handles JSON, keep-alive, a request log and one-shot faults (status codes or
timeouts) injected through Python (:meth:`inject_fault`) or over HTTP
(``POST /__emulator/faults``). Control endpoints:

- ``POST /__emulator/faults``  body ``{"status": 503, "count": 2, "path": "batch/upsert",
  "retry_after": 1}`` or ``{"timeout": 5, "count": 1}`` (hold the request ``timeout`` seconds,
  then drop the connection without processing it)
- ``POST /__emulator/reset``  forget all data, faults and counters
- ``GET  /__emulator/stats``  counters and the emulator's own summary
"""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import orjson
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request as WerkzeugRequest


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: send ``body`` as is (bytes or text) with this content type instead of JSON
    content_type: str | None = None


@dataclass
class Fault:
    status: int | None = None
    timeout: float | None = None
    count: int = 1
    path: str | None = None  # substring of the path the fault applies to
    retry_after: float | None = None
    body: Any = None


#: a route handler gets the request and the values the rule captured from the path
Handler = Callable[[Request, dict[str, str]], Response]


class RegexConverter(BaseConverter):
    """``<re("\\d+"):name>``: a path part matching a regular expression, kept as text."""

    def __init__(self, url_map: Map, regex: str) -> None:
        super().__init__(url_map)
        self.regex = regex
        self.part_isolating = "/" not in regex


class _Dropped(ConnectionError):
    """Raised inside the WSGI app to drop the client's connection without an answer."""


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's request handler without per-request logging, with TCP_NODELAY (headers and
    body go out in two writes: without it, Nagle's algorithm and delayed ACKs add ~40 ms to
    every keep-alive request)."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            super().log(type, message, *args)

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        # A dropped connection (a timeout fault, or a client killed mid-request on purpose
        # by the crash tests) is not an error.
        self.close_connection = True


class _Server(ThreadedWSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Emulator:
    """Subclasses call :meth:`add_route` and may override :meth:`before` (auth, limits)
    and :meth:`after` (headers on every response)."""

    name = "emulator"

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self.lock = threading.RLock()
        self._rules: list[Rule] = []
        self._handlers: dict[str, Handler] = {}
        self._map: Map | None = None
        self.faults: list[Fault] = []
        self.stats: dict[str, int] = {"requests": 0, "faults": 0}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._own_process = False  # serve_forever: the emulator is the whole process

    # --- routing -------------------------------------------------------------------------
    def add_route(self, method: str, rule: str, handler: Handler) -> None:
        """Route ``method rule`` (a werkzeug rule string) to ``handler``."""
        endpoint = f"{method} {rule}"
        self._rules.append(Rule(rule, methods=[method], endpoint=endpoint))
        self._handlers[endpoint] = handler
        self._map = None

    def _adapter(self) -> Any:
        if self._map is None:
            self._map = Map(
                [r.empty() for r in self._rules],
                converters={"re": RegexConverter},
                strict_slashes=False,
                merge_slashes=False,
            )
        return self._map.bind("emulator", url_scheme="http")

    def normalize_path(self, path: str) -> str:
        return path

    def before(self, req: Request) -> Response | None:
        return None

    def after(self, req: Request, resp: Response) -> None:
        return None

    def _init_state(self) -> None:
        """The emulator's own records and counters, as on a fresh start (called under the
        lock by reset)."""
        return None

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.stats = {"requests": 0, "faults": 0}
            self._init_state()

    def summary(self) -> dict[str, Any]:
        return {}

    # --- faults --------------------------------------------------------------------------
    def inject_fault(
        self,
        status: int | None = None,
        *,
        count: int = 1,
        path: str | None = None,
        timeout: float | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(status, timeout, count, path, retry_after, body))

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.count > 0 and (f.path is None or f.path in path):
                    f.count -= 1
                    self.stats["faults"] += 1
                    if f.count == 0:
                        self.faults.remove(f)
                    return f
        return None

    def fault_response(self, req: Request, fault: Fault) -> Response:
        """The answer of an injected status fault (emulators may shape it like their API)."""
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = fault.body or {
            "status": "error",
            "message": f"injected fault {fault.status}",
            "correlationId": str(uuid.uuid4()),
            "category": "INTERNAL_ERROR",
        }
        return Response(int(fault.status or 500), body, headers)

    # --- dispatch ------------------------------------------------------------------------
    def _control(self, req: Request) -> Response | None:
        if not req.path.startswith("/__emulator/"):
            return None
        what = req.path[len("/__emulator/") :]
        if what == "faults" and req.method == "POST":
            b = req.body or {}
            self.inject_fault(
                b.get("status"),
                count=int(b.get("count", 1)),
                path=b.get("path"),
                timeout=b.get("timeout"),
                retry_after=b.get("retry_after"),
                body=b.get("body"),
            )
            return Response(200, {"ok": True})
        if what == "reset" and req.method == "POST":
            self.reset()
            return Response(200, {"ok": True})
        if what == "stats" and req.method == "GET":
            with self.lock:
                return Response(200, {**self.stats, **self.summary()})
        return Response(404, {"message": f"unknown control endpoint {req.path}"})

    def not_found(self, req: Request) -> Response:
        return Response(
            404,
            {
                "status": "error",
                "message": f"no route for {req.method} {req.path}",
                "category": "OBJECT_NOT_FOUND",
                "correlationId": str(uuid.uuid4()),
            },
        )

    def handle(self, req: Request) -> Response | None:
        """Return the response, or None to drop the connection (timeout fault)."""
        ctrl = self._control(req)
        if ctrl is not None:
            return ctrl
        req.path = self.normalize_path(req.path)
        with self.lock:
            self.stats["requests"] += 1
        fault = self._take_fault(req.path)
        if fault is not None:
            if fault.timeout is not None:
                time.sleep(fault.timeout)
                return None
            resp = self.fault_response(req, fault)
            self.after(req, resp)
            return resp
        early = self.before(req)
        if early is not None:
            self.after(req, early)
            return early
        try:
            endpoint, args = self._adapter().match(req.path, method=req.method)
        except (NotFound, MethodNotAllowed):
            resp = self.not_found(req)
        else:
            with self.lock:
                resp = self._handlers[endpoint](req, args)
                if self._own_process:
                    # What an emulator stores (members, acknowledgements: millions of tuples
                    # after a large sync) lives as long as it does. Frozen, the collector
                    # stops walking it on every full collection, which made a request take
                    # longer the more members the emulator held.
                    gc.freeze()
        self.after(req, resp)
        return resp

    # --- WSGI ----------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        wreq = WerkzeugRequest(environ)
        raw = wreq.get_data(cache=False)
        body = _json_body(raw)
        req = Request(
            wreq.method,
            wreq.path,
            parse_qs(wreq.query_string.decode("latin-1")),
            {k.lower(): v for k, v in wreq.headers.items()},
            body,
            raw,
        )
        try:
            resp = self.handle(req)
        except Exception as exc:  # a bug in the emulator shows up as a 500
            resp = Response(500, {"status": "error", "message": f"emulator error: {exc!r}"})
        if resp is None:
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            raise _Dropped("connection dropped by a timeout fault")
        if resp.content_type is not None:
            data = resp.body if isinstance(resp.body, bytes) else str(resp.body or "").encode()
            ctype = resp.content_type
        else:
            data = b"" if resp.body is None else _json_bytes(resp.body)
            ctype = "application/json;charset=utf-8"
        headers = [("Content-Type", ctype), ("Content-Length", str(len(data)))]
        headers += list(resp.headers.items())
        start_response(f"{resp.status} {_reason(resp.status)}", headers)
        return [data]

    # --- server --------------------------------------------------------------------------
    def _make_server(self) -> _Server:
        self._adapter()  # compile the routes before the first request
        server = _Server(self.host, self.port, self.wsgi, handler=_QuietHandler)
        self.port = server.server_address[1]
        return server

    def start(self) -> Emulator:
        self._server = self._make_server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{self.name}-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this process (``python -m audiences_emulators.<name>``): the emulator
        is then the process's only tenant and freezes its heap after each request."""
        self._own_process = True
        self._server = self._make_server()
        self._server.serve_forever()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Emulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _json_body(raw: bytes) -> Any:
    """The request body as JSON (None when empty or not JSON). orjson first: the emulator
    runs on the same cores as the sync it answers in the benchmarks, and an upload of 10,000
    members is megabytes of JSON; the standard parser takes what orjson refuses (NaN, integers
    beyond 64 bits)."""
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _json_bytes(body: Any) -> bytes:
    try:
        return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # what only the standard encoder takes
        return json.dumps(body).encode()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
