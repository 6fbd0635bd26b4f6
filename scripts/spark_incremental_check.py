"""On Spark, an incremental run gives exactly the rows of a full refresh (`make test-spark`).

The device-keyed models int_tracker__sessionized_events, int_tracker__page_views and
int_tracker__sessions are incremental on Spark with insert_overwrite over hash-bucket
partitions (macros/sessions/incremental_helpers.sql). This check, in a Spark directory and
dbt target path of its own (the main `make test-spark` build is left alone):

1. generates a small data set into a DuckDB file and loads a first slice of it (every raw
   row loaded up to a cut, minus some events held back as late deliveries) into Spark with
   `audiences load-spark`'s loader, then builds `+fct_sessions +fct_page_views`;
2. loads everything: the rest of the data, the held-back events (loaded_at before the first
   slice's watermark but inside the look-back), a second delivery of a few events already
   built, and an erasure request of a person whose device was built in step 1; then runs the
   same selection incrementally;
3. records the three tables' rows (without built_at, bookkeeping, and device_bucket, Spark's
   partition column);
4. runs the selection with --full-refresh and compares the rows as multisets.

It fails, naming the table and the counts of differing rows, when they differ, and also when
the incremental run rebuilt no device or every device (then it would prove nothing).

Rows are read from the tables' Parquet files (under the Spark warehouse directory) with
DuckDB: a second Spark session cannot open the embedded Derby metastore while a dbt
process holds it, and a file Spark had left behind would add rows and fail the check,
never hide a difference.

    python scripts/spark_incremental_check.py [--events 20000] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb

from audiences.generator import GenerationConfig, generate
from audiences.raw_tables import present_raw_tables
from audiences.warehouse_copy import copy_raw_to_spark

PROJECT_DIR = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).with_name("dbt"))
SELECT = ("--select", "+fct_sessions", "+fct_page_views")
#: the device-keyed incremental tables, in schema analytics_intermediate
TABLES = ("int_tracker__sessionized_events", "int_tracker__page_views", "int_tracker__sessions")
BOOKKEEPING = ("built_at", "device_bucket")
#: when each raw row became visible to the warehouse (customers have no loaded_at)
LOAD_TIME = {
    "events": "loaded_at",
    "orders": "loaded_at",
    "email_events": "loaded_at",
    "customers": "updated_at",
}
#: events of the first slice's last 150 minutes held back to the second load (1 in 4)
HELD_BACK = "loaded_at > timestamp '{cut}' - interval 150 minute and md5(event_id) < '4'"


class CheckFailed(Exception):
    """The incremental run and the full refresh disagree, or the check cannot prove it."""


def log(message: str) -> None:
    print(f"[spark-incremental] {message}", flush=True)


def run_dbt(*args: str, target_path: Path, log_path: Path, dbt_vars: str) -> None:
    started = time.perf_counter()
    command = [
        DBT,
        *args,
        "--target",
        "spark",
        "--vars",
        dbt_vars,
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
    ]
    completed = subprocess.run(command, cwd=PROJECT_DIR, check=False)
    if completed.returncode != 0:
        raise CheckFailed(f"`dbt {' '.join(args)}` failed (exit {completed.returncode})")
    log(f"dbt {' '.join(args)}: {time.perf_counter() - started:.0f} s")


def build_slices(source: Path, first: Path, full: Path, cut_quantile: float) -> dict[str, object]:
    """Writes the first load (`first`) and the complete load (`full`) from `source`."""
    for path in (first, full):
        path.unlink(missing_ok=True)
    con = duckdb.connect(str(source), read_only=True)
    tables = present_raw_tables(con, "raw")
    cut = con.execute(
        f"select quantile_disc(loaded_at, {cut_quantile}) from raw.events"
    ).fetchone()[0]
    con.close()
    held_back = HELD_BACK.format(cut=cut)

    con = duckdb.connect(str(first))
    con.execute(f"attach '{source}' as src (read_only)")
    con.execute("create schema raw")
    for table in tables:
        con.execute(f"create table raw.{table} as select * from src.raw.{table} limit 0")
    for table, column in LOAD_TIME.items():
        late = f"and not ({held_back})" if table == "events" else ""
        con.execute(
            f"insert into raw.{table} select * from src.raw.{table} "
            f"where {column} <= timestamp '{cut}' {late}"
        )
    con.execute(
        "insert into raw.order_items select i.* from src.raw.order_items as i "
        "join raw.orders as o on i.order_id = o.order_id"
    )
    if "survey_responses" in tables:
        con.execute(
            "insert into raw.survey_responses select * from src.raw.survey_responses "
            f"where answered_at <= timestamp '{cut}'"
        )
    late_events = con.execute(
        f"select count(*) from src.raw.events where loaded_at <= timestamp '{cut}' and {held_back}"
    ).fetchone()[0]
    watermark = con.execute("select max(loaded_at) from raw.events").fetchone()[0]
    # the person to erase: identified on a device in the first load, not erased yet
    erased_user, erased_device = con.execute(
        """select e.user_id, min(e.anonymous_id) from raw.events as e
           where e.user_id in (select user_id from raw.customers)
             and e.user_id not in (
                 select user_id from raw.customers where deleted_at is not null
             )
           group by e.user_id
           having count(distinct e.anonymous_id) = 1
           order by count(*) desc, e.user_id
           limit 1"""
    ).fetchone()
    con.close()

    shutil.copyfile(source, full)
    con = duckdb.connect(str(full))
    # a second delivery, after the watermark, of events the first run already built
    redelivered = con.execute(
        f"""insert into raw.events
            select * replace (timestamp '{watermark}' + interval 30 minute as loaded_at)
            from raw.events
            where loaded_at <= timestamp '{cut}' - interval 1 day and md5(event_id) like '%00'"""
    ).fetchone()[0]
    # the erasure request arrives after the first load
    con.execute(
        f"""insert into raw.customers
            select * replace (
                timestamp '{watermark}' + interval 1 hour as updated_at,
                timestamp '{watermark}' + interval 1 hour as deleted_at
            )
            from raw.customers where user_id = '{erased_user}'
            order by updated_at desc limit 1"""
    )
    con.close()
    return {
        "cut": cut,
        "watermark": watermark,
        "late_events": late_events,
        "redelivered": redelivered,
        "erased_user": erased_user,
        "erased_device": erased_device,
    }


def table_files(spark_dir: Path, table: str) -> str:
    directory = spark_dir / "warehouse" / "analytics_intermediate.db" / table
    if not directory.is_dir():
        raise CheckFailed(f"no files for analytics_intermediate.{table} under {directory}")
    return f"read_parquet('{directory}/**/*.parquet', hive_partitioning = true)"


def record(con: duckdb.DuckDBPyConnection, spark_dir: Path, prefix: str) -> None:
    """Copies the three tables' rows into `<prefix>__<table>` of the comparison file."""
    for table in TABLES:
        con.execute(
            f"create or replace table {prefix}__{table} as "
            f"select * from {table_files(spark_dir, table)}"
        )


