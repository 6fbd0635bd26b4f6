"""Meta Custom Audiences (customer file): one audience per sync, members added and removed
through ``/{audience_id}/users`` with SHA-256 hashes of normalised identifiers.

- The mapping's keys are Meta schema keys (``EMAIL``, ``PHONE``, ``FN``, ``LN``, ``FI``,
  ``GEN``, ``CT``, ``ST``, ``ZIP``, ``COUNTRY``, ``EXTERN_ID``, ``MADID``) plus ``DOB``, which
  becomes ``DOBY`` / ``DOBM`` / ``DOBD``. Every value is normalised and hashed in this process
  (:mod:`reverse_etl.identifiers`); the plaintext never leaves it and is never logged.
- The audience is ``options.audience_id``, or the audience of the ad account named like the
  sync's ``list``, created if missing with ``customer_file_source``.
- Each request is one complete upload session (``session_id`` derived from the rows, so a
  retry reuses it, ``batch_seq`` 1, ``last_batch_flag`` true): at most 10,000 rows.
- The hashed row is kept as the destination id in the sync state, so a member who leaves the
  model (consent withdrawn, erased) is removed with exactly the hashes that were added, and a
  member whose identifiers changed has the old row removed.
- A malformed email or phone drops only that identifier: the member is sent with the others
  and the row result names the dropped key (the engine reports it with the run).
- ``num_invalid_entries`` cannot be tied to a row by Meta; the rows are checked locally first
  (a row without any usable identifier is rejected with the reason) and any invalid entries
  Meta still reports are rejected by matching the returned samples or, failing that, recorded
  against the batch.
- With ``options.upload: replace`` (mirror syncs only), ``--full-resync`` swaps the whole
  audience through ``/usersreplace`` in one session (:meth:`MetaDestination.replace`,
  ``batch_seq`` 1..N, ``last_batch_flag`` on the last request); the engine makes the
  acknowledged rows the sync state only when the session has completed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import orjson
import requests
from pydantic import BaseModel, ConfigDict, Field

from reverse_etl import identifiers as ids
from reverse_etl import settings
from reverse_etl.core.errors import (
    BatchRejectedError,
    ConfigError,
    CredentialsError,
    DestinationError,
)
from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.core.sync import SyncConfig
from reverse_etl.destinations.capabilities import Transport
from reverse_etl.destinations.common import account_url, limits_for, parse_options, reveal
from reverse_etl.destinations.spec import DestinationSpec
from reverse_etl.http.classify import ErrorInfo, ResponseClassifier, json_body
from reverse_etl.settings import redact

TOKEN_ENV = "META_ACCESS_TOKEN"
URL_ENV = "META_GRAPH_URL"
DEFAULT_GRAPH_URL = "https://graph.facebook.com/v25.0"

# Published limits (destination-apis.md 3.4). One place to update them.
ROW_LIMIT = 10_000
HOURLY_BASE = {"limited": 5000, "full": 190_000}
PER_AUDIENCE = 40
THROTTLE_CODES = {4, 17, 32, 613, 80000, 80003, 80004, 80014}
TRANSIENT_CODES = {1, 2, 803}
SCHEMA_KEYS = (*ids.META_HASHED_KEYS, *ids.META_CLEAR_KEYS)
#: Meta needs about 100 matched people for a usable audience (destination-apis.md 3.7)
MIN_AUDIENCE_SIZE = 100


#: what :meth:`MetaDestination.encode` gives per row: (hashed row, problem, dropped keys,
#: the row's digest for the session id); the row as its cells joined by commas (one string
#: to pickle and hold instead of a dozen) unless a cell has a comma of its own
Encoded = tuple[str | list[str], str | None, tuple[str, ...], bytes]


class _RedactSecrets(logging.Filter):
    """The Graph API takes ``access_token`` as a request parameter; on GET requests it is in
    the URL, which urllib3 writes to its DEBUG log. Redact it there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactSecrets())


class MetaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ad_account_id: str = Field(pattern=r"^(act_)?\d+$")
    audience_id: str | None = None
    customer_file_source: Literal[
        "USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"
    ] = "USER_PROVIDED_ONLY"
    description: str = "Synced from the warehouse by audiences (reverse_etl)"
    access_tier: Literal["limited", "full"] = "limited"
    active_audiences: int = Field(default=1, ge=0)
    batch_size: int = Field(default=ROW_LIMIT, ge=1, le=ROW_LIMIT)
    #: "replace": a --full-resync of this sync swaps the whole audience through /usersreplace
    #: (see MetaDestination.replace); other runs send adds and removals
    upload: Literal["incremental", "replace"] = "incremental"


