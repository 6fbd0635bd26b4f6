"""Every mart built on DuckDB and on PostgreSQL from the same raw data and `as_of` is the same.

The raw tables are written once into DuckDB, copied into a PostgreSQL database created for
this run only (dropped afterwards), and the project is built on both engines. Each model under
models/marts (found in the DuckDB build's manifest) is then compared row for row: columns
other than floating-point ones must be identical; floating-point values must agree within
FLOAT_REL_TOLERANCE (relative) or FLOAT_ABS_TOLERANCE (absolute, for values near zero).

Timestamps recorded at build time (e.g. when a snapshot observed a change: every value of
the column on both engines falls inside this test's own run) cannot be equal across two
builds; they are checked to lie in that window instead. A column can also opt out with
`meta: {compare_across_engines: false}` in its model's YAML.

Without a reachable PostgreSQL the test is skipped with a message, except in CI (env CI set),
where it fails: `make postgres-up` (scripts/postgres_up.sh) starts a local server.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg2
import pytest
from dbt_support import RunningDbt, start_dbt_command, wait_dbt_command
from engines.small_raw import build_small_raw

from audiences.warehouse_copy import copy_raw_schema

FLOAT_REL_TOLERANCE = 1e-9
FLOAT_ABS_TOLERANCE = 1e-9
EVENTS = int(os.environ.get("AUDIENCES_ENGINE_TEST_EVENTS", "20000"))
MAX_REPORTED_DIFFERENCES = 5


def _start_build(
    dbt_vars: str, *, target: str, db: Path, work_dir: Path, pg: dict[str, str]
) -> RunningDbt:
    """Starts `dbt build` on one engine. Unit tests are left out: their inputs and expected
    rows are fixtures, not the warehouse's data, so they give the same answer here as in
    `make build-test-warehouse` and `make build-postgres`, which run every one of them on
    both engines; the data tests run here, on this test's data, as before."""
    env = {
        "AUDIENCES_TARGET": target,
        "PGHOST": pg["host"],
        "PGPORT": str(pg["port"]),
        "PGUSER": pg["user"],
        "PGPASSWORD": pg["password"],
        "PGDATABASE": pg["dbname"],
    }
    # --target overrides the AUDIENCES_TARGET that start_dbt_command pins
    return start_dbt_command(
        "build",
        "--vars",
        dbt_vars,
        "--exclude-resource-type",
        "unit_test",
        "--target",
        target,
        db=db,
        work_dir=work_dir / target,
        env=env,
    )


def _marts(manifest_path: Path) -> list[tuple[str, str, str, set[str]]]:
    """(name, schema, relation name, columns opted out) of every materialized mart model."""
    manifest = json.loads(manifest_path.read_text())
    marts = []
    for node in manifest["nodes"].values():
        if (
            node["resource_type"] == "model"
            and node["original_file_path"].startswith("models/marts/")
            and node["config"].get("enabled", True)
            and node["config"]["materialized"] != "ephemeral"
        ):
            skipped = {
                name.lower()
                for name, column in node.get("columns", {}).items()
                if (column.get("meta") or {}).get("compare_across_engines") is False
                or (column.get("config", {}).get("meta") or {}).get("compare_across_engines")
                is False
            }
            marts.append((node["name"], node["schema"], node["alias"], skipped))
    return sorted(marts)


def _build_time_columns(
    columns: list[str], rows: list[tuple], windows: list[tuple[datetime, datetime]]
) -> set[int]:
    """Timestamp columns whose every value lies in one of the build windows."""
    found = set()
    for index in range(len(columns)):
        values = [r[index] for r in rows if r[index] is not None]
        if not values or not all(isinstance(v, datetime) for v in values):
            continue
        naive = [v.replace(tzinfo=None) for v in values]
        if any(all(start <= v <= end for v in naive) for start, end in windows):
            found.add(index)
    return found


def _is_float(value: object) -> bool:
    return isinstance(value, float)


def _canonical(value: object) -> object:
    """A value both engines spell the same way (Decimal('2.50') == Decimal('2.5'))."""
    if isinstance(value, Decimal):
        return value.normalize() if value == value.to_integral_value() else value
    if isinstance(value, list | tuple):
        return tuple(_canonical(v) for v in value)
    return value


def _sort_key(row: tuple, float_columns: set[int]) -> tuple:
    key = []
    for index, value in enumerate(row):
        if index in float_columns:
            continue
        value = _canonical(value)
        # None sorts first; values of mixed numeric types compare as numbers
        key.append((value is not None, str(type(value).__name__) if value is None else "", value))
    key.extend(
        (row[index] is not None, row[index] if row[index] is not None else 0.0)
        for index in sorted(float_columns)
    )
    return tuple(key)


def _values_match(left: object, right: object) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if _is_float(left) or _is_float(right):
        a, b = float(left), float(right)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=FLOAT_REL_TOLERANCE, abs_tol=FLOAT_ABS_TOLERANCE)
    return _canonical(left) == _canonical(right)