def compare(con: duckdb.DuckDBPyConnection) -> list[str]:
    failures = []
    exclude = ", ".join(BOOKKEEPING)
    for table in TABLES:
        left = f"select * exclude ({exclude}) from incremental__{table}"
        right = f"select * exclude ({exclude}) from full_refresh__{table}"
        only_incremental = con.execute(
            f"select count(*) from ({left} except all {right})"
        ).fetchone()[0]
        only_full = con.execute(f"select count(*) from ({right} except all {left})").fetchone()[0]
        rows = con.execute(f"select count(*) from full_refresh__{table}").fetchone()[0]
        log(
            f"analytics_intermediate.{table}: {rows:,} rows after the full refresh; "
            f"{only_incremental} only after the incremental run, {only_full} only after the "
            "full refresh"
        )
        if only_incremental or only_full:
            failures.append(
                f"analytics_intermediate.{table}: the incremental run differs from the full "
                f"refresh: {only_incremental} rows only after the incremental run, "
                f"{only_full} rows only after the full refresh (of {rows:,})"
            )
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", default="2026-11-24T00:00:00")
    parser.add_argument(
        "--cut",
        type=float,
        default=0.97,
        help="quantile of events.loaded_at where the first load ends (default 0.97)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=PROJECT_DIR / ".test" / "spark-incremental",
        help="DuckDB files, Spark directory (metastore, tables), dbt target path and logs",
    )
    args = parser.parse_args(argv)
    work = args.work_dir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    spark_dir = work / "spark"
    target_path = work / "target"
    log_path = work / "logs"
    os.environ["AUDIENCES_SPARK_DIR"] = str(spark_dir)
    dbt_vars = f"{{as_of: '{args.as_of}'}}"
    started = time.perf_counter()

    source = work / "source.duckdb"
    generate(
        GenerationConfig(
            db_path=source,
            events=args.events,
            seed=args.seed,
            as_of=datetime.fromisoformat(args.as_of),
        )
    )
    first, full = work / "first-load.duckdb", work / "full-load.duckdb"
    plan = build_slices(source, first, full, args.cut)
    log(
        f"first load: raw rows loaded up to {plan['cut']} (watermark {plan['watermark']}), "
        f"{plan['late_events']} of its events held back to the second load; second load adds "
        f"the rest, {plan['redelivered']} second deliveries and the erasure of user "
        f"{plan['erased_user']}"
    )
    if not plan["late_events"] or not plan["redelivered"]:
        raise CheckFailed("no late or re-delivered events: use more --events")
    dbt_args = ("--log-path", str(log_path))

    copy_raw_to_spark(
        first, spark_dir, project_dir=PROJECT_DIR, dbt_args=dbt_args, target_path=str(target_path)
    )
    # the session models read the seeds geo_time_zones and time_zone_offsets
    run_dbt(
        "build",
        *SELECT,
        "--resource-type",
        "model",
        "--resource-type",
        "seed",
        target_path=target_path,
        log_path=log_path,
        dbt_vars=dbt_vars,
    )
    compared = duckdb.connect(str(work / "compare.duckdb"))
    record(compared, spark_dir, "first")
    erased_device_rows = (
        "select count(*) from {}__int_tracker__sessionized_events "
        f"where anonymous_id = '{plan['erased_device']}'"
    )
    erased_rows_before = compared.execute(erased_device_rows.format("first")).fetchone()[0]

    copy_raw_to_spark(
        full, spark_dir, project_dir=PROJECT_DIR, dbt_args=dbt_args, target_path=str(target_path)
    )
    run_dbt("run", *SELECT, target_path=target_path, log_path=log_path, dbt_vars=dbt_vars)
    record(compared, spark_dir, "incremental")
    devices, rebuilt = compared.execute(
        """select count(distinct anonymous_id),
                  count(distinct anonymous_id) filter (where built_at > (
                      select max(built_at) from first__int_tracker__sessionized_events
                  ))
           from incremental__int_tracker__sessionized_events"""
    ).fetchone()
    log(f"the incremental run rebuilt {rebuilt:,} of {devices:,} devices")
    erased_rows_after = compared.execute(erased_device_rows.format("incremental")).fetchone()[0]
    log(
        f"device {plan['erased_device']} of the erased user: {erased_rows_before} sessionized "
        f"events after the first run, {erased_rows_after} after the incremental run"
    )

    run_dbt(
        "run",
        *SELECT,
        "--full-refresh",
        target_path=target_path,
        log_path=log_path,
        dbt_vars=dbt_vars,
    )
    record(compared, spark_dir, "full_refresh")
    failures = compare(compared)
    compared.close()
    if not 0 < rebuilt < devices:
        failures.append(
            f"the incremental run rebuilt {rebuilt} of {devices} devices: the comparison "
            "proves nothing (change --cut or --events)"
        )
    if not erased_rows_before or erased_rows_after:
        failures.append(
            f"device {plan['erased_device']} of erased user {plan['erased_user']} had "
            f"{erased_rows_before} sessionized events before the erasure and "
            f"{erased_rows_after} after the incremental run: expected some, then none"
        )
    if failures:
        raise CheckFailed("\n".join(failures))
    log(
        f"incremental run == full refresh on Spark for {', '.join(TABLES)} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckFailed as error:
        print(f"[spark-incremental] FAILED: {error}", file=sys.stderr)
        sys.exit(1)
