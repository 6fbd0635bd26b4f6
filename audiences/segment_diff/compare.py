"""The comparison of two `segment_memberships` tables, computed in SQL in the warehouse.

Only aggregates and at most N sample ids per segment and direction leave the warehouse. The
SQL is plain ANSI (CTEs, `not exists`, `row_number()`), the same on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import psycopg2

from audiences.segment_diff.errors import DiffBuildError, DiffUsageError


@dataclass(frozen=True)
class SampleMember:
    person_id: str
    user_id: str | None


@dataclass
class SegmentChange:
    segment_key: str
    segment_family: str
    members_before: int
    members_after: int
    entering: int
    leaving: int
    entering_samples: list[SampleMember] = field(default_factory=list)
    leaving_samples: list[SampleMember] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.members_before == 0:
            return "added"
        if self.members_after == 0:
            return "removed"
        return "changed" if self.entering or self.leaving else "unchanged"


class Warehouse(Protocol):
    def query(self, sql: str) -> list[tuple[Any, ...]]: ...


class _DuckDBWarehouse:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()


class _PostgresWarehouse:
    def __init__(self, con: Any) -> None:
        self.con = con

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.con.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())


@contextmanager
def open_warehouse(target: str) -> Iterator[Warehouse]:
    """The warehouse of dbt target `target`, read-only, from the same environment variables
    as profiles.yml."""
    if target == "duckdb":
        path = Path(os.environ.get("AUDIENCES_DUCKDB_PATH", "audiences.duckdb"))
        if not path.is_file():
            raise DiffUsageError(f"DuckDB warehouse {path} not found (AUDIENCES_DUCKDB_PATH).")
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise DiffBuildError(f"cannot open the DuckDB warehouse {path}: {exc}") from exc
        try:
            yield _DuckDBWarehouse(con)
        finally:
            con.close()
        return
    settings = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "audiences"),
        "dbname": os.environ.get("PGDATABASE", "audiences"),
    }
    try:
        pg = psycopg2.connect(
            **settings, password=os.environ.get("PGPASSWORD", "audiences"), connect_timeout=10
        )
    except psycopg2.Error as exc:
        where = "{user}@{host}:{port}/{dbname}".format(**settings)
        raise DiffBuildError(
            f"cannot connect to PostgreSQL {where} (PGHOST, PGPORT, PGUSER, PGPASSWORD, "
            f"PGDATABASE): {str(exc).strip()}"
        ) from exc
    pg.set_session(readonly=True, autocommit=True)
    try:
        yield _PostgresWarehouse(pg)
    finally:
        pg.close()


def relation_exists(warehouse: Warehouse, relation: str) -> bool:
    try:
        warehouse.query(f"select 1 from {relation} where 1 = 0")
    except (duckdb.Error, psycopg2.Error):
        return False
    return True


def production_as_of(warehouse: Warehouse, relation: str) -> str | None:
    """The as_of production's segment_memberships was built for (ISO text), if any rows."""
    value = warehouse.query(f"select max(as_of) from {relation}")[0][0]
    return None if value is None else value.isoformat(sep="T")


def _sets_sql(before: str, after: str) -> str:
    return f"""
        with

        before_rows as (
            select segment_key, segment_family, person_id, user_id from {before}
        ),

        after_rows as (
            select segment_key, segment_family, person_id, user_id from {after}
        ),

        entering as (
            select after_rows.segment_key, after_rows.person_id, after_rows.user_id
            from after_rows
            where not exists (
                select 1 from before_rows
                where before_rows.segment_key = after_rows.segment_key
                    and before_rows.person_id = after_rows.person_id
            )
        ),

        leaving as (
            select before_rows.segment_key, before_rows.person_id, before_rows.user_id
            from before_rows
            where not exists (
                select 1 from after_rows
                where after_rows.segment_key = before_rows.segment_key
                    and after_rows.person_id = before_rows.person_id
            )
        )
    """


def compare(warehouse: Warehouse, before: str, after: str, samples: int) -> list[SegmentChange]:
    """Per segment_key: members before / after, entering, leaving, and up to `samples`
    person_ids (with their user_id) each way, ordered by person_id."""
    counts = warehouse.query(
        _sets_sql(before, after)
        + """,

        before_counts as (
            select segment_key, max(segment_family) as segment_family, count(*) as members
            from before_rows group by segment_key
        ),

        after_counts as (
            select segment_key, max(segment_family) as segment_family, count(*) as members
            from after_rows group by segment_key
        ),

        entering_counts as (
            select segment_key, count(*) as members from entering group by segment_key
        ),

        leaving_counts as (
            select segment_key, count(*) as members from leaving group by segment_key
        ),

        segment_keys as (
            select segment_key from before_counts
            union
            select segment_key from after_counts
        ),

        final as (
            select
                segment_keys.segment_key,
                coalesce(after_counts.segment_family, before_counts.segment_family)
                    as segment_family,
                coalesce(before_counts.members, 0) as members_before,
                coalesce(after_counts.members, 0) as members_after,
                coalesce(entering_counts.members, 0) as entering,
                coalesce(leaving_counts.members, 0) as leaving
            from segment_keys
            left join before_counts on segment_keys.segment_key = before_counts.segment_key
            left join after_counts on segment_keys.segment_key = after_counts.segment_key
            left join entering_counts on segment_keys.segment_key = entering_counts.segment_key
            left join leaving_counts on segment_keys.segment_key = leaving_counts.segment_key
        )

        select * from final order by segment_key
        """
    )
    changes = {
        row[0]: SegmentChange(row[0], row[1], int(row[2]), int(row[3]), int(row[4]), int(row[5]))
        for row in counts
    }
    if samples > 0:
        for direction, segment_key, person_id, user_id in _samples(
            warehouse, before, after, samples
        ):
            change = changes[segment_key]
            bucket = change.entering_samples if direction == "entering" else change.leaving_samples
            bucket.append(SampleMember(str(person_id), None if user_id is None else str(user_id)))
    return list(changes.values())


def _samples(
    warehouse: Warehouse, before: str, after: str, samples: int
) -> Sequence[tuple[Any, ...]]:
    return warehouse.query(
        _sets_sql(before, after)
        + f""",

        moves as (
            select 'entering' as direction, segment_key, person_id, user_id from entering
            union all
            select 'leaving' as direction, segment_key, person_id, user_id from leaving
        ),

        ranked as (
            select
                direction,
                segment_key,
                person_id,
                user_id,
                row_number() over (
                    partition by direction, segment_key order by person_id
                ) as sample_number
            from moves
        ),

        final as (
            select direction, segment_key, person_id, user_id, sample_number
            from ranked
            where sample_number <= {int(samples)}
        )

        select direction, segment_key, person_id, user_id
        from final
        order by direction, segment_key, sample_number
        """
    )
