"""Redis: the batch memberships in the cache the real-time API reads (docs/realtime.md).

The model has one row per person (``aud_realtime_profiles``): the sync's identity is the
person_id and its mapping must have two fields, ``segment_keys`` (the ';'-joined segment keys)
and ``known_ids`` (the ';'-joined user_id and anonymous_ids stitched to the person). For each
person the destination keeps (key names: :mod:`reverse_etl.destinations.redis_keys`):

- ``batch:seg:{person_id}``: the set of its segment keys (absent when it has none);
- ``batch:held:{person_id}``: the set of the segment keys it is held out of, when the mapping
  has the optional field ``holdout_segment_keys`` (never served; read by the streaming
  evaluator for segment references);
- ``batch:person_of:{id}`` = person_id, for each of its known ids;
- ``batch:ids:{person_id}``: the ids it last pointed at the person, so an id that leaves the
  person (re-stitched, erased) has its ``person_of`` key taken back. A ``person_of`` key is
  only deleted while it still names that person: an id moving from one person to another in
  the same run ends on the new one, whatever the order of the rows.

An upsert replaces the person's sets; a removal deletes its keys.

With the option ``load: erasures`` the model has one row per erased id instead
(``aud_realtime_erasures``; identity = the id, no mapped field is needed): an upsert adds the id
to ``batch:erased`` (the API answers 404 for it from then on), deletes its
``batch:person_of`` key, and, the first time only, appends it to the stream
``batch:erasures`` that the streaming evaluator reads to forget the id. An erasure is never
taken back: a removal (the id left the model) changes nothing.

Each batch is applied as
one MULTI/EXEC transaction (Redis applies all of it or none of it) and every write is
idempotent, so a batch sent again after a crash leaves the same keys. Once a run has
committed every row the destination sets ``batch:meta`` (``loaded_at``, ``as_of``): until
the first complete load the cache is cold and the API answers 503.

Not HTTP: this is a :class:`reverse_etl.destinations.capabilities.DirectDestination`. The
URL (``AUDIENCES_REDIS_URL``, may hold a password) is a secret: messages name only the host,
port and database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

import redis
from pydantic import BaseModel, ConfigDict, Field
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from reverse_etl import settings
from reverse_etl.core.errors import ConfigError, DestinationError, TransientError
from reverse_etl.core.records import Limits, Outcome, Record, RowResult
from reverse_etl.core.sync import SyncConfig
from reverse_etl.destinations.common import parse_options, reveal
from reverse_etl.destinations.redis_keys import DEFAULT_PREFIX, BatchKeys
from reverse_etl.destinations.spec import DestinationSpec

URL_ENV = "AUDIENCES_REDIS_URL"
DEFAULT_URL = "redis://127.0.0.1:6379/0"
BATCH_SIZE = 500  # people per MULTI/EXEC transaction
SEGMENTS_FIELD = "segment_keys"
IDS_FIELD = "known_ids"
HELD_FIELD = "holdout_segment_keys"  # optional


class RedisCacheOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: key prefix, as AUDIENCES_REDIS_PREFIX of `audiences serve`
    prefix: str = Field(default=DEFAULT_PREFIX, min_length=1, pattern=r"^[A-Za-z0-9_.:\-]+$")
    batch_size: int = Field(default=BATCH_SIZE, ge=1, le=10_000)
    #: the model column whose greatest value becomes batch:meta's ``as_of``
    as_of_column: str = Field(default="as_of", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    #: what the model holds: one row per person (memberships and ids), or one row per
    #: erased id
    load: Literal["profiles", "erasures"] = "profiles"


def _split(text: str | None) -> list[str]:
    return sorted({part.strip() for part in (text or "").split(";") if part.strip()})


def _acked(records: list[Record]) -> list[RowResult]:
    return [RowResult(r.key, Outcome.ACKED, dest_id=r.key) for r in records]


def _where(url: str) -> str:
    """host:port/db of a Redis URL: no user, no password."""
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError:
        return "(unreadable AUDIENCES_REDIS_URL)"
    db = parts.path.strip("/") or "0"
    return f"{parts.scheme}://{parts.hostname or '?'}:{port}/{db}"


class RedisCacheDestination:
    name = "redis"
    key_normalization = "none"

    def __init__(self, sync: SyncConfig, options: RedisCacheOptions):
        missing = [f for f in (SEGMENTS_FIELD, IDS_FIELD) if f not in sync.mapping]
        if missing and options.load == "profiles":
            raise ConfigError(
                f"sync {sync.name!r}, field 'mapping': destination 'redis' needs the fields "
                f"{', '.join(missing)} (e.g. segment_keys: segment_keys, known_ids: known_ids)"
            )
        self.sync = sync
        self.options = options
        self.keys = BatchKeys(options.prefix)
        self.limits = Limits(options.batch_size, None, 1.0)
        self._client: redis.Redis | None = None

    @classmethod
    def from_sync(cls, sync: SyncConfig) -> RedisCacheDestination:
        return cls(sync, parse_options(RedisCacheOptions, sync))

    # --- connection ----------------------------------------------------------------------
    def _url(self) -> str:
        return reveal(settings.secret(URL_ENV)) or DEFAULT_URL

    def account_key(self) -> str:
        return f"{_where(self._url())} prefix={self.options.prefix}"

    def _open(self) -> redis.Redis:
        url = self._url()
        try:
            client = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=10,
                socket_connect_timeout=5,
                retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 4),
                retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            )
            client.ping()
        except ValueError:
            raise ConfigError(
                f"{URL_ENV} is not a Redis URL (expected redis://[:password@]host:port/db)"
            ) from None
        except redis.AuthenticationError:
            raise DestinationError(
                f"Redis at {_where(url)} refused the credentials of {URL_ENV}"
            ) from None
        except redis.RedisError as exc:
            raise TransientError(
                f"Redis at {_where(url)} is unreachable ({type(exc).__name__}); start it "
                f"(bash scripts/redis_up.sh) or fix {URL_ENV}"
            ) from None
        return client

    def connect(self) -> None:
        if self._client is None:
            self._client = self._open()

    def disconnect(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- writing ------------------------------------------------------------------------
    def _apply(self, records: list[Record], upsert: bool) -> list[RowResult]:
        self.connect()
        client = self._client
        assert client is not None
        k = self.keys
        wanted = {
            r.key: (
                (
                    _split(r.fields.get(SEGMENTS_FIELD)),
                    _split(r.fields.get(IDS_FIELD)),
                    _split(r.fields.get(HELD_FIELD)),
                )
                if upsert
                else ([], [], [])
            )
            for r in records
        }
        try:
            read = client.pipeline(transaction=False)
            for r in records:
                read.smembers(k.ids_of(r.key))
            before: list[set[str]] = read.execute()
            old_ids = sorted({i for ids in before for i in ids})
            owners = dict(zip(old_ids, client.mget([k.person_of(i) for i in old_ids]), strict=True))
            tx = client.pipeline(transaction=True)
            # take back first, then write: an id moving between two people of this batch
            # ends on its new person
            for r, had in zip(records, before, strict=True):
                keep = set(wanted[r.key][1])
                for i in sorted(had - keep):
                    if owners.get(i) == r.key:
                        tx.delete(k.person_of(i))
                tx.delete(k.segments(r.key), k.ids_of(r.key), k.held(r.key))
            for r in records:
                segments, ids, held = wanted[r.key]
                if segments:
                    tx.sadd(k.segments(r.key), *segments)
                if held:
                    tx.sadd(k.held(r.key), *held)
                if ids:
                    tx.sadd(k.ids_of(r.key), *ids)
                for i in ids:
                    tx.set(k.person_of(i), r.key)
            tx.execute()
        except redis.RedisError as exc:
            raise self._batch_failed("a batch", exc) from None
        return _acked(records)

    def _batch_failed(self, what: str, exc: redis.RedisError) -> TransientError:
        return TransientError(
            f"Redis at {_where(self._url())} failed while writing {what} "
            f"({type(exc).__name__}); nothing of the batch is applied, the next run sends it "
            "again"
        )

    def _erase(self, records: list[Record]) -> list[RowResult]:
        self.connect()
        client = self._client
        assert client is not None
        k = self.keys
        ids = [r.key for r in records]
        try:
            known = client.smismember(k.erased, ids)
            tx = client.pipeline(transaction=True)
            tx.sadd(k.erased, *ids)
            tx.delete(*[k.person_of(i) for i in ids])
            for erased_id, already in zip(ids, known, strict=True):
                if not already:
                    tx.xadd(k.erasures, {"id": erased_id})
            tx.execute()
        except redis.RedisError as exc:
            raise self._batch_failed("a batch of erasures", exc) from None
        return _acked(records)

    def send_upserts(self, records: list[Record]) -> list[RowResult]:
        if self.options.load == "erasures":
            return self._erase(records)
        return self._apply(records, upsert=True)

    def send_removals(self, records: list[Record]) -> list[RowResult]:
        if self.options.load == "erasures":
            return _acked(records)  # an erasure is never taken back
        return self._apply(records, upsert=False)

    # --- completion ---------------------------------------------------------------------
    def completion_columns(self) -> tuple[str, ...]:
        return (self.options.as_of_column,) if self.options.load == "profiles" else ()

    def complete(self, maxima: dict[str, str | None]) -> None:
        """Every row is committed: mark the cache as loaded (batch:meta). A load of erasures
        marks nothing: it does not make the memberships any fresher."""
        if self.options.load == "erasures":
            return
        client = self._client or self._open()
        loaded_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        as_of = maxima.get(self.options.as_of_column) or ""
        try:
            client.hset(self.keys.meta, mapping={"loaded_at": loaded_at, "as_of": as_of})
        except redis.RedisError as exc:
            raise TransientError(
                f"Redis at {_where(self._url())} failed while marking the load complete "
                f"({type(exc).__name__}); run the sync again"
            ) from None
        finally:
            if client is not self._client:
                client.close()


SPEC = DestinationSpec(
    name="redis",
    options=RedisCacheOptions,
    secret_env=(URL_ENV,),
    build=RedisCacheDestination.from_sync,
)
