"""Helpers for the destination suite: one ``Target`` per destination (mart table, sync entry,
emulator, how to read back what the destination holds), a DuckDB warehouse with the audience
marts and ``segment_membership_changes`` with their exact columns, a fabricated dbt manifest,
and a runner that goes through :class:`reverse_etl.engine.SyncEngine` over real HTTP.

HubSpot and Marketo are ``Target``s too (``targets(hubspot=True)``): HubSpot's mart, rows,
mapping and emulator settings come from the HubSpot suite's ``retl_support``
(tests/python/reverse_etl), imported, not restated; Marketo's mart is HubSpot's plus
``postal_code``.

Run as a script (``python dest_support.py <env.json>``) it performs one sync in a separate
process: the kill -9 tests use it.
"""

from __future__ import annotations

import collections
import json
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

# run as a script (the kill -9 tests), tests/python is not on the path: put it there
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reverse_etl"))
import retl_support as hubspot_support
from dbt_support import write_dbt_artifacts

from audiences_emulators.base import Emulator
from audiences_emulators.braze import BrazeConfig, BrazeEmulator
from audiences_emulators.google import GoogleConfig, GoogleEmulator
from audiences_emulators.hubspot import HubSpotEmulator
from audiences_emulators.marketo import MarketoConfig, MarketoEmulator
from audiences_emulators.meta import MetaConfig, MetaEmulator
from reverse_etl import identifiers as ids
from reverse_etl.config import Project, SyncConfig, SyncsFile
from reverse_etl.destinations.braze import BrazeDestination
from reverse_etl.destinations.capabilities import Destination
from reverse_etl.destinations.google_ads import GoogleAdsDestination
from reverse_etl.destinations.google_data_manager import GoogleDataManagerDestination
from reverse_etl.destinations.meta import MetaDestination
from reverse_etl.engine import SyncEngine, SyncResult
from reverse_etl.http.transport import RetryPolicy
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

SCHEMA = "main_audiences"
SECRETS = {
    "BRAZE_API_KEY": "braze-TEST-SECRET-5b1e2c77-9d4f-4e0e-b7f1",
    "META_ACCESS_TOKEN": "EAAB-TEST-SECRET-3f9c0a7d1e2b4c5d6e7f",
    "GOOGLE_ACCESS_TOKEN": "ya29.TEST-SECRET-a1b2c3d4e5f6g7h8i9",
    "GOOGLE_ADS_DEVELOPER_TOKEN": "devtok-TEST-SECRET-0f1e2d3c",
    "HUBSPOT_ACCESS_TOKEN": hubspot_support.TOKEN,
    "MARKETO_CLIENT_ID": "0c7f3e5a-TEST-CLIENT-ID",
    "MARKETO_CLIENT_SECRET": "mkto-TEST-SECRET-9e8d7c6b5a4f3e2d",
}
FAST_RETRY = RetryPolicy(
    max_attempts=10, base_seconds=0.01, max_wait_seconds=0.2, timeout_seconds=2.0
)
# The four destinations of this package. test_destinations.py and test_consent_erasure.py run
# over these (the latter syncs HubSpot its own way); EVERY adds HubSpot: the fault suite
# (test_faults_all_destinations.py) runs every scenario for all five, + Marketo.
ALL = ["braze", "meta", "google_data_manager", "google_ads"]
EVERY = [*ALL, "hubspot", "marketo"]
SEGMENT = "high_value"
ACCOUNT, USER_LIST, CUSTOMER = "1234567890", "555", "9876543210"

