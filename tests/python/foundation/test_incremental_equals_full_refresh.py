"""Invariant: incremental runs in any chunking give exactly the rows of one full refresh."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
from dbt_support import BUILD_SEEDS_AND_MODELS, LOCAL_TIME_SEEDS, create_raw_tables

from audiences.generator import GenerationConfig, generate

AS_OF = "{as_of: '2026-11-25T00:00:00'}"
MODELS = ("+fct_sessions", "+fct_page_views", "+fct_orders")
SELECT = ("--select", *MODELS)
# sessions read the seeds geo_time_zones and time_zone_offsets for their local time: the
# first run on each warehouse builds them too (seeds and models, one dbt start-up)
FIRST_RUN = (*BUILD_SEEDS_AND_MODELS, "--vars", AS_OF, "--select", *LOCAL_TIME_SEEDS, *MODELS)
COMPARED = (
    "analytics_intermediate.int_identity__device_users",
    "analytics_intermediate.int_tracker__sessionized_events",
    "analytics_core.fct_page_views",
    "analytics_core.fct_sessions",
    "analytics_core.fct_orders",
)
BUILT_AT_TABLES = ("analytics_intermediate.int_tracker__",)
# When each raw row became visible to the warehouse (customers have no loaded_at).
LOAD_TIME = {
    "events": "loaded_at",
    "orders": "loaded_at",
    "email_events": "loaded_at",
    "customers": "updated_at",
}


def _load_slice(source: Path, target: Path, after: str | None, until: str) -> None:
    con = duckdb.connect(str(target))
    con.execute(f"attach '{source}' as src (read_only)")
    for table, column in LOAD_TIME.items():
        lower = f"and {column} > timestamp '{after}'" if after else ""
        con.execute(
            f"insert into raw.{table} select * from src.raw.{table} "
            f"where {column} <= timestamp '{until}' {lower}"
        )
    lower = f"and o.loaded_at > timestamp '{after}'" if after else ""
    con.execute(
        f"""insert into raw.order_items select i.* from src.raw.order_items i
            join src.raw.orders o on i.order_id = o.order_id
            where o.loaded_at <= timestamp '{until}' {lower}"""
    )
    con.close()


def _differences(left: Path, right: Path, relation: str) -> tuple[int, int]:
    con = duckdb.connect()
    con.execute(f"attach '{left}' as l (read_only)")
    con.execute(f"attach '{right}' as r (read_only)")
    # built_at says when a run rebuilt the device, not what the rows hold
    columns = "* exclude (built_at)" if relation.startswith(BUILT_AT_TABLES) else "*"
    only_left = con.execute(
        f"select count(*) from (select {columns} from l.{relation} "
        f"except all select {columns} from r.{relation})"
    ).fetchone()[0]
    only_right = con.execute(
        f"select count(*) from (select {columns} from r.{relation} "
        f"except all select {columns} from l.{relation})"
    ).fetchone()[0]
    con.close()
    return only_left, only_right


def test_chunked_incremental_runs_equal_one_full_refresh(tmp_path, run_dbt):
    source = tmp_path / "source.duckdb"
    generate(GenerationConfig(db_path=source, events=30_000, seed=11, as_of=datetime(2026, 11, 24)))
    generate(
        GenerationConfig(
            db_path=source, events=3_000, seed=12, as_of=datetime(2026, 11, 25), append=True
        )
    )
    con = duckdb.connect(str(source), read_only=True)
    cuts = [
        str(value)
        for value in con.execute(
            """select quantile_disc(loaded_at, [0.6, 0.85, 0.97, 1.0]) from raw.events"""
        ).fetchone()[0]
    ]
    con.close()
    cuts[-1] = "2100-01-01 00:00:00"

    chunked = tmp_path / "chunked.duckdb"
    create_raw_tables(chunked)
    previous = None
    for cut in cuts:
        _load_slice(source, chunked, previous, cut)
        if previous is None:
            run_dbt(*FIRST_RUN, db=chunked)
        else:
            run_dbt("run", "--vars", AS_OF, *SELECT, db=chunked)
        previous = cut

    full = tmp_path / "full.duckdb"
    create_raw_tables(full)
    _load_slice(source, full, None, cuts[-1])
    run_dbt(*FIRST_RUN, "--full-refresh", db=full)

    con = duckdb.connect(str(full), read_only=True)
    sessions = con.execute("select count(*) from analytics_core.fct_sessions").fetchone()[0]
    con.close()
    assert sessions > 500, "the data set is too small to prove anything"
    for relation in COMPARED:
        assert _differences(chunked, full, relation) == (0, 0), relation
