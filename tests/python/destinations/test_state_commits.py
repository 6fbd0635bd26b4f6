"""The per-batch state writes of decision 0018's third round: the ``dest_id`` columns stored
uncompressed on DuckDB, and the adds of the diff a run is sending committed with a plain
INSERT (:meth:`StateStore.fresh_adds`) while every other commit upserts."""

from __future__ import annotations

import os

import pytest

from reverse_etl.core.errors import WarehouseError
from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.state import StateStore
from reverse_etl.state_schema import T_INFLIGHT, T_STATE, ddl
from reverse_etl.warehouse.duckdb import DuckDBWarehouse


def _postgres():
    """The PostgreSQL warehouse of AUDIENCES_PG_DSN / PGHOST (the Makefile's), or a skip."""
    if "AUDIENCES_PG_DSN" not in os.environ and not os.environ.get("PGHOST"):
        pytest.skip("no PostgreSQL configured: set AUDIENCES_PG_DSN or PGHOST/PGDATABASE")
    from reverse_etl.warehouse.postgres import PostgresWarehouse

    try:
        return PostgresWarehouse(os.environ.get("AUDIENCES_PG_DSN", ""))
    except WarehouseError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")


@pytest.fixture
def store(tmp_path):
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    st = StateStore(wh)
    st.ensure()
    yield st
    wh.close()


@pytest.fixture(params=["duckdb", "postgres"])
def any_store(request, tmp_path):
    """A state store on DuckDB, then on PostgreSQL (the sync ``s``'s state emptied)."""
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb")) if request.param == "duckdb" else _postgres()
    st = StateStore(wh)
    st.ensure()
    st.forget("s")
    yield st
    st.forget("s")
    wh.close()


def _state(st: StateStore) -> list[tuple]:
    return st.wh.query(
        f"SELECT key, fingerprint, dest_id, run_id FROM {T_STATE} WHERE sync_name = 's' "
        "ORDER BY key"
    )


def _acked(key: str, action: str, fp: str, dest_id: str) -> tuple[Record, RowResult]:
    return Record(key, action, fp, {"EMAIL": key}), RowResult(key, Outcome.ACKED, dest_id=dest_id)


def test_duckdb_stores_dest_ids_uncompressed_and_other_dialects_plain_text(store):
    (sql,) = store.wh.query("SELECT sql FROM duckdb_tables() WHERE table_name = 'sync_state'")[0]
    assert "DEST_ID VARCHAR USING COMPRESSION UNCOMPRESSED" in sql.upper()
    (staging,) = store.wh.query(
        "SELECT sql FROM duckdb_tables() WHERE table_name = 'replace_staging'"
    )[0]
    assert "DEST_ID VARCHAR USING COMPRESSION UNCOMPRESSED" in staging.upper()
    for dialect in ("postgres", "spark"):
        state = next(s for s in ddl(dialect) if T_STATE in s)
        assert "dest_id VARCHAR," in state and "COMPRESSION" not in state.upper()


def test_state_tables_created_before_keep_working(tmp_path):
    """A state written by an earlier version (dest_id compressed as any text) is read and
    written as before: ``ensure`` leaves the existing tables alone."""
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    try:
        for stmt in ddl("postgres"):  # the tables as the earlier version created them
            wh.execute(stmt)
        st = StateStore(wh)
        st.ensure()
        (sql,) = wh.query("SELECT sql FROM duckdb_tables() WHERE table_name = 'sync_state'")[0]
        assert "COMPRESSION" not in sql.upper()
        with st.fresh_adds("s"):
            st.commit_batch("s", "r1", [_acked("a", "add", "f1", "EMAIL|h1")], {})
        st.commit_batch("s", "r2", [_acked("a", "change", "f2", "EMAIL|h2")], {})
        assert _state(st) == [("a", "f2", "EMAIL|h2", "r2")]
    finally:
        wh.close()