def _compare(
    name: str,
    columns: list[str],
    duck: list[tuple],
    pg: list[tuple],
    windows: list[tuple[datetime, datetime]] | None = None,
) -> list[str]:
    problems: list[str] = []
    # build-time columns: checked to be inside the build window on both sides, then dropped
    build_time = _build_time_columns(columns, duck, windows or []) & _build_time_columns(
        columns, pg, windows or []
    )
    if build_time:
        keep = [i for i in range(len(columns)) if i not in build_time]
        columns = [columns[i] for i in keep]
        duck = [tuple(r[i] for i in keep) for r in duck]
        pg = [tuple(r[i] for i in keep) for r in pg]
    if len(duck) != len(pg):
        problems.append(f"{name}: {len(duck)} rows on DuckDB, {len(pg)} on PostgreSQL")
    float_columns = {
        i
        for i in range(len(columns))
        if any(_is_float(r[i]) for r in duck + pg if r[i] is not None)
    }
    duck_sorted = sorted(duck, key=lambda r: _sort_key(r, float_columns))
    pg_sorted = sorted(pg, key=lambda r: _sort_key(r, float_columns))
    differences = 0
    for left, right in zip(duck_sorted, pg_sorted, strict=False):
        mismatched = [
            f"{columns[i]}: duckdb={left[i]!r} postgres={right[i]!r}"
            for i in range(len(columns))
            if not _values_match(left[i], right[i])
        ]
        if mismatched:
            differences += 1
            if differences <= MAX_REPORTED_DIFFERENCES:
                problems.append(f"{name}: row differs ({'; '.join(mismatched)})")
    if differences > MAX_REPORTED_DIFFERENCES:
        problems.append(f"{name}: {differences} differing rows in all")
    return problems


@pytest.mark.parametrize("data", ["generated", "edge_cases"])
def test_every_mart_is_identical_on_duckdb_and_postgres(tmp_path, postgres_database, data):
    """`generated`: the demo generator's data; `edge_cases`: tests/python/engines/small_raw.py
    (duplicates, blank strings, mixed case, erasures, tracker and derived sessions)."""
    db = tmp_path / "engines.duckdb"
    as_of = build_small_raw(db, events=EVENTS, use_generator=data == "generated")
    started_utc, started_local = datetime.now(UTC).replace(tzinfo=None), datetime.now()
    copy_raw_schema(db, postgres_database)
    dbt_vars = f"{{as_of: '{as_of}'}}"

    # the two engines build side by side: the DuckDB build only reads raw, which the
    # PostgreSQL build does not touch (it reads its own copy)
    builds = [
        _start_build(dbt_vars, target=target, db=db, work_dir=tmp_path, pg=postgres_database)
        for target in ("duckdb", "postgres")
    ]
    try:
        for build in builds:
            wait_dbt_command(build)
    finally:
        for build in builds:  # the other engine's build, when one failed
            if build.process.poll() is None:
                build.process.kill()
                build.process.wait()

    marts = _marts(tmp_path / "duckdb" / f"target-{db.stem}" / "manifest.json")
    assert marts, "no models under models/marts in the manifest"
    slack = timedelta(seconds=1)
    windows = [
        (started_utc - slack, datetime.now(UTC).replace(tzinfo=None) + slack),
        (started_local - slack, datetime.now() + slack),
    ]

    duck = duckdb.connect(str(db), read_only=True)
    pg = psycopg2.connect(**postgres_database)
    problems: list[str] = []
    compared: list[str] = []
    try:
        for name, schema, alias, skipped in marts:
            columns = [
                row[0]
                for row in duck.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, alias],
                ).fetchall()
            ]
            assert columns, f"{schema}.{alias} was not built on DuckDB"
            columns = [c for c in columns if c.lower() not in skipped]
            column_list = ", ".join(f'"{c}"' for c in columns)
            duck_rows = duck.execute(f'select {column_list} from "{schema}"."{alias}"').fetchall()
            with pg.cursor() as cur:
                cur.execute(f'select {column_list} from "{schema}"."{alias}"')
                pg_rows = cur.fetchall()
            problems.extend(_compare(name, columns, duck_rows, pg_rows, windows))
            compared.append(f"{name} ({len(duck_rows)} rows)")
    finally:
        duck.close()
        pg.close()

    print("compared:", ", ".join(compared))
    assert not problems, "DuckDB and PostgreSQL disagree:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        (1.0, 1.0 + 1e-12, True),
        (1.0, 1.001, False),
        (0.0, 1e-12, True),
        (Decimal("2.50"), Decimal("2.5"), True),
        (Decimal("2.5"), 2.5, True),
        (3, 3, True),
        ("a", "A", False),
        (None, None, True),
        (None, 0, False),
    ],
)
def test_value_comparison_rules(left, right, same):
    assert _values_match(left, right) is same
