"""A small stateful HTTP server base for destination emulators, with fault injection.

Each emulator registers routes; the base handles JSON, keep-alive, a request log and
one-shot faults (status codes or timeouts) injected through Python (:meth:`inject_fault`)
or over HTTP (``POST /__emulator/faults``). Control endpoints:

- ``POST /__emulator/faults``  body ``{"status": 503, "count": 2, "path": "batch/upsert",
  "retry_after": 1}`` or ``{"timeout": 5, "count": 1}`` (hold the request ``timeout`` seconds,
  then drop the connection without processing it)
- ``POST /__emulator/reset``  forget all data, faults and counters
- ``GET  /__emulator/stats``  counters and the emulator's own summary
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


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


@dataclass
class Fault:
    status: int | None = None
    timeout: float | None = None
    count: int = 1
    path: str | None = None  # substring of the path the fault applies to
    retry_after: float | None = None
    body: Any = None


Handler = Callable[[Request, re.Match], Response]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-request (the crash tests do it on purpose) is not an error.
        import sys

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
        self._routes: list[tuple[str, re.Pattern, Handler]] = []
        self.faults: list[Fault] = []
        self.stats: dict[str, int] = {"requests": 0, "faults": 0}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- routing -------------------------------------------------------------------------
    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile("^" + pattern + "$"), handler))

    def normalize_path(self, path: str) -> str:
        return path

    def before(self, req: Request) -> Response | None:
        return None

    def after(self, req: Request, resp: Response) -> None:
        return None

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.stats = {"requests": 0, "faults": 0}

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
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            body = fault.body or {
                "status": "error",
                "message": f"injected fault {fault.status}",
                "correlationId": str(uuid.uuid4()),
                "category": "INTERNAL_ERROR",
            }
            resp = Response(int(fault.status or 500), body, headers)
            self.after(req, resp)
            return resp
        early = self.before(req)
        if early is not None:
            self.after(req, early)
            return early
        for method, pattern, handler in self._routes:
            m = pattern.match(req.path)
            if m and method == req.method:
                with self.lock:
                    resp = handler(req, m)
                break
        else:
            resp = Response(
                404,
                {
                    "status": "error",
                    "message": f"no route for {req.method} {req.path}",
                    "category": "OBJECT_NOT_FOUND",
                    "correlationId": str(uuid.uuid4()),
                },
            )
        self.after(req, resp)
        return resp

    # --- server --------------------------------------------------------------------------
    def _handler_class(self):
        emulator = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                return None

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # delayed ACKs add ~40 ms to every keep-alive request.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                parts = urlsplit(self.path)
                req = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    raw,
                )
                try:
                    resp = emulator.handle(req)
                except Exception as exc:  # a bug in the emulator shows up as a 500
                    resp = Response(500, {"status": "error", "message": f"emulator error: {exc!r}"})
                if resp is None:
                    self.close_connection = True
                    return
                data = b"" if resp.body is None else json.dumps(resp.body).encode()
                self.send_response(resp.status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        return H

    def start(self) -> Emulator:
        self._server = _Server((self.host, self.port), self._handler_class())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{self.name}-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server = _Server((self.host, self.port), self._handler_class())
        self.port = self._server.server_address[1]
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
