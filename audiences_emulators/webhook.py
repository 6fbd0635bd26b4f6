"""A webhook receiver for the `webhook` destination (reverse_etl/destinations/webhook.py).

Verifies ``X-Audiences-Signature: t=<unix time>,v1=<hex>`` (HMAC-SHA256 of
``<t>.<body bytes>`` with the shared secret; a timestamp more than ``tolerance_seconds``
away from the emulator's clock is refused), answers 401 ``invalid_signature`` otherwise, and
records every accepted delivery with its ``Idempotency-Key``: tests read
:attr:`WebhookEmulator.deliveries` and :meth:`WebhookEmulator.duplicates` (a key received
twice). Faults (5xx, timeouts) come from the base class (:meth:`Emulator.inject_fault`).
Optionally answers 422 to bodies whose ``segment_key`` is in :attr:`WebhookConfig.reject_segments`.

The verification below is written from the documented scheme only, independently of the
destination's signing code.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from audiences_emulators.base import Emulator, Request, Response

SANDBOX_SECRET = "webhook-sandbox-not-a-secret"
DEFAULT_PORT = 8771
PATH = "/hooks/audiences"


def sandbox_env(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> dict[str, str]:
    """Environment for a trigger whose ``options.url`` points at a sandbox emulator."""
    return {"AUDIENCES_WEBHOOK_SECRET": SANDBOX_SECRET}


@dataclass
class WebhookConfig:
    secret: str = SANDBOX_SECRET
    tolerance_seconds: float = 300.0
    reject_segments: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Delivery:
    idempotency_key: str
    body: Any
    #: the exact bytes and signature header received (tests verify them independently)
    raw: bytes
    signature: str


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float) -> str | None:
    """None when ``header`` is a valid signature of ``body``, else why not."""
    parts: dict[str, str] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, value)
    if "t" not in parts or "v1" not in parts:
        return "the signature header needs t=<unix time>,v1=<hex>"
    try:
        ts = int(parts["t"])
    except ValueError:
        return "t is not a unix time"
    if abs(now - ts) > tolerance:
        return f"the signature's timestamp is more than {tolerance:.0f} s away"
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), parts["v1"]):
        return "the signature does not match the body"
    return None


class WebhookEmulator(Emulator):
    name = "webhook"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: WebhookConfig | None = None):
        super().__init__(host, port)
        self.config = config or WebhookConfig()
        self._init_state()
        self.add_route("POST", PATH, self._receive)

    def _init_state(self) -> None:
        self.deliveries: list[Delivery] = []
        self.refused: list[str] = []

    @property
    def endpoint(self) -> str:
        return self.url + PATH

    def summary(self) -> dict[str, Any]:
        return {"deliveries": len(self.deliveries), "refused": len(self.refused)}

    def duplicates(self) -> dict[str, int]:
        """Idempotency keys received more than once, with their count."""
        seen: dict[str, int] = {}
        for d in self.deliveries:
            seen[d.idempotency_key] = seen.get(d.idempotency_key, 0) + 1
        return {k: n for k, n in seen.items() if n > 1}

    def _receive(self, req: Request, args: dict[str, str]) -> Response:
        why = verify(
            self.config.secret,
            req.headers.get("x-audiences-signature", ""),
            req.raw,
            time.time(),
            self.config.tolerance_seconds,
        )
        if why is not None:
            self.refused.append(why)
            return Response(401, {"error": "invalid_signature", "message": why})
        key = req.headers.get("idempotency-key", "")
        if not key:
            return Response(400, {"error": "missing_idempotency_key"})
        body = req.body if isinstance(req.body, dict) else {}
        if body.get("segment_key") in self.config.reject_segments:
            return Response(422, {"error": "unprocessable", "message": "segment not accepted"})
        self.deliveries.append(
            Delivery(key, req.body, req.raw, req.headers["x-audiences-signature"])
        )
        return Response(200, {"received": True})


def main(argv: list[str] | None = None) -> int:
    """``python -m audiences_emulators.webhook --port 8771`` (sandbox)."""
    import argparse
    import contextlib

    ap = argparse.ArgumentParser(prog="python -m audiences_emulators.webhook")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    ap.add_argument("--secret", default=SANDBOX_SECRET, help="the signing secret to verify with")
    ap.add_argument("--tolerance", type=float, default=300.0, help="seconds of clock skew allowed")
    args = ap.parse_args(argv)
    emu = WebhookEmulator(args.host, args.port, WebhookConfig(args.secret, args.tolerance))
    print(f"webhook receiver on http://{args.host}:{args.port}{PATH}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emu.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
