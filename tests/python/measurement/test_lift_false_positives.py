"""segment_lift calls "no effect" at the rate it states: 400 segments where sending does
nothing (treated and holdout members convert with the same probability), run through the
real model on a DuckDB file. About 5 % of them may show p < 0.05 and about 95 % of the
intervals must contain 0 (docs/decisions/0010-segment-lift-method.md). A wrong standard
error (too small by half) would flag about 30 % of them, so the test can fail.

The model's inputs are written as tables where dbt resolves its refs (the raw tables exist,
empty, for the run-start contract check), and only segment_lift is run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from math import sqrt
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from dbt_support import create_raw_tables, run_dbt_command

AS_OF = datetime(2026, 11, 24)
SEGMENTS = 400
MEMBERS = 400  # per segment, half held out
CONVERSION = 0.2  # for treated and holdout alike
ALPHA = 0.05


def _inputs(db: Path) -> None:
    rng = np.random.default_rng(20261202)
    n = SEGMENTS * MEMBERS
    segment = np.repeat(np.arange(SEGMENTS), MEMBERS)
    person = np.array([f"p{s}_{i}" for s in range(SEGMENTS) for i in range(MEMBERS)])
    holdout = rng.random(n) < 0.5
    since = AS_OF - timedelta(days=20)
    memberships = pa.table(
        {
            "person_id": person,
            "user_id": person,
            "segment_key": np.char.add("null_", segment.astype(str)),
            "is_holdout": holdout,
            "member_since": pa.array([since] * n, pa.timestamp("us")),
            "as_of": pa.array([AS_OF] * n, pa.timestamp("us")),
        }
    )
    buyers = person[rng.random(n) < CONVERSION]
    orders = pa.table(
        {
            "person_id": buyers,
            "ordered_at": pa.array([since + timedelta(days=3)] * len(buyers), pa.timestamp("us")),
            "is_completed": [True] * len(buyers),
            "order_total": rng.gamma(2.0, 40.0, len(buyers)),
        }
    )
    con = duckdb.connect(str(db))
    try:
        for schema in ("segments", "core", "staging", "intermediate"):
            con.execute(f"create schema analytics_{schema}")
        con.register("memberships", memberships)
        con.register("orders", orders)
        con.execute("create table analytics_segments.segment_memberships as from memberships")
        con.execute("create table analytics_core.fct_orders as from orders")
        con.execute(
            "create table analytics_core.fct_sessions (person_id varchar, started_at timestamp)"
        )
        con.execute(
            "create table analytics_staging.stg_esp__email_events "
            "(user_id varchar, email_event_type varchar, occurred_at timestamp)"
        )
        con.execute(
            "create table analytics_staging.stg_crm__customers (user_id varchar, email varchar, "
            "has_ads_consent boolean, has_email_consent boolean)"
        )
        con.execute(
            "create table analytics_intermediate.int_privacy__erased_users (user_id varchar)"
        )
    finally:
        con.close()


@pytest.fixture(scope="module")
def conversion_rows(tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    work = tmp_path_factory.mktemp("lift_null")
    db = work / "null.duckdb"
    create_raw_tables(db)  # empty: the run-start check wants the raw contract's tables
    _inputs(db)
    run_dbt_command(
        "run",
        "-s",
        "segment_lift",
        "--vars",
        f"{{as_of: '{AS_OF.isoformat()}', lift_window_days: 14}}",
        db=db,
        work_dir=work,
    )
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select treated_members, holdout_members, p_value, ci_low, ci_high "
            "from analytics_measurement.segment_lift "
            "where metric = 'conversion_rate' and destination = 'all'"
        ).fetchall()
    finally:
        con.close()


def test_every_null_segment_is_measured(conversion_rows):
    assert len(conversion_rows) == SEGMENTS
    assert sum(t + h for t, h, *_ in conversion_rows) == SEGMENTS * MEMBERS


def test_no_effect_is_called_significant_at_about_the_stated_rate(conversion_rows):
    significant = sum(1 for _, _, p_value, _, _ in conversion_rows if p_value < ALPHA)
    # binomial(400, 0.05): mean 20, standard deviation 4.4; +/- 3.5 standard deviations (an
    # interval too wide by half would find almost none, too narrow by half about 120)
    spread = 3.5 * sqrt(SEGMENTS * ALPHA * (1 - ALPHA))
    assert SEGMENTS * ALPHA - spread <= significant <= SEGMENTS * ALPHA + spread, significant


def test_intervals_cover_the_true_difference_of_zero_at_about_95_percent(conversion_rows):
    covering = sum(1 for *_, low, high in conversion_rows if low <= 0 <= high)
    spread = 3.5 * sqrt(SEGMENTS * ALPHA * (1 - ALPHA))
    assert SEGMENTS * (1 - ALPHA) - spread <= covering <= SEGMENTS, covering
