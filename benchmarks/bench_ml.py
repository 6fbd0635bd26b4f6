"""Benchmark: `audiences ml` at 1M people (personas, propensity, recommendations).

Usage (from the project root, after `make setup`):

    .venv/bin/python benchmarks/bench_ml.py --people 1000000 [--record]

A person-level warehouse this size needs about 30M generated events and a long dbt build,
so the benchmark synthesizes, with DuckDB SQL, exactly the tables the step reads
(analytics_core.dim_users, fct_page_views, fct_sessions, fct_orders;
analytics_intermediate.int_tracker__sessionized_events, int_cart_abandonments;
analytics_staging.stg_esp__email_events, stg_shop__order_items; analytics_seeds.intent_weights)
into benchmarks/.work/ml-<people>.duckdb: per person about --views-per-person product / other
page views over 90 days, add-to-carts on a third of the product views, and orders for a
fifth of the people, buyers browsing more (a planted signal, so the models have something to
learn). Then each step runs as its own process (`audiences ml --only <step>`), timed with its
peak resident memory (--step recommendations: that step alone). Targets: personas < 60 s,
propensity < 120 s, recommendations < 120 s, each < 4 GB. --record appends one row to
benchmarks/RESULTS.md (do it on a quiet machine).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
from process_measure import append_result, measure, result_row

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORK_DIR = PROJECT_DIR / "benchmarks" / ".work"
AS_OF = "2026-11-24 00:00:00"
TARGETS = {"personas": 60.0, "propensity": 120.0, "recommendations": 120.0}
MEMORY_TARGET_MB = 4096.0


def synthesize(path: Path, people: int, views: int, products: int) -> None:
    """The step's input tables for ``people`` people (see the module docstring)."""
    con = duckdb.connect(str(path))
    r = "hash(i, {salt}) % 1000000 / 1000000.0"  # a uniform number per row and salt
    con.execute(f"SET memory_limit = '{os.environ.get('AUDIENCES_DUCKDB_MEMORY_LIMIT', '3GB')}'")
    for schema in ("analytics_core", "analytics_intermediate", "analytics_staging", "raw"):
        con.execute(f"create schema if not exists {schema}")
    con.execute("create schema if not exists analytics_seeds")
    con.execute(
        f"""
        create or replace table analytics_staging.people as
        select
            i,
            'p' || lpad(cast(i as varchar), 8, '0') as person_id,
            {r.format(salt=1)} < 0.2 as buyer,
            {r.format(salt=2)} as activity
        from range({people}) as t(i)
        """
    )
    con.execute(
        f"""
        create or replace table analytics_intermediate.int_tracker__page_views as
        select
            'v' || cast(people.i as varchar) || '_' || cast(n as varchar) as page_view_id,
            people.person_id,
            case when {r.format(salt=3).replace("i,", "people.i * 1000 + n,")} < 0.5
                then 'product' else 'category' end as page_type,
            'prod_' || cast(hash(people.i % 500, n % 7) % {products} as varchar) as product_id,
            timestamp '{AS_OF}' - to_seconds(cast(
                hash(people.i, n, 4) % (90 * 86400 / (1 + cast(people.buyer as int))) as bigint
            )) as viewed_at,
            cast(hash(people.i, n, 5) % 300 as double) as dwell_seconds
        from analytics_staging.people as people,
            range(cast(
                1 + people.activity * {2 * views} * (1 + cast(people.buyer as int)) as bigint
            )) as t(n)
        """
    )
    con.execute(
        """
        create or replace view analytics_core.fct_page_views as
        select * from analytics_intermediate.int_tracker__page_views
        """
    )
    con.execute(
        """
        create or replace table analytics_intermediate.int_tracker__sessionized_events as
        select
            'e' || page_view_id as event_id,
            person_id,
            'add_to_cart' as event_type,
            product_id,
            viewed_at + interval 30 second as occurred_at
        from analytics_intermediate.int_tracker__page_views
        where page_type = 'product' and hash(page_view_id) % 3 = 0
        """
    )
    con.execute(
        """
        create or replace view analytics_core.fct_sessions as
        select person_id, min(viewed_at) as started_at
        from analytics_intermediate.int_tracker__page_views
        group by person_id, date_trunc('day', viewed_at)
        """
    )
    con.execute(
        f"""
        create or replace table analytics_intermediate.int_shop__orders as
        select
            'o' || cast(people.i as varchar) || '_' || cast(n as varchar) as order_id,
            people.person_id,
            timestamp '{AS_OF}' - to_seconds(cast(hash(people.i, n, 6) % (120 * 86400) as bigint))
                as ordered_at,
            true as is_completed,
            20.0 + hash(people.i, n, 7) % 200 as order_total
        from analytics_staging.people as people, range(1 + people.i % 3) as t(n)
        where people.buyer
        """
    )
    con.execute(
        "create or replace view analytics_core.fct_orders as "
        "select * from analytics_intermediate.int_shop__orders"
    )
    con.execute(
        f"""
        create or replace table analytics_staging.stg_shop__order_items as
        select order_id, 'prod_' || cast(hash(order_id) % {products} as varchar) as product_id
        from analytics_intermediate.int_shop__orders
        """
    )
    con.execute(
        """
        create or replace table analytics_intermediate.int_cart_abandonments as
        select person_id, occurred_at + interval 1 hour as abandoned_at, true as is_abandoned
        from analytics_intermediate.int_tracker__sessionized_events
        where hash(event_id) % 4 = 0
        """
    )
    con.execute(
        """
        create or replace table analytics_staging.stg_esp__email_events as
        select person_id as user_id, 'click' as email_event_type, viewed_at as occurred_at
        from analytics_intermediate.int_tracker__page_views
        where hash(page_view_id, 9) % 20 = 0
        """
    )
    con.execute(
        """
        create or replace table analytics_seeds.intent_weights as
        select * from (values ('product_view', 3), ('repeat_product_view', 4),
            ('add_to_cart', 12), ('checkout_start', 20), ('cart_abandonment', 15),
            ('email_click', 6)) as t(behaviour, points)
        """
    )
    con.execute(
        f"""
        create or replace table analytics_core.dim_users as
        with views as (
            select person_id,
                count(*) filter (where viewed_at > timestamp '{AS_OF}' - interval 30 day)
                    as page_views_30d,
                count(*) filter (where viewed_at > timestamp '{AS_OF}' - interval 30 day
                    and page_type = 'product') as product_views_30d,
                count(distinct date_trunc('day', viewed_at))
                    filter (where viewed_at > timestamp '{AS_OF}' - interval 30 day)
                    as sessions_30d,
                max(viewed_at) as last_seen_at
            from analytics_core.fct_page_views group by person_id
        ),
        orders as (
            select person_id, count(*) as orders_lifetime, sum(order_total) as revenue_lifetime
            from analytics_core.fct_orders group by person_id
        )
        select
            people.person_id,
            coalesce(views.sessions_30d, 0) as sessions_30d,
            coalesce(views.page_views_30d, 0) as page_views_30d,
            coalesce(views.product_views_30d, 0) as product_views_30d,
            coalesce(views.product_views_30d, 0) // 3 as add_to_carts_30d,
            coalesce(orders.orders_lifetime, 0) as orders_lifetime,
            coalesce(orders.revenue_lifetime, 0) as revenue_lifetime,
            orders.revenue_lifetime / orders.orders_lifetime as average_order_value,
            date_diff('day', views.last_seen_at, timestamp '{AS_OF}') as days_since_last_visit,
            {r.format(salt=10).replace("i,", "people.i,")} as evening_session_share,
            case when people.i % 7 = 0 then null
                else {r.format(salt=11).replace("i,", "people.i,")} end as email_open_rate_90d,
            case when people.i % 2 = 0 then 'mobile' else 'desktop' end as primary_device_type,
            'cat_' || cast(people.i % 12 as varchar) as top_product_category_lifetime,
            case people.i % 4 when 0 then 'cpc' when 1 then 'email' when 2 then 'paid_social'
                end as first_touch_utm_medium
        from analytics_staging.people as people
        left join views on people.person_id = views.person_id
        left join orders on people.person_id = orders.person_id
        """
    )
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--views-per-person", type=int, default=12)
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--reuse", action="store_true", help="reuse the synthesized file")
    parser.add_argument("--record", action="store_true", help="append a row to the results")
    parser.add_argument("--note", default="", help="free text added to the recorded row")
    parser.add_argument(
        "--step",
        action="append",
        choices=list(TARGETS),
        help="time only this step (repeatable); default all three",
    )
    args = parser.parse_args()

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    db = WORK_DIR / f"ml-{args.people}.duckdb"
    if not (args.reuse and db.exists()):
        db.unlink(missing_ok=True)
        synthesize(db, args.people, args.views_per_person, args.products)
    env = {
        **os.environ,
        "AUDIENCES_DUCKDB_PATH": str(db),
        "AUDIENCES_SCHEMA": "analytics",
        # the step's DuckDB reads: room for the feature aggregations
        "AUDIENCES_SYNC_MEMORY_LIMIT": os.environ.get("AUDIENCES_SYNC_MEMORY_LIMIT", "2GB"),
    }
    figures = []
    ok = True
    for step, limit in TARGETS.items():
        if args.step and step not in args.step:
            continue
        m = measure(
            [str(BIN / "audiences"), "ml", "--as-of", AS_OF.replace(" ", "T"), "--only", step],
            env,
        )
        within = m.seconds < limit and m.peak_rss_mb < MEMORY_TARGET_MB
        ok &= within
        figures.append(
            f"{step} {m.seconds:.1f} s, peak {m.peak_rss_mb:,.0f} MB "
            f"({'within' if within else 'ABOVE'} {limit:.0f} s / 4 GB)"
        )
        print(figures[-1], flush=True)
    command = f"python benchmarks/bench_ml.py --people {args.people}" + "".join(
        f" --step {step}" for step in args.step or ()
    )
    text = f"{args.people:,} synthesized people: " + "; ".join(figures)
    if args.note:
        text += f"; {args.note}"
    if args.record:
        append_result(result_row(command, text))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