def _meta_error(resp: requests.Response) -> dict[str, Any]:
    err = json_body(resp).get("error")
    return err if isinstance(err, dict) else {}


def _regain_seconds(resp: requests.Response) -> float | None:
    raw = resp.headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        float(item.get("estimated_time_to_regain_access") or 0)
        for items in (usage.values() if isinstance(usage, dict) else [])
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]
    return max(minutes) * 60 if minutes else None


def _read_error(resp: requests.Response) -> ErrorInfo:
    err = _meta_error(resp)
    code = int(err.get("code") or 0)
    sub = err.get("error_subcode")
    msg = str(err.get("message") or resp.reason or "")
    fatal = None
    if code == 100 and sub == 1713230:
        fatal = "the audience is flagged by Meta and refuses uploads"
    elif code == 2635:
        fatal = f"set {URL_ENV} to a current Graph API version"
    return ErrorInfo(
        detail=f"({code}{'/' + str(sub) if sub else ''}) {msg}",
        retry_after=_regain_seconds(resp),
        throttled=code in THROTTLE_CODES,
        transient=code in TRANSIENT_CODES or bool(err.get("is_transient")),
        auth=code in (190, 200),
        row_error=code == 100 and resp.status_code == 400 and "rows" in msg.lower(),
        fatal_hint=fatal,
    )