def test_fresh_adds_are_inserted_and_changes_upserted_in_one_commit(any_store, monkeypatch):
    st = any_store
    st.commit_batch("s", "r1", [_acked("b", "add", "fb1", "EMAIL|b1")], {})
    calls: list[tuple[str, int, object]] = []
    warehouse_class = type(st.wh)
    insert = warehouse_class.insert_rows

    def spy(self, table, columns, rows, conflict=None, update=()):
        if table == T_STATE:
            calls.append((table, len(rows), conflict))
        return insert(self, table, columns, rows, conflict, update)

    monkeypatch.setattr(warehouse_class, "insert_rows", spy)
    st.write_inflight(
        "s", "r2", "r2:1", [Record("a", "add", "fa", {}), Record("b", "change", "fb2", {})]
    )
    with st.fresh_adds("s"):
        st.commit_batch(
            "s",
            "r2",
            [_acked("a", "add", "fa", "EMAIL|a"), _acked("b", "change", "fb2", "EMAIL|b2")],
            {"added": 1, "changed": 1},
            batch_id="r2:1",
        )
    assert calls == [(T_STATE, 1, None), (T_STATE, 1, ("sync_name", "key"))]
    assert _state(st) == [("a", "fa", "EMAIL|a", "r2"), ("b", "fb2", "EMAIL|b2", "r2")]
    assert st.inflight_count("s") == 0
    # outside the context (a reconcile, another sync) an add is upserted
    calls.clear()
    st.commit_batch("s", "r3", [_acked("a", "add", "fa3", "EMAIL|a3")], {})
    with st.fresh_adds("other"):
        st.commit_batch("s", "r4", [_acked("c", "add", "fc", "EMAIL|c")], {})
    assert calls == [(T_STATE, 0, None), (T_STATE, 1, ("sync_name", "key"))] * 2
    assert [r[:2] for r in _state(st)] == [("a", "fa3"), ("b", "fb2"), ("c", "fc")]


def test_a_fresh_add_already_in_state_rolls_the_commit_back_and_reconcile_upserts_it(any_store):
    """Should the state hold an added key after all, the commit fails as a whole (the
    batch stays in flight, nothing of it is recorded) and the next run's reconcile, which
    commits outside ``fresh_adds``, upserts it."""
    st = any_store
    st.commit_batch("s", "r1", [_acked("a", "add", "f1", "EMAIL|old")], {})
    batch = [Record("a", "add", "f2", {}), Record("n", "add", "fn", {})]
    st.write_inflight("s", "r2", "r2:1", batch)
    pairs = [_acked("a", "add", "f2", "EMAIL|new"), _acked("n", "add", "fn", "EMAIL|n")]
    with st.fresh_adds("s"), pytest.raises(WarehouseError, match=r"(?i)constraint|duplicate"):
        st.commit_batch("s", "r2", pairs, {"added": 2}, batch_id="r2:1")
    assert _state(st) == [("a", "f1", "EMAIL|old", "r1")]
    assert st.inflight_count("s") == 1
    assert st.runs("s") == []  # (no run row was started here: counters untouched)
    st.commit_batch("s", "r3", pairs, {"reconciled": 2}, batch_id="r2:1")
    assert _state(st) == [("a", "f2", "EMAIL|new", "r3"), ("n", "fn", "EMAIL|n", "r3")]
    assert st.wh.query(f"SELECT count(*) FROM {T_INFLIGHT} WHERE sync_name = 's'") == [(0,)]


def test_fresh_adds_ends_with_its_block(store):
    st = store
    with pytest.raises(RuntimeError), st.fresh_adds("s"):
        raise RuntimeError("boom")
    st.commit_batch("s", "r1", [_acked("a", "add", "f1", "EMAIL|1")], {})
    st.commit_batch("s", "r2", [_acked("a", "add", "f2", "EMAIL|2")], {})  # upserted: no error
    assert _state(st) == [("a", "f2", "EMAIL|2", "r2")]


def test_a_run_inserts_its_adds_and_upserts_its_changes(dest_env, monkeypatch):
    env = dest_env("meta", n=30)
    calls: list[tuple[int, object]] = []
    insert = DuckDBWarehouse.insert_rows

    def spy(self, table, columns, rows, conflict=None, update=()):
        if table == T_STATE and rows:
            calls.append((len(rows), conflict))
        return insert(self, table, columns, rows, conflict, update)

    monkeypatch.setattr(DuckDBWarehouse, "insert_rows", spy)
    first = env.run()
    assert first.status == "success" and first.counts["added"] == 30
    assert calls == [(30, None)]
    calls.clear()
    env.exec(
        "UPDATE main_audiences.aud_meta_custom_audience SET first_name = 'Zed' "
        "WHERE user_id IN ('u0000001', 'u0000002')"
    )
    second = env.run()
    assert second.counts["changed"] == 2, second
    assert calls == [(2, ("sync_name", "key"))]
