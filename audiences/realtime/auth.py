"""API keys of `audiences serve`: who is calling, from which origin, how often.

Two kinds of keys (docs/realtime.md, "Auth and keys"):

- **server keys** (``AUDIENCES_SERVER_KEYS``): secret, for back ends. Post events, read
  profiles with ``person_id``.
- **publishable keys** (``AUDIENCES_PUBLISHABLE_KEYS``, ``key@https://origin``): public, for
  pages. Post events and read segment keys only (no ``person_id``), and only from their
  origin.

A presented key is found by its SHA-256 digest in a dict of the configured keys' digests:
one hash and one lookup per request whatever the number of keys, and the time taken says
nothing about how much of a key an attacker guessed (the comparison is on digests, which a
guess cannot steer). Keys are named in Redis and logs only by
:func:`audiences.realtime.settings.key_id`, never by value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import redis.asyncio

from audiences.realtime.keys import RedisKeys
from audiences.realtime.settings import RealtimeSettings, key_id


class KeyKind(StrEnum):
    SERVER = "server"
    PUBLISHABLE = "publishable"


@dataclass(frozen=True)
class Caller:
    """The key a request authenticated with (never the key itself)."""

    kind: KeyKind
    key_id: str
    origins: frozenset[str]  # the allowed origins of a publishable key (one entry each)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class KeyRing:
    """The configured keys, found by their digests."""

    def __init__(self, settings: RealtimeSettings):
        by_digest = {
            _digest(k.get_secret_value()): Caller(
                KeyKind.SERVER, key_id(k.get_secret_value()), frozenset()
            )
            for k in settings.server_keys
        }
        # a publishable key listed with several origins (www and apex, say) is one caller
        origins: dict[str, set[str]] = {}
        for p in settings.publishable_keys:
            origins.setdefault(p.key.get_secret_value(), set()).add(p.origin)
        by_digest |= {
            _digest(secret): Caller(KeyKind.PUBLISHABLE, key_id(secret), frozenset(allowed))
            for secret, allowed in origins.items()
        }
        self._by_digest = by_digest
        self.origins = settings.allowed_origins

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, authorization: str | None) -> Caller | None:
        """The caller of an ``Authorization: Bearer <key>`` header, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        return self._by_digest.get(_digest(token))


#: seconds a rate counter outlives its one-second window
RATE_COUNTER_TTL = 2


class RateLimited(Exception):
    """The key made more than its requests per second."""


@dataclass(frozen=True)
class RateCheck:
    """One request's rate-limit check, counted in the same round trip as the request's own
    reads: the caller increments ``counter`` (giving it a short TTL) and hands the count to
    ``verify``, which raises :class:`RateLimited` over the limit."""

    counter: str
    limit: int

    def verify(self, count: int) -> None:
        if count > self.limit:
            raise RateLimited(self.counter)


class RateLimiter:
    """At most ``limit`` requests per key per second: a Redis counter per key and second
    (``keys.rate``), shared by every `serve` process on the same Redis."""

    def __init__(self, client: redis.asyncio.Redis, keys: RedisKeys, limit: int):
        self.client = client
        self.keys = keys
        self.limit = limit

    def check(self, caller: Caller, now: datetime) -> RateCheck:
        return RateCheck(self.keys.rate(caller.key_id, int(now.timestamp())), self.limit)

    async def enforce(self, caller: Caller, now: datetime) -> None:
        """Count the request on its own; RateLimited over the limit."""
        check = self.check(caller, now)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.incr(check.counter)
            pipe.expire(check.counter, RATE_COUNTER_TTL)
            count, _ = await pipe.execute()
        check.verify(int(count))