BRAZE_COLUMNS = {
    "external_id": "VARCHAR",
    "email": "VARCHAR",
    "first_name": "VARCHAR",
    "last_name": "VARCHAR",
    "phone": "VARCHAR",
    "country": "VARCHAR",
    "city": "VARCHAR",
    "segments": "VARCHAR",
    "rfm_segment": "VARCHAR",
    "intent_score": "DOUBLE",
    "intent_tier": "VARCHAR",
    "lifetime_revenue": "DOUBLE",
    "orders_count": "INTEGER",
    "last_order_at": "TIMESTAMP",
    "as_of": "TIMESTAMP",
}
ADS_COLUMNS = {
    "user_id": "VARCHAR",
    "segment_key": "VARCHAR",
    "email": "VARCHAR",
    "phone": "VARCHAR",
    "first_name": "VARCHAR",
    "last_name": "VARCHAR",
    "country": "VARCHAR",
    "postal_code": "VARCHAR",
    "city": "VARCHAR",
    "region": "VARCHAR",
    "birth_date": "DATE",
    "gender": "VARCHAR",
    "as_of": "TIMESTAMP",
}
CHANGES_COLUMNS = {
    "membership_id": "VARCHAR",
    "person_id": "VARCHAR",
    "user_id": "VARCHAR",
    "segment_key": "VARCHAR",
    "segment_family": "VARCHAR",
    "change_type": "VARCHAR",
    "changed_at": "TIMESTAMP",
    "as_of": "TIMESTAMP",
}
TABLES = {
    "aud_braze_users": BRAZE_COLUMNS,
    "aud_meta_custom_audience": ADS_COLUMNS,
    "aud_google_customer_match": ADS_COLUMNS,
    "segment_membership_changes": CHANGES_COLUMNS,
}
MARKETO_TABLE = "aud_marketo_leads"
MARKETO_COLUMNS = {**hubspot_support.COLUMNS, "postal_code": "VARCHAR"}
# Every mart a Target can sync (TABLES are created in each warehouse; the HubSpot and Marketo
# marts only where their target needs them, as test_consent_erasure.py creates HubSpot's itself).
COLUMNS = {
    **TABLES,
    hubspot_support.TABLE: hubspot_support.COLUMNS,
    MARKETO_TABLE: MARKETO_COLUMNS,
}
SEGMENTS = ["champions", "high_engagement", "high_purchase_intent", "high_value", "potential_buyer"]
AS_OF = datetime(2026, 3, 1)


# --- rows ----------------------------------------------------------------------------------------
def person(i: int, rng: random.Random) -> dict[str, Any]:
    return {
        "user_id": f"u{i:07d}",
        "email": f" Person{i:07d}@Example.com ",
        "phone": None if i % 7 == 0 else f"+1 (650) {555 + i // 10000 % 400:03d}-{i % 10000:04d}",
        "first_name": rng.choice(["Ana", "Ben", "Chloé", "José", None]),
        "last_name": rng.choice(["Ng", "O'Brien", "Smith", "Łukasz"]),
        "country": rng.choice(["US", "FR", "DE"]),
        "city": rng.choice(["Paris", "New York"]),
        "postal_code": rng.choice(["94105", "75001", "10115-1234"]),
        "region": rng.choice(["CA", "Île-de-France"]),
        "birth_date": date(1970 + i % 40, 1 + i % 12, 1 + i % 28),
        "gender": rng.choice(["female", "male", None]),
    }


