"""Every table the sync engine creates, in one place (schema ``reverse_etl``).

- ``sync_state``: what the destination holds for each key, as last acknowledged: the
  fingerprint of the sent fields and the destination's id.
- ``sync_accounts``: the destination account (base URL, portal / workspace / ad account)
  each sync's state belongs to; a sync pointed at another account does not reuse it.
- ``inflight``: write-ahead record of the batch being sent (see ADR 0003).
- ``runs``: run history with counts per action and status.
- ``rejections``: rows the destination refused, with its message and attempt count.
- ``replace_staging``: rows a full replace had acknowledged so far; they become
  ``sync_state`` in one transaction when the session completes.
- ``event_outbox`` / ``event_outbox_syncs``: events to deliver exactly once (ADR 0005).
- ``google_dm_requests``: Data Manager ``requestId``s, for Google's diagnostics endpoint.
- ``sync_campaigns``: each sync's ``utm_campaign`` convention as of its last run, read by
  the dbt mart ``campaign_attribution`` (kept when the sync is forgotten or removed: past
  visits still name it).
- ``run_metrics``: named counts of a run beyond the ``runs`` counters (docs/match-rates.md):
  the audience size, identifiers dropped as malformed, what the platform reported.

Only :mod:`reverse_etl.state`, :mod:`reverse_etl.event_outbox` and :mod:`reverse_etl.diff`
read or write these tables.
"""

from __future__ import annotations

from reverse_etl.warehouse.base import Warehouse

SCHEMA = "reverse_etl"
T_STATE = f"{SCHEMA}.sync_state"
T_INFLIGHT = f"{SCHEMA}.inflight"
T_RUNS = f"{SCHEMA}.runs"
T_REJECTIONS = f"{SCHEMA}.rejections"
T_REPLACE = f"{SCHEMA}.replace_staging"
T_ACCOUNTS = f"{SCHEMA}.sync_accounts"
T_OUTBOX = f"{SCHEMA}.event_outbox"
T_OUTBOX_SYNCS = f"{SCHEMA}.event_outbox_syncs"
T_REQUESTS = f"{SCHEMA}.google_dm_requests"
T_METRICS = f"{SCHEMA}.run_metrics"
T_CAMPAIGNS = f"{SCHEMA}.sync_campaigns"

#: Stands for the type of the ``dest_id`` columns in :data:`DDL` (see :func:`ddl`).
DEST_ID = "{dest_id_type}"
#: On DuckDB the ``dest_id`` columns are stored uncompressed. A Meta member's ``dest_id`` is
#: its whole hashed row (a dozen hex SHA-256 values, ~830 characters), and DuckDB 2.0 spent
#: a large part of each checkpoint compressing those random strings (DICT_FSST): about 5 µs
#: of CPU a row of a first Meta sync, on the engine's critical path. Uncompressed they take
#: ~1.7x the disk (decision 0018, "Third round"). Only tables created from now on: DuckDB
#: cannot change the compression of an existing column.
DEST_ID_TYPE = {"duckdb": "VARCHAR USING COMPRESSION uncompressed"}

DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {T_STATE} (
        sync_name VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        dest_id {DEST_ID},
        synced_at TIMESTAMP NOT NULL,
        run_id VARCHAR NOT NULL,
        PRIMARY KEY (sync_name, key))""",
    f"""CREATE TABLE IF NOT EXISTS {T_INFLIGHT} (
        sync_name VARCHAR NOT NULL,
        batch_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        rows_count INTEGER NOT NULL,
        records VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (sync_name, batch_id))""",
    f"""CREATE TABLE IF NOT EXISTS {T_RUNS} (
        run_id VARCHAR PRIMARY KEY,
        sync_name VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        mode VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        ended_at TIMESTAMP,
        status VARCHAR NOT NULL,
        added BIGINT NOT NULL DEFAULT 0,
        changed BIGINT NOT NULL DEFAULT 0,
        removed BIGINT NOT NULL DEFAULT 0,
        unchanged BIGINT NOT NULL DEFAULT 0,
        rejected BIGINT NOT NULL DEFAULT 0,
        reconciled BIGINT NOT NULL DEFAULT 0,
        requests BIGINT NOT NULL DEFAULT 0,
        retries BIGINT NOT NULL DEFAULT 0,
        error VARCHAR)""",
    f"""CREATE TABLE IF NOT EXISTS {T_REJECTIONS} (
        sync_name VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        error VARCHAR NOT NULL,
        attempts INTEGER NOT NULL,
        first_seen_at TIMESTAMP NOT NULL,
        last_seen_at TIMESTAMP NOT NULL,
        last_run_id VARCHAR NOT NULL,
        PRIMARY KEY (sync_name, key))""",
    f"""CREATE TABLE IF NOT EXISTS {T_REPLACE} (
        sync_name VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        dest_id {DEST_ID},
        run_id VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {T_ACCOUNTS} (
        sync_name VARCHAR PRIMARY KEY,
        destination VARCHAR NOT NULL,
        account VARCHAR NOT NULL,
        bound_at TIMESTAMP NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {T_OUTBOX} (
        sync_name VARCHAR NOT NULL,
        person_id VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL,
        segment_key VARCHAR NOT NULL,
        change VARCHAR NOT NULL,
        changed_at TIMESTAMP NOT NULL,
        status VARCHAR NOT NULL,
        attempt_id VARCHAR,
        attempts INTEGER NOT NULL DEFAULT 0,
        error VARCHAR,
        enqueued_at TIMESTAMP NOT NULL,
        sent_at TIMESTAMP,
        PRIMARY KEY (sync_name, person_id, segment_key, change, changed_at))""",
    f"""CREATE TABLE IF NOT EXISTS {T_OUTBOX_SYNCS} (
        sync_name VARCHAR PRIMARY KEY,
        started_at TIMESTAMP NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {T_REQUESTS} (
        sync_name VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        request_id VARCHAR NOT NULL,
        recorded_at TIMESTAMP NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {T_METRICS} (
        run_id VARCHAR NOT NULL,
        sync_name VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        value BIGINT NOT NULL,
        PRIMARY KEY (run_id, metric))""",
    f"""CREATE TABLE IF NOT EXISTS {T_CAMPAIGNS} (
        sync_name VARCHAR NOT NULL PRIMARY KEY,
        destination VARCHAR NOT NULL,
        utm_campaign VARCHAR NOT NULL,
        campaign_prefix VARCHAR NOT NULL,
        campaign_suffix VARCHAR NOT NULL,
        has_segment_key BOOLEAN NOT NULL,
        segment_key VARCHAR,
        recorded_at TIMESTAMP NOT NULL)""",
]

#: tables holding a sync's state (what forgetting a sync deletes; runs stay as history)
SYNC_STATE_TABLES = (T_STATE, T_INFLIGHT, T_REJECTIONS, T_REPLACE, T_ACCOUNTS)


def ddl(dialect: str) -> list[str]:
    """:data:`DDL` for a warehouse dialect (the ``dest_id`` columns' type filled in)."""
    dest_id_type = DEST_ID_TYPE.get(dialect, "VARCHAR")
    return [stmt.replace(DEST_ID, dest_id_type) for stmt in DDL]


def ensure(wh: Warehouse) -> None:
    """Create the schema and every table if missing (idempotent)."""
    for stmt in ddl(wh.dialect):
        wh.execute(stmt)
