"""The warehouse interface on DuckDB and PostgreSQL, and a full sync on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from datetime import datetime

import pytest
from retl_support import (
    FAST_RETRY,
    LIST_NAME,
    MAPPING,
    TABLE,
    create_table,
    expected_properties,
    insert_rows,
    make_rows,
    write_manifest,
)

from reverse_etl.config import load_project
from reverse_etl.core.errors import WarehouseError
from reverse_etl.engine import SyncEngine
from reverse_etl.state import StateStore
from reverse_etl.warehouse import connect
from reverse_etl.warehouse.duckdb import DuckDBWarehouse


def _pg_dsn() -> str | None:
    dsn = os.environ.get("AUDIENCES_PG_DSN")
    if dsn is None and not os.environ.get("PGHOST"):
        return None
    return dsn or ""


def _pg_or_skip():
    dsn = _pg_dsn()
    if dsn is None:
        pytest.skip(
            "no PostgreSQL configured: set AUDIENCES_PG_DSN or PGHOST/PGUSER/PGPASSWORD/PGDATABASE"
        )
    from reverse_etl.warehouse.postgres import PostgresWarehouse

    try:
        return PostgresWarehouse(dsn)
    except WarehouseError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")


@pytest.fixture(params=["duckdb", "postgres"])
def wh(request, tmp_path):
    if request.param == "duckdb":
        w = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
        schema = "s_test"
    else:
        w = _pg_or_skip()
        schema = f"s_{uuid.uuid4().hex[:10]}"
    w.execute(f"CREATE SCHEMA {schema}")
    w.test_schema = schema
    yield w
    if request.param == "postgres":
        w.execute(f"DROP SCHEMA {schema} CASCADE")
    w.close()


def test_stream_yields_bounded_batches_of_one_snapshot(wh):
    s = wh.test_schema
    wh.execute(f"CREATE TABLE {s}.t (i INTEGER PRIMARY KEY, v VARCHAR)")
    wh.insert_rows(f"{s}.t", ["i", "v"], [(i, f"v{i}") for i in range(2500)])
    sizes, seen = [], 0
    for batch in wh.stream(f"SELECT i, v FROM {s}.t WHERE i >= ?", (0,), batch_size=1000):
        sizes.append(len(batch))
        seen += len(batch)
        # writes committed meanwhile on the main connection are not seen by the stream
        wh.execute(f"INSERT INTO {s}.t VALUES (?, 'late')", (100_000 + seen,))
    assert sizes == [1000, 1000, 500]
    assert wh.query(f"SELECT count(*) FROM {s}.t")[0][0] == 2503


def test_transaction_rolls_back_and_upsert_updates(wh):
    s = wh.test_schema
    wh.execute(f"CREATE TABLE {s}.t (k VARCHAR PRIMARY KEY, n INTEGER)")
    wh.insert_rows(f"{s}.t", ["k", "n"], [("a", 1), ("b", 2)])
    with pytest.raises(RuntimeError), wh.transaction():
        wh.execute(f"UPDATE {s}.t SET n = 99")
        raise RuntimeError("boom")
    assert wh.query(f"SELECT k, n FROM {s}.t ORDER BY k") == [("a", 1), ("b", 2)]
    wh.insert_rows(f"{s}.t", ["k", "n"], [("b", 20), ("c", 3)], conflict=["k"], update=["n"])
    assert wh.query(f"SELECT k, n FROM {s}.t ORDER BY k") == [("a", 1), ("b", 20), ("c", 3)]


def test_text_rendering_is_what_the_destination_receives(wh):
    s = wh.test_schema
    dbl = "DOUBLE PRECISION" if wh.dialect == "postgres" else "DOUBLE"
    wh.execute(f"CREATE TABLE {s}.t (ts TIMESTAMP, b BOOLEAN, d {dbl}, n INTEGER, x VARCHAR)")
    wh.execute(
        f"INSERT INTO {s}.t VALUES (?, TRUE, 412.5, 7, 'a;b'), (NULL, FALSE, NULL, NULL, NULL)",
        (datetime(2026, 3, 2, 11, 15, 0),),
    )
    cols = wh.columns(s, "t")
    exprs = ", ".join(wh.to_text(c, cols[c]) for c in ("ts", "b", "d", "n", "x"))
    rows = wh.query(f"SELECT {exprs} FROM {s}.t ORDER BY n NULLS LAST")
    assert rows == [
        ("2026-03-02T11:15:00Z", "true", "412.5", "7", "a;b"),
        (None, "false", None, None, None),
    ]


def test_unknown_target_is_a_config_error():
    from reverse_etl.core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown warehouse target"):
        connect("oracle")


def test_full_sync_on_postgres(tmp_path, hubspot):
    pg = _pg_or_skip()
    schema = f"aud_{uuid.uuid4().hex[:10]}"
    try:
        create_table(pg, schema)
        rows = make_rows(260)
        insert_rows(pg, rows, f"{schema}.{TABLE}")
        state = StateStore(pg)
        state.ensure()
        state.forget("pg_contacts")
        write_manifest(tmp_path / "target", schema=schema)
        import yaml

        (tmp_path / "syncs.yml").write_text(
            yaml.safe_dump(
                {
                    "target": "postgres",
                    "syncs": [
                        {
                            "name": "pg_contacts",
                            "model": TABLE,
                            "destination": "hubspot",
                            "mode": "mirror",
                            "identity": "email",
                            "list": LIST_NAME,
                            "mapping": MAPPING,
                            "rate_limit": "off",
                            "options": {"clear_on_removal": ["audiences_segments"]},
                        }
                    ],
                },
                allow_unicode=True,
            )
        )
        project = load_project(tmp_path / "syncs.yml")
        engine = SyncEngine(project, pg, retry_policy=FAST_RETRY)
        sync = project.file.syncs[0]
        res = engine.run(sync)
        assert res.status == "success" and res.counts["added"] == 260
        assert hubspot.list_members(LIST_NAME) == {r["email"] for r in rows}
        for r in rows[:20]:
            got = hubspot.contact_by_email(r["email"])["properties"]
            assert {k: got[k] for k in MAPPING} == expected_properties(r)
        calls = hubspot.api_calls
        assert engine.run(sync).counts == {"unchanged": 260}
        assert hubspot.api_calls == calls
        pg.execute(
            f"UPDATE {schema}.{TABLE} SET city = 'Oslo' WHERE email = ?", (rows[3]["email"],)
        )
        pg.execute(f"DELETE FROM {schema}.{TABLE} WHERE email = ?", (rows[4]["email"],))
        res = engine.run(sync)
        assert (res.counts["changed"], res.counts["removed"], res.counts["unchanged"]) == (
            1,
            1,
            258,
        )
        assert hubspot.contact_by_email(rows[3]["email"])["properties"]["city"] == "Oslo"
        assert rows[4]["email"] not in hubspot.list_members(LIST_NAME)
    finally:
        pg.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        StateStore(pg).forget("pg_contacts")
        pg.execute("DELETE FROM reverse_etl.runs WHERE sync_name = 'pg_contacts'")
        pg.close()


def test_duckdb_path_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(tmp_path / "env.duckdb"))
    monkeypatch.delenv("AUDIENCES_SYNC_MEMORY_LIMIT", raising=False)
    w = connect("duckdb")
    assert w.path == str(tmp_path / "env.duckdb")
    # the sync's own memory cap (256 MB = 244.1 MiB), not dbt's AUDIENCES_DUCKDB_MEMORY_LIMIT
    assert w.query("SELECT current_setting('memory_limit')") == [("244.1 MiB",)]
    w.close()
    monkeypatch.setenv("AUDIENCES_SYNC_MEMORY_LIMIT", "1GB")
    w = connect("duckdb")
    assert w.query("SELECT current_setting('memory_limit')") == [("953.6 MiB",)]
    w.close()


def test_duckdb_out_of_memory_names_the_cap_to_raise(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIENCES_SYNC_MEMORY_LIMIT", "16MB")
    w = DuckDBWarehouse.from_env(str(tmp_path / "small.duckdb"))
    w.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY)")
    with pytest.raises(WarehouseError) as caught, w.transaction():
        w.execute("INSERT INTO t SELECT 'key-' || i::VARCHAR FROM range(2000000) r(i)")
    message = str(caught.value)
    assert "AUDIENCES_SYNC_MEMORY_LIMIT=16MB" in message and "raise it" in message
    w.close()


def test_replace_stages_then_swaps_the_state_in_one_step(wh):
    from reverse_etl.core.records import Outcome, Record, RowResult
    from reverse_etl.state_schema import T_REPLACE, T_STATE

    st, name = StateStore(wh), f"swap_{uuid.uuid4().hex[:8]}"
    st.ensure()
    try:
        first = st.start_run(name, "meta", "mirror")
        st.commit_batch(
            name,
            first,
            [
                (Record(k, "add", "old"), RowResult(k, Outcome.ACKED, dest_id=f"old-{k}"))
                for k in "abc"
            ],
            {"added": 3},
        )
        run = st.start_run(name, "meta", "replace")
        st.begin_replace(name)
        pairs = [
            (Record(k, "add", "new"), RowResult(k, Outcome.ACKED, dest_id=f"new-{k}"))
            for k in "bcd"
        ]
        pairs.append((Record("e", "add", "new"), RowResult("e", Outcome.REJECTED, error="bad")))
        st.stage_replaced(name, run, pairs, {"added": 3, "rejected": 1})
        # staged, not yet state: the session has not completed
        assert wh.query(
            f"SELECT key, fingerprint FROM {T_STATE} WHERE sync_name = ? ORDER BY key", (name,)
        ) == [("a", "old"), ("b", "old"), ("c", "old")]
        st.commit_replace(name, run, {"removed": 1})
        assert wh.query(
            f"SELECT key, fingerprint, dest_id, run_id FROM {T_STATE} "
            "WHERE sync_name = ? ORDER BY key",
            (name,),
        ) == [("b", "new", "new-b", run), ("c", "new", "new-c", run), ("d", "new", "new-d", run)]
        assert wh.query(f"SELECT count(*) FROM {T_REPLACE} WHERE sync_name = ?", (name,)) == [(0,)]
        assert [(r.key, r.attempts) for r in st.rejections(name)] == [("e", 1)]
    finally:
        st.forget(name)
        wh.execute("DELETE FROM reverse_etl.runs WHERE sync_name = ?", (name,))