def braze_rows(n: int, seed: int = 7, start: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        p = person(i, rng)
        segs = sorted(rng.sample(SEGMENTS, rng.randint(1, 3)))
        out.append(
            {
                "external_id": p["user_id"],
                "email": p["email"],
                "first_name": p["first_name"],
                "last_name": p["last_name"],
                "phone": p["phone"],
                "country": p["country"],
                "city": p["city"],
                "segments": ";".join(segs),
                "rfm_segment": rng.choice(["champions", "at_risk"]),
                "intent_score": round(rng.uniform(0, 100), 1),
                "intent_tier": rng.choice(["hot", "warm", "cold"]),
                "lifetime_revenue": round(rng.uniform(0, 900), 2),
                "orders_count": rng.randint(0, 40),
                "last_order_at": None if i % 5 == 0 else AS_OF - timedelta(minutes=i),
                "as_of": AS_OF,
            }
        )
    return out


def ads_rows(n: int, seed: int = 7, start: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {**person(i, rng), "segment_key": SEGMENT, "as_of": AS_OF} for i in range(start, start + n)
    ]


# --- targets -------------------------------------------------------------------------------------
@dataclass
class Target:
    """Everything a test needs to know about one destination."""

    name: str
    table: str
    identity: str
    mapping: dict[str, str]
    options: dict[str, Any]
    make_rows: Callable[..., list[dict[str, Any]]]
    make_emulator: Callable[[], Emulator]
    write_path: str  # substring of the path of the main write request (for faults)
    env: Callable[[Emulator], dict[str, str]]
    holdings: Callable[[Emulator], set[str]]  # marker of each member the destination holds
    sends: Callable[[Emulator], collections.Counter]  # applied writes per member marker
    marker: Callable[[dict[str, Any]], str]  # the member marker of a model row
    list_name: str | None = "Audiences | high_value"
    fault_bodies: dict[int, Any] = field(default_factory=dict)
    # the column holding the person id of a row ('u0000057'); None: the identity column
    selector: str | None = None
    # a second write request of a sync (HubSpot: the list membership after the upsert)
    extra_write_path: str | None = None
    batch_size_option: bool = True  # options.batch_size accepted (else the API's batch size)

    @property
    def row_id(self) -> str:
        return self.selector or self.identity


def _email_hash(row: dict[str, Any], api: str) -> str:
    if api == "meta":
        return ids.meta_hash("EMAIL", row["email"])
    return ids.google_hash("email", row["email"], api=api) or ""


def _braze_env(emu: Emulator) -> dict[str, str]:
    return {"BRAZE_REST_ENDPOINT": emu.url, "BRAZE_API_KEY": SECRETS["BRAZE_API_KEY"]}


def _braze_holdings(emu: BrazeEmulator) -> set[str]:
    with emu.lock:
        return {k for k, u in emu.users.items() if u.get("audiences_segments")}


def _braze_sends(emu: BrazeEmulator) -> collections.Counter:
    with emu.lock:
        return collections.Counter(
            (k, json.dumps(w, sort_keys=True)) for k, w in emu.attribute_writes
        )


def _meta_holdings(emu: MetaEmulator) -> set[str]:
    return emu.member_values("Audiences | high_value", "EMAIL")


def _meta_sends(emu: MetaEmulator) -> collections.Counter:
    """Rows added per (hashed) row: a member re-added with other data after a change is a new
    write, the same row added twice is a double send."""
    with emu.lock:
        return collections.Counter(a.row for a in emu.acks if a.kind == "add")


def _dm_holdings(emu: GoogleEmulator) -> set[str]:
    return emu.values(emu.dm_list(ACCOUNT, USER_LIST), "emailAddress")


def _dm_sends(emu: GoogleEmulator) -> collections.Counter:
    with emu.lock:
        return collections.Counter(
            dict(r).get("emailAddress") for k, _, r in emu.dm_acks if k == "ingest"
        )


def _ads_holdings(emu: GoogleEmulator) -> set[str]:
    return emu.values(emu.ads_list("Audiences | high_value"), "hashedEmail")


def _ads_sends(emu: GoogleEmulator) -> collections.Counter:
    with emu.lock:
        emu._advance_jobs()
        return collections.Counter(
            dict(r).get("hashedEmail") for k, _, r in emu.ads_acks if k == "create"
        )


def _hubspot_marker(email: str, props: dict[str, Any]) -> str:
    """A contact as the sync writes it: its email and every mapped property."""
    return json.dumps([email, {k: props.get(k) for k in hubspot_support.MAPPING}], sort_keys=True)


def _hubspot_row_marker(row: dict[str, Any]) -> str:
    return _hubspot_marker(
        str(row["email"]).strip().lower(), hubspot_support.expected_properties(row)
    )


def _hubspot_holdings(emu: HubSpotEmulator) -> set[str]:
    """Members of the sync's list, and every contact still carrying our segment property
    (a removed contact must leave the list and have ``audiences_segments`` cleared)."""
    with emu.lock:
        members = {
            cid
            for lst in emu.lists.values()
            if lst["name"] == hubspot_support.LIST_NAME
            for cid in lst["members"]
        }
        return {
            _hubspot_marker(c["properties"].get("email"), c["properties"])
            for cid, c in emu.contacts.items()
            if cid in members or c["properties"].get("audiences_segments")
        }


def _hubspot_sends(emu: HubSpotEmulator) -> collections.Counter:
    """Every write HubSpot applied and acknowledged: contact upserts per (email, properties),
    list additions / removals and property clears per contact."""
    with emu.lock:
        return collections.Counter(
            (a.kind, a.key, json.dumps(a.properties, sort_keys=True))
            if a.kind in ("upsert", "create")
            else (a.kind, a.key, a.list_id)
            for a in emu.acks
        )


MARKETO_LIST = "Audiences | all synced leads"
MARKETO_MAPPING = {
    "email": "email",
    "firstName": "first_name",
    "lastName": "last_name",
    "phone": "phone",
    "country": "country",
    "city": "city",
    "postalCode": "postal_code",
    "warehouseUserId": "user_id",
    "audiencesSegments": "segments",
    "audiencesRfmSegment": "rfm_segment",
    "audiencesIntentTier": "intent_tier",
    "audiencesLifetimeRevenue": "lifetime_revenue",
    "audiencesOrdersCount": "orders_count",
    "audiencesLastOrderAt": "last_order_at",
}
# the custom lead fields of the emulated instance (REST name -> data type)
MARKETO_FIELDS = {
    "warehouseUserId": "string",
    "audiencesSegments": "text",
    "audiencesRfmSegment": "string",
    "audiencesIntentTier": "string",
    "audiencesLifetimeRevenue": "currency",
    "audiencesOrdersCount": "integer",
    "audiencesLastOrderAt": "datetime",
}


def marketo_rows(n: int, seed: int = 7, start: int = 0) -> list[dict[str, Any]]:
    rows = hubspot_support.make_rows(n, seed=seed, start=start)
    for r in rows:
        r["postal_code"] = None if r["user_id"].endswith("9") else r["user_id"][-5:]
    return rows


def _marketo_marker(email: str, fields: dict[str, Any]) -> str:
    """A lead as the sync writes it: its email and every mapped field (NULL -> '')."""
    values = {f: "" if fields.get(f) is None else str(fields[f]) for f in MARKETO_MAPPING}
    return json.dumps([email, values | {"email": email}], sort_keys=True)


def _marketo_row_marker(row: dict[str, Any]) -> str:
    """What Marketo must hold for a model row: the sync's text rendering (HubSpot's, per
    column) of every mapped column."""
    hubspot = hubspot_support.expected_properties(row)
    by_column = {hubspot_support.MAPPING[prop]: text for prop, text in hubspot.items()}
    by_column["postal_code"] = "" if row["postal_code"] is None else str(row["postal_code"])
    fields = {field: by_column[col] for field, col in MARKETO_MAPPING.items()}
    return _marketo_marker(str(row["email"]).strip().lower(), fields)


def _marketo_holdings(emu: MarketoEmulator) -> set[str]:
    """The leads in the sync's static list (a removed lead leaves the list, keeps its data)."""
    return {
        _marketo_marker(str(lead.get("email")).lower(), lead)
        for lead in emu.list_members(MARKETO_LIST)
    }


def _marketo_sends(emu: MarketoEmulator) -> collections.Counter:
    """Every write Marketo applied: lead creates / updates per (email, fields), list
    additions and removals per lead."""
    with emu.lock:
        return collections.Counter(
            (a.kind, a.key, json.dumps(a.fields, sort_keys=True))
            if a.kind in ("created", "updated")
            else (a.kind, a.key, a.list_id)
            for a in emu.acks
        )


BRAZE_MAPPING = {
    "email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "phone": "phone",
    "country": "country",
    "home_city": "city",
    "audiences_segments": "segments",
    "audiences_rfm_segment": "rfm_segment",
    "audiences_intent_score": "intent_score",
    "audiences_intent_tier": "intent_tier",
    "audiences_lifetime_revenue": "lifetime_revenue",
    "audiences_orders_count": "orders_count",
    "audiences_last_order_at": "last_order_at",
}
BRAZE_OPTIONS = {
    "array_fields": ["audiences_segments"],
    "number_fields": ["audiences_intent_score", "audiences_lifetime_revenue"],
    "integer_fields": ["audiences_orders_count"],
    "time_fields": ["audiences_last_order_at"],
}
META_MAPPING = {
    "EXTERN_ID": "user_id",
    "EMAIL": "email",
    "PHONE": "phone",
    "FN": "first_name",
    "LN": "last_name",
    "CT": "city",
    "ST": "region",
    "ZIP": "postal_code",
    "COUNTRY": "country",
    "DOB": "birth_date",
    "GEN": "gender",
}
GOOGLE_MAPPING = {
    "email": "email",
    "phone": "phone",
    "first_name": "first_name",
    "last_name": "last_name",
    "country": "country",
    "postal_code": "postal_code",
}


def targets(hubspot: bool = False) -> dict[str, Target]:
    """The four destinations of this package, + HubSpot and Marketo with ``hubspot=True``."""
    unlimited = dict(requests_per_window=None)
    out = {
        "braze": Target(
            "braze",
            "aud_braze_users",
            "external_id",
            BRAZE_MAPPING,
            BRAZE_OPTIONS,
            braze_rows,
            lambda: BrazeEmulator(
                config=BrazeConfig(
                    keys={
                        SECRETS["BRAZE_API_KEY"]: {
                            "users.track",
                            "users.delete",
                            "users.export.ids",
                        }
                    },
                    window_seconds=0.2,
                    **unlimited,
                )
            ),
            "/users/track",
            _braze_env,
            _braze_holdings,
            _braze_sends,
            lambda r: r["external_id"],
            list_name=None,
            batch_size_option=False,
        ),
        "meta": Target(
            "meta",
            "aud_meta_custom_audience",
            "user_id",
            META_MAPPING,
            {"ad_account_id": "act_1001", "customer_file_source": "USER_PROVIDED_ONLY"},
            ads_rows,
            lambda: MetaEmulator(
                config=MetaConfig(tokens={SECRETS["META_ACCESS_TOKEN"]}, hourly_base=None)
            ),
            "/users",
            lambda emu: {
                "META_GRAPH_URL": emu.url + "/v25.0",
                "META_ACCESS_TOKEN": SECRETS["META_ACCESS_TOKEN"],
            },
            _meta_holdings,
            _meta_sends,
            lambda r: _email_hash(r, "meta"),
        ),
        "google_data_manager": Target(
            "google_data_manager",
            "aud_google_customer_match",
            "user_id",
            GOOGLE_MAPPING,
            {"account_id": ACCOUNT, "user_list_id": USER_LIST},
            ads_rows,
            lambda: GoogleEmulator(
                config=GoogleConfig(
                    tokens={SECRETS["GOOGLE_ACCESS_TOKEN"]}, dm_per_minute=None, dm_per_day=None
                )
            ),
            "audienceMembers",
            lambda emu: {
                "GOOGLE_DATA_MANAGER_URL": emu.url,
                "GOOGLE_ACCESS_TOKEN": SECRETS["GOOGLE_ACCESS_TOKEN"],
            },
            _dm_holdings,
            _dm_sends,
            lambda r: _email_hash(r, "dm"),
        ),
        "google_ads": Target(
            "google_ads",
            "aud_google_customer_match",
            "user_id",
            GOOGLE_MAPPING,
            {"customer_id": CUSTOMER},
            ads_rows,
            lambda: GoogleEmulator(
                config=GoogleConfig(
                    tokens={SECRETS["GOOGLE_ACCESS_TOKEN"]},
                    developer_tokens={SECRETS["GOOGLE_ADS_DEVELOPER_TOKEN"]},
                    job_seconds=0,
                    ads_daily_operations=None,
                )
            ),
            "addOperations",
            lambda emu: {
                "GOOGLE_ADS_BASE_URL": emu.url,
                "GOOGLE_ACCESS_TOKEN": SECRETS["GOOGLE_ACCESS_TOKEN"],
                "GOOGLE_ADS_DEVELOPER_TOKEN": SECRETS["GOOGLE_ADS_DEVELOPER_TOKEN"],
            },
            _ads_holdings,
            _ads_sends,
            lambda r: _email_hash(r, "ads"),
        ),
    }
    if hubspot:
        out["hubspot"] = Target(
            "hubspot",
            hubspot_support.TABLE,
            "email",
            hubspot_support.MAPPING,
            {"clear_on_removal": ["audiences_segments"]},
            hubspot_support.make_rows,
            lambda: HubSpotEmulator(config=hubspot_support.emulator_config()),
            "batch/upsert",
            lambda emu: {
                "HUBSPOT_BASE_URL": emu.url,
                "HUBSPOT_ACCESS_TOKEN": SECRETS["HUBSPOT_ACCESS_TOKEN"],
            },
            _hubspot_holdings,
            _hubspot_sends,
            _hubspot_row_marker,
            list_name=hubspot_support.LIST_NAME,
            selector="user_id",
            extra_write_path="memberships/add",
            batch_size_option=False,
        )
        out["marketo"] = Target(
            "marketo",
            MARKETO_TABLE,
            "email",
            MARKETO_MAPPING,
            {"list_folder_id": 12},
            marketo_rows,
            lambda: MarketoEmulator(
                config=MarketoConfig(
                    client_id=SECRETS["MARKETO_CLIENT_ID"],
                    tokens={SECRETS["MARKETO_CLIENT_SECRET"]},
                    calls_per_window=None,
                    daily=None,
                    custom_fields=MARKETO_FIELDS,
                )
            ),
            "/rest/v1/leads.json",
            lambda emu: {
                "MARKETO_BASE_URL": emu.url,
                "MARKETO_CLIENT_ID": SECRETS["MARKETO_CLIENT_ID"],
                "MARKETO_CLIENT_SECRET": SECRETS["MARKETO_CLIENT_SECRET"],
            },
            _marketo_holdings,
            _marketo_sends,
            _marketo_row_marker,
            list_name=MARKETO_LIST,
            selector="user_id",
            extra_write_path="/rest/v1/lists/",
        )
    return out


def target(name: str) -> Target:
    return targets(hubspot=True)[name]


FACTORIES = {
    "braze": BrazeDestination.from_sync,
    "meta": MetaDestination.from_sync,
    "google_data_manager": GoogleDataManagerDestination.from_sync,
    "google_ads": GoogleAdsDestination.from_sync,
}


def build(sync: SyncConfig) -> Destination:
    """The four destinations of this suite (+ HubSpot through the engine's own factory)."""
    if sync.destination in FACTORIES:
        return FACTORIES[sync.destination](sync)
    from reverse_etl.destinations.registry import build_destination

    return build_destination(sync)


def make_sync(t: Target, name: str | None = None, **overrides: Any) -> SyncConfig:
    dest = overrides.pop("destination", t.name)
    raw = {
        "name": name or f"{t.name}_sync",
        "model": t.table,
        "mode": "mirror",
        "identity": t.identity,
        "mapping": t.mapping,
        "list": t.list_name or "unused",
        "max_removal_pct": 50,
        "options": t.options,
        "rate_limit": "off",
    }
    raw.update(overrides, destination=dest)
    return SyncConfig.model_validate(raw)


# --- warehouse + manifest ----------------------------------------------------------------------
def create_tables(db: Path, tables: dict[str, dict[str, str]] = TABLES) -> None:
    wh = DuckDBWarehouse(str(db))
    try:
        wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        for table, cols in tables.items():
            wh.execute(
                f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} "
                f"({', '.join(f'{k} {v}' for k, v in cols.items())})"
            )
    finally:
        wh.close()


