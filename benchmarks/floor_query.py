"""The build floor: the core work of the session models as one hand-written DuckDB script.

The yardstick of issue 14 (docs/decisions/0014-build-at-the-speed-of-the-engine.md): the
session models are measured as a ratio of this script in the same benchmark run (absolute
times are noisy on a shared machine).

It reads raw.events of a warehouse file and writes two tables into schema `floor` (the
sequenced events in between stay in memory, as a temp table):
  floor.page_views  one row per page view: session, dwell seconds (time to the next event of
                    the device when that is at most 30 minutes later)
  floor.sessions    one row per session: start, end, duration, page views, events, engaged
                    seconds, add-to-cart flag
Events are de-duplicated by event_id (first delivery by loaded_at, then occurred_at); a gap of
more than 30 minutes between two events of a device starts a new session. No identity
stitching, no erasure, no campaign split, no tracker sessions, no local time: the floor is the
part of the work every session model must do.

Usage: python benchmarks/floor_query.py DB [--keep] [--memory-limit 4GB]
prints "floor S s for N sessions, M page views" (--keep leaves the tables; otherwise schema
`floor` is dropped at the end).
"""

from __future__ import annotations

import argparse
import time

import duckdb

SQL = """
create or replace temp table sequenced as
with deduplicated as (
    select
        event_id, anonymous_id, user_id, event_type, page_type, page_url, product_id,
        product_category, engaged_seconds, occurred_at
    from raw.events
    qualify row_number() over (partition by event_id order by loaded_at, occurred_at) = 1
),
gaps as (
    select
        *,
        lead(occurred_at) over device as next_at,
        case
            when lag(occurred_at) over device is null
              or occurred_at - lag(occurred_at) over device > interval 30 minute then 1
            else 0
        end as is_new_session
    from deduplicated
    window device as (partition by anonymous_id order by occurred_at, event_id)
)
select
    * exclude (is_new_session),
    sum(is_new_session) over (
        partition by anonymous_id order by occurred_at, event_id rows unbounded preceding
    ) as session_index
from gaps;

create or replace table floor.page_views as
select
    event_id as page_view_id,
    md5(anonymous_id || '-' || session_index) as session_id,
    anonymous_id, user_id, page_type, page_url, product_id, product_category,
    occurred_at as viewed_at,
    case when next_at - occurred_at <= interval 30 minute
         then epoch(next_at) - epoch(occurred_at) end as dwell_seconds
from sequenced
where event_type = 'page_view';

create or replace table floor.sessions as
select
    md5(anonymous_id || '-' || session_index) as session_id,
    anonymous_id,
    any_value(user_id) as user_id,
    min(occurred_at) as started_at,
    max(occurred_at) as ended_at,
    epoch(max(occurred_at)) - epoch(min(occurred_at)) as duration_seconds,
    count(*) filter (where event_type = 'page_view') as page_views,
    count(*) as events,
    sum(coalesce(engaged_seconds, 0)) filter (where event_type = 'page_ping') as engaged_seconds,
    bool_or(event_type = 'add_to_cart') as has_add_to_cart
from sequenced
group by anonymous_id, session_index;

drop table sequenced;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit (default: DuckDB's own)")
    args = parser.parse_args()
    config = {"memory_limit": args.memory_limit} if args.memory_limit else {}
    con = duckdb.connect(args.db, config=config)
    con.execute("create schema if not exists floor")
    started = time.perf_counter()
    con.execute(SQL)
    seconds = time.perf_counter() - started
    sessions = con.execute("select count(*) from floor.sessions").fetchone()[0]
    page_views = con.execute("select count(*) from floor.page_views").fetchone()[0]
    if not args.keep:
        con.execute("drop schema floor cascade")
    print(f"floor {seconds:.2f} s for {sessions} sessions, {page_views} page views")


if __name__ == "__main__":
    main()