class MetaDestination:
    name = "meta"
    key_normalization = "none"

    def __init__(self, sync: SyncConfig, options: MetaOptions):
        self.sync = sync
        self.options = options
        unknown = [k for k in sync.mapping if k != "DOB" and k not in SCHEMA_KEYS]
        if unknown:
            raise ConfigError(
                f"sync {sync.name!r}, field 'mapping': {', '.join(unknown)} are not Meta schema "
                f"keys (use {', '.join(SCHEMA_KEYS)} or DOB)"
            )
        budget = min(
            700_000, HOURLY_BASE[options.access_tier] + PER_AUDIENCE * options.active_audiences
        )
        self.limits = limits_for(sync, options.batch_size, budget, 3600.0)
        self.schema = self._schema()
        self._dest_prefix = "+".join(self.schema) + "|"  # of every dest_id (:meth:`_dest_id`)
        self._hash_row = ids.MetaRowHasher(list(sync.mapping))
        #: where EMAIL / PHONE sit in a hashed row (to tell a malformed value from a blank one)
        self._checked = [(k, self.schema.index(k)) for k in ("EMAIL", "PHONE") if k in self.schema]
        self.account = options.ad_account_id.removeprefix("act_")
        self.audience_id: str | None = options.audience_id
        self._token: str | None = None
        self.replace_counts: dict[str, int] = {}
        self.reported: dict[str, int] = {}
        self.classifier = ResponseClassifier(
            product="Meta",
            credentials_hint=f"check that {TOKEN_ENV} is a valid token with ads_management on "
            f"ad account act_{self.account}",
            read_error=_read_error,
            batch_statuses=(),  # only a row error (code 100 naming rows) splits a batch
        )
        if options.upload == "replace" and sync.mode != "mirror":
            raise ConfigError(
                f"sync {sync.name!r}, field 'options.upload': 'replace' removes every audience "
                "member missing from the model, so the sync must use mode: mirror (its "
                "max_removal_pct safety brake then guards the replace)"
            )

    @classmethod
    def from_sync(cls, sync: SyncConfig) -> MetaDestination:
        return cls(sync, parse_options(MetaOptions, sync))

    def _schema(self) -> list[str]:
        out: list[str] = []
        for k in self.sync.mapping:
            out.extend(["DOBY", "DOBM", "DOBD"] if k == "DOB" else [k])
        return out

    # --- HTTP -----------------------------------------------------------------------------
    def http_config(self) -> tuple[str, dict[str, str]]:
        token = reveal(settings.secret(TOKEN_ENV))
        if not token:
            raise CredentialsError(
                f"{TOKEN_ENV} is not set: create a system-user access token with the "
                f"ads_management permission in Meta Business Manager and export it as {TOKEN_ENV}"
            )
        self._token = token
        return settings.value(URL_ENV) or DEFAULT_GRAPH_URL, {}

    def _auth(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "access_token": self._token}

    def check_response(self, resp: requests.Response) -> None:
        self.classifier.check(resp)

    def account_key(self) -> str:
        return f"{account_url(settings.value(URL_ENV) or DEFAULT_GRAPH_URL)} act_{self.account}"

    # --- audience ---------------------------------------------------------------------------
    def prepare(self, transport: Transport) -> None:
        if self.audience_id:
            return
        name = self.sync.list or self.sync.name
        path = f"/act_{self.account}/customaudiences"
        after: str | None = None
        while True:
            params: dict[str, Any] = {"fields": "id,name", "limit": 500}
            if after:
                params["after"] = after
            page = json_body(transport.request("GET", path, params=self._auth(params)))
            for aud in page.get("data") or []:
                if aud.get("name") == name:
                    self.audience_id = str(aud["id"])
                    return
            after = ((page.get("paging") or {}).get("cursors") or {}).get("after")
            if not after or not (page.get("paging") or {}).get("next"):
                break
        created = json_body(
            transport.request(
                "POST",
                path,
                json_body=self._auth(
                    {
                        "name": name,
                        "subtype": "CUSTOM",
                        "description": self.options.description,
                        "customer_file_source": self.options.customer_file_source,
                    }
                ),
            )
        )
        if not created.get("id"):
            raise DestinationError(f"Meta did not return an id for the new audience {name!r}")
        self.audience_id = str(created["id"])

    # --- rows -------------------------------------------------------------------------------
    def hashed_row(self, fields: dict[str, str]) -> list[str]:
        return self._hash_row(fields)

    def problem(self, fields: dict[str, str]) -> str | None:
        """Why a row cannot be sent: no usable identifier is left once malformed ones are
        dropped (the values themselves are never put in the message)."""
        return self.hashed(fields)[1]

    def hashed(self, fields: dict[str, str]) -> tuple[list[str], str | None]:
        """The hashed row and :meth:`problem`, normalising and hashing each value once. A
        malformed email or phone only empties its own cell: the member is still sent with
        the identifiers that are usable (:meth:`dropped` names the ones left out)."""
        row = self.hashed_row(fields)
        if self._usable(self.schema, row):
            return row, None
        bad = "; ".join(f"{k} is malformed" for k in self.dropped(fields, row))
        return row, (
            "no usable identifier after normalisation (email, phone, name ... all empty or "
            f"malformed{': ' + bad if bad else ''}; values withheld); fix it in the model"
        )

    def dropped(self, fields: dict[str, str], row: list[str]) -> tuple[str, ...]:
        """The EMAIL / PHONE keys whose value was given but is malformed (left empty)."""
        return tuple(k for k, pos in self._checked if not row[pos] and fields.get(k, "").strip())

    def _dest_id(self, row: list[str]) -> str:
        return self._dest_prefix + ",".join(row)

    def _row_of(self, dest_id: str | None) -> tuple[list[str], list[str]] | None:
        if not dest_id or "|" not in dest_id:
            return None
        schema, _, cells = dest_id.partition("|")
        return schema.split("+"), cells.split(",")

    @staticmethod
    def _usable(schema: list[str], row: list[str]) -> bool:
        return any(c for k, c in zip(schema, row, strict=True) if k not in ("COUNTRY",))

    def _session(
        self,
        rows: list[list[str]],
        seq: int = 1,
        last: bool = True,
        session_id: int | None = None,
        total: int | None = None,
    ) -> dict[str, Any]:
        if session_id is None:
            session_id = self.session_id(rows, "add")
        return {
            "session_id": session_id,
            "batch_seq": seq,
            "last_batch_flag": last,
            "estimated_num_total": total if total is not None else len(rows),
        }

    @staticmethod
    def row_digest(row: list[str]) -> bytes:
        """A 16-byte SHA-256 digest of one hashed row (the unit :meth:`session_id` sorts)."""
        return hashlib.sha256(orjson.dumps(row)).digest()[:16]

    @classmethod
    def session_id(
        cls, rows: list[list[str]], kind: str, digests: list[bytes] | None = None
    ) -> int:
        """Deterministic per set of rows and direction: a retry reuses it, and after a crash
        :meth:`reconcile` can ask Meta whether the session exists. Built from the sorted
        per-row digests (:meth:`row_digest`; ``digests`` when the encoding already computed
        them), so the engine's thread hashes 16 bytes per row instead of the whole upload."""
        if digests is None:
            digests = [cls.row_digest(r) for r in rows]
        digest = hashlib.sha256(kind.encode() + b"".join(sorted(digests))).digest()
        return int.from_bytes(digest[:7], "big")

    def _upload(
        self,
        transport: Transport,
        method: str,
        edge: str,
        schema: list[str],
        rows: list[list[str]],
        session: dict[str, Any] | None = None,
        digests: list[bytes] | None = None,
    ) -> dict[str, Any]:
        if session is None:
            kind = "remove" if method == "DELETE" else "add"
            session = self._session(rows, session_id=self.session_id(rows, kind, digests))
        body = self._auth({"payload": {"schema": schema, "data": rows}, "session": session})
        return json_body(transport.request(method, f"/{self.audience_id}/{edge}", json_body=body))

    def _count(self, answer: dict[str, Any]) -> None:
        """Add what Meta reported for an upload to :meth:`drain_reported_counts`."""
        for field in ("num_received", "num_invalid_entries"):
            self.reported[field] = self.reported.get(field, 0) + int(answer.get(field) or 0)

    def drain_reported_counts(self) -> dict[str, int]:
        """Meta's own counts (``num_received``, ``num_invalid_entries``) of the uploads of
        members since the last call (capability ``ReportsCounts``)."""
        out, self.reported = self.reported, {}
        return out

    def _invalid(self, answer: dict[str, Any], n: int) -> int:
        return min(n, int(answer.get("num_invalid_entries") or 0))

    def encode(self, rows: list[dict[str, str]]) -> list[Encoded]:
        """Per row of fields (capability ``Encoding``): the hashed row, its problem and the
        malformed identifiers left out (:meth:`dropped`) and the row's digest
        (:meth:`row_digest`), all computed where the encoding runs (a worker process) rather
        than by the engine's thread."""
        out: list[Encoded] = []
        for f in rows:
            row, why = self.hashed(f)
            if why:
                out.append((row, why, (), b""))
                continue
            cells = ",".join(row)
            packed: str | list[str] = cells if cells.count(",") == len(row) - 1 else row
            out.append((packed, why, self.dropped(f, row), self.row_digest(row)))
        return out

    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        return self.send_encoded(transport, records, self.encode([r.fields for r in records]))

    def send_encoded(
        self,
        transport: Transport,
        records: list[Record],
        encoded: list[Encoded],
    ) -> list[RowResult]:
        results: dict[str, RowResult] = {}
        rows: list[list[str]] = []
        digests: list[bytes] = []
        sent: list[tuple[Record, tuple[str, ...]]] = []
        stale: list[list[str]] = []
        for r, (packed, why, dropped, digest) in zip(records, encoded, strict=True):
            if why:
                results[r.key] = RowResult(r.key, Outcome.REJECTED, error=why)
                continue
            row = packed.split(",") if isinstance(packed, str) else packed
            rows.append(row)
            digests.append(digest)
            sent.append((r, dropped))
            if r.dest_id:  # a member sent before: remove the identifiers it no longer has
                old = self._row_of(r.dest_id)
                if old and (old[0] != self.schema or old[1] != row):
                    stale.append(old[1] if old[0] == self.schema else [])
        if rows:
            answer = self._upload(transport, "POST", "users", self.schema, rows, None, digests)
            self._count(answer)
            bad = self._invalid(answer, len(rows))
            samples = " ".join(str(v) for v in (answer.get("invalid_entry_samples") or {}).values())
            if bad and len(sent) > 1:
                # Meta does not say which rows were invalid: the engine splits the batch until
                # they are isolated (re-sending the valid rows is harmless: membership is a set).
                raise BatchRejectedError(
                    f"Meta reported {bad} invalid entr{'y' if bad == 1 else 'ies'} in "
                    f"{len(sent)} rows ({redact(samples)[:200]})"
                )
            if bad:  # (one row: the engine has isolated it)
                for r, _ in sent:
                    results[r.key] = RowResult(
                        r.key,
                        Outcome.REJECTED,
                        error=(
                            "Meta counted this row in num_invalid_entries "
                            f"({redact(samples)[:200]})"
                        ),
                    )
            else:
                prefix = self._dest_prefix
                for (r, dropped), row in zip(sent, rows, strict=True):
                    results[r.key] = RowResult(
                        r.key, Outcome.ACKED, dest_id=prefix + ",".join(row), dropped=dropped
                    )
        stale = [s for s in stale if s]
        if stale:
            self._upload(transport, "DELETE", "users", self.schema, stale)
        return [results[r.key] for r in records]

    def send_removals(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        by_schema: dict[tuple[str, ...], list[list[str]]] = {}
        for r in records:
            old = self._row_of(r.dest_id)
            if old:
                by_schema.setdefault(tuple(old[0]), []).append(old[1])
        for schema, rows in by_schema.items():
            self._upload(transport, "DELETE", "users", list(schema), rows)
        return [RowResult(r.key, Outcome.ACKED) for r in records]

    def _session_seen(self, transport: Transport, rows: list[list[str]], kind: str) -> bool:
        sid = self.session_id(rows, kind)
        page = json_body(
            transport.request(
                "GET", f"/{self.audience_id}/sessions", params=self._auth({"session_id": sid})
            )
        )
        return any(
            str(s.get("session_id")) == str(sid) and int(s.get("num_received") or 0) >= len(rows)
            for s in page.get("data") or []
        )

    def reconcile(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """Members cannot be read back by hash, but upload sessions can: the in-flight batch
        was applied if Meta knows its (deterministic) session. Otherwise it is re-sent, which
        is harmless (membership is a set)."""
        results = {r.key: RowResult(r.key, Outcome.NOT_APPLIED) for r in records}
        ups = [r for r in records if r.action != "remove"]
        hashed = [(r, *self.hashed(r.fields)) for r in ups]
        usable = [(r, row) for r, row, why in hashed if not why and self._usable(self.schema, row)]
        if usable and self._session_seen(transport, [row for _, row in usable], "add"):
            stale = []
            for r, row in usable:
                results[r.key] = RowResult(r.key, Outcome.ACKED, dest_id=self._dest_id(row))
                old = self._row_of(r.dest_id)
                if old and old[0] == self.schema and old[1] != row:
                    stale.append(old[1])
            if stale:  # the crash may have come before the old identifiers were removed
                self._upload(transport, "DELETE", "users", self.schema, stale)
        rems = [(r, self._row_of(r.dest_id)) for r in records if r.action == "remove"]
        groups: dict[tuple[str, ...], list[tuple[Record, list[str]]]] = {}
        for r, old in rems:
            if old is None:
                results[r.key] = RowResult(r.key, Outcome.ACKED)
            else:
                groups.setdefault(tuple(old[0]), []).append((r, old[1]))
        for items in groups.values():
            if self._session_seen(transport, [row for _, row in items], "remove"):
                for r, _ in items:
                    results[r.key] = RowResult(r.key, Outcome.ACKED)
        return [results[r.key] for r in records]

    # --- full replace -----------------------------------------------------------------------
    def replaces_on_full_resync(self) -> bool:
        return self.options.upload == "replace"

    def replace(
        self,
        transport: Transport,
        batches: Iterable[list[Record]],
        total: int | None = None,
    ) -> Iterator[list[RowResult]]:
        """Replace the audience with exactly the rows of ``batches`` in one new
        ``usersreplace`` session (``batch_seq`` from 1, ``last_batch_flag`` on the last
        request; one batch of look-ahead tells which is last). Yields each batch's results
        once Meta acknowledged it. Rows with a malformed or no identifier are rejected and not
        sent; invalid entries Meta still counts go to ``replace_counts["invalid_entries"]``
        (Meta does not say which row, and a replace session cannot be split to find out).
        Empty input sends nothing: an empty replace would wipe the audience."""
        session_id = secrets.randbits(62)
        self.replace_counts = {"invalid_entries": 0}
        seq = 0
        pending: list[Record] | None = None
        it = iter(batches)
        while True:
            nxt = next(it, None)
            if pending is not None:
                seq += 1
                out: dict[str, RowResult] = {}
                rows: list[list[str]] = []
                for r in pending:
                    row, why = self.hashed(r.fields)
                    if why:
                        out[r.key] = RowResult(r.key, Outcome.REJECTED, error=why)
                    else:
                        out[r.key] = RowResult(
                            r.key,
                            Outcome.ACKED,
                            dest_id=self._dest_id(row),
                            dropped=self.dropped(r.fields, row),
                        )
                        rows.append(row)
                if rows or nxt is None:
                    session = self._session([], seq, nxt is None, session_id, total)
                    filler = [[""] * len(self.schema)]  # keeps batch_seq contiguous
                    answer = self._upload(
                        transport, "POST", "usersreplace", self.schema, rows or filler, session
                    )
                    self.replace_counts["invalid_entries"] += self._invalid(answer, len(rows))
                    if rows:
                        self._count(answer)
                else:
                    seq -= 1
                yield [out[r.key] for r in pending]
            if nxt is None:
                return
            pending = nxt


SPEC = DestinationSpec(
    name="meta",
    options=MetaOptions,
    secret_env=(TOKEN_ENV,),
    env=(URL_ENV,),
    build=MetaDestination.from_sync,
    mirror_needs_list=True,
    min_audience_size=MIN_AUDIENCE_SIZE,
)