def insert(db: Path, table: str, rows: list[dict[str, Any]]) -> None:
    cols = list(COLUMNS[table])
    wh = DuckDBWarehouse(str(db))
    try:
        for i in range(0, len(rows), 1000):
            wh.insert_rows(
                f"{SCHEMA}.{table}", cols, [[r.get(c) for c in cols] for r in rows[i : i + 1000]]
            )
    finally:
        wh.close()


def write_manifest(target: Path, extra: dict[str, str] | None = None) -> None:
    """Models of this suite (+ ``extra`` name -> schema) with passing builds."""
    write_dbt_artifacts(target, {n: SCHEMA for n in TABLES} | (extra or {}))


@dataclass
class Env:
    root: Path
    db: Path
    target: Target
    emulator: Emulator
    sync: SyncConfig
    last_destination: Any = None
    #: extra environment of the sync when it runs in a child process (kill -9 tests)
    child_env: dict[str, str] = field(default_factory=dict)

    def project(self) -> Project:
        return Project(path=self.root / "syncs.yml", file=SyncsFile(syncs=[self.sync]))

    def write_syncs(self) -> Path:
        """This env's sync as a syncs.yml next to target/ (for the CLI)."""
        path = self.root / "syncs.yml"
        sync = self.sync.model_dump(mode="json", exclude_none=True)
        path.write_text(
            yaml.safe_dump({"version": 1, "target": "duckdb", "syncs": [sync]}, allow_unicode=True)
        )
        return path

    def factory(self, sync: SyncConfig) -> Destination:
        self.last_destination = build(sync)
        return self.last_destination

    def run(self, **kwargs: Any) -> SyncResult:
        wh = DuckDBWarehouse(str(self.db))
        try:
            engine = SyncEngine(
                self.project(),
                wh,
                destination_factory=self.factory,
                retry_policy=kwargs.pop("retry_policy", FAST_RETRY),
                crash_spec=kwargs.pop("crash_spec", None),
            )
            # (events after the batches are the engine's: the EventsAfterSync capability)
            return engine.run(self.sync, **kwargs)
        finally:
            wh.close()

    def sql(self, sql: str, params: tuple = ()) -> list[tuple]:
        wh = DuckDBWarehouse(str(self.db))
        try:
            return wh.query(sql, params)
        finally:
            wh.close()

    def exec(self, sql: str, params: tuple = ()) -> None:
        wh = DuckDBWarehouse(str(self.db))
        try:
            wh.execute(sql, params)
        finally:
            wh.close()

    def model_rows(self) -> list[dict[str, Any]]:
        cols = list(COLUMNS[self.target.table])
        rows = self.sql(f"SELECT {', '.join(cols)} FROM {SCHEMA}.{self.target.table}")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def expected(self) -> set[str]:
        return {self.target.marker(r) for r in self.model_rows()}

    def assert_destination_equals_model(self) -> None:
        assert self.target.holdings(self.emulator) == self.expected()

    def describe(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "db": str(self.db),
            "target": self.target.name,
            "sync": self.sync.model_dump(),
            "url": self.emulator.url,
        }


def make_env(
    root: Path,
    target: Target,
    rows: list[dict[str, Any]] | None = None,
    n: int = 200,
    emulator: Emulator | None = None,
    **sync_overrides: Any,
) -> Env:
    db = root / "warehouse.duckdb"
    mart = {target.table: COLUMNS[target.table]}
    create_tables(db, {**TABLES, **mart})
    insert(db, target.table, rows if rows is not None else target.make_rows(n))
    write_manifest(root / "target", {target.table: SCHEMA})
    emu = emulator or target.make_emulator().start()
    return Env(root, db, target, emu, make_sync(target, **sync_overrides))


# --- one sync in a child process (kill -9 tests) ---------------------------------------------
def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    t = target(spec["target"])
    sync = SyncConfig.model_validate(spec["sync"])
    env = Env(Path(spec["root"]), Path(spec["db"]), t, _Remote(spec["url"]), sync)
    policy = RetryPolicy(
        max_attempts=10,
        base_seconds=0.01,
        max_wait_seconds=0.1,
        timeout_seconds=float(os.environ.get("AUDIENCES_HTTP_TIMEOUT", "2")),
    )
    trace = bool(os.environ.get("AUDIENCES_TEST_TRACEMALLOC"))
    if trace:
        import tracemalloc

        tracemalloc.start()
    res = env.run(retry_policy=policy, crash_spec=os.environ.get("AUDIENCES_TEST_CRASH_AT"))
    out = res.as_dict()
    if trace:
        out["py_peak"] = tracemalloc.get_traced_memory()[1]
    print(json.dumps(out))
    return 0 if res.status in ("success", "partial") else 1


class _Remote:
    def __init__(self, url: str):
        self.url = url


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
