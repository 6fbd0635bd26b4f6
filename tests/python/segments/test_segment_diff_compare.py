"""The SQL comparison of `audiences diff` on hand-written memberships, on DuckDB and on
PostgreSQL, and the Markdown summary it renders (exact expected values)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg2
import pytest

from audiences.segment_diff.compare import (
    SampleMember,
    SegmentChange,
    compare,
    open_warehouse,
    production_as_of,
)
from audiences.segment_diff.render import DiffReport, markdown

COLUMNS = "person_id, user_id, segment_key, segment_family, is_holdout, as_of"
AS_OF = "2026-11-24 00:00:00"
BEFORE = [
    ("p1", "u1", "seg_a", "custom", False),
    ("p2", "u2", "seg_a", "custom", True),
    ("p3", None, "seg_a", "custom", False),
    ("p1", "u1", "seg_gone", "lifecycle", False),
    ("p4", "u4", "seg_same", "engagement", False),
]
AFTER = [
    ("p2", "u2", "seg_a", "custom", True),
    ("p5", "u5", "seg_a", "custom", False),
    ("p6", None, "seg_a", "custom", False),
    ("p0", "u0", "seg_a", "custom", False),
    ("p1", "u1", "seg_new", "custom", False),
    ("p4", "u4", "seg_same", "engagement", False),
]
EXPECTED = [
    SegmentChange(
        "seg_a",
        "custom",
        members_before=3,
        members_after=4,
        entering=3,
        leaving=2,
        entering_samples=[SampleMember("p0", "u0"), SampleMember("p5", "u5")],
        leaving_samples=[SampleMember("p1", "u1"), SampleMember("p3", None)],
    ),
    SegmentChange("seg_gone", "lifecycle", 1, 0, 0, 1, [], [SampleMember("p1", "u1")]),
    SegmentChange("seg_new", "custom", 0, 1, 1, 0, [SampleMember("p1", "u1")], []),
    SegmentChange("seg_same", "engagement", 1, 1, 0, 0, [], []),
]


def _create(execute, schema: str) -> None:
    execute(f"create schema {schema}")
    for table, rows in (("before_memberships", BEFORE), ("after_memberships", AFTER)):
        execute(
            f"create table {schema}.{table} (person_id text, user_id text, segment_key text, "
            "segment_family text, is_holdout boolean, as_of timestamp)"
        )
        for row in rows:
            values = ", ".join("null" if v is None else repr(v).lower() for v in row)
            execute(f"insert into {schema}.{table} ({COLUMNS}) values ({values}, '{AS_OF}')")


@pytest.fixture(params=["duckdb", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """(dbt target, schema holding before_memberships and after_memberships)."""
    if request.param == "duckdb":
        db = tmp_path / "compare.duckdb"
        con = duckdb.connect(str(db))
        _create(con.execute, "pr_diff")
        con.close()
        monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(db))
        yield "duckdb", "pr_diff"
        return
    settings = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "audiences"),
        "password": os.environ.get("PGPASSWORD", "audiences"),
        "dbname": os.environ.get("PGDATABASE", "audiences"),
    }
    try:
        con = psycopg2.connect(connect_timeout=5, **settings)
    except psycopg2.OperationalError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable in CI: {error}")
        pytest.skip(f"PostgreSQL not reachable (run `make postgres-up`): {error}")
    con.autocommit = True
    schema = f"diff_test_{uuid.uuid4().hex[:10]}"
    with con.cursor() as cursor:
        _create(cursor.execute, schema)
    try:
        yield "postgres", schema
    finally:
        with con.cursor() as cursor:
            cursor.execute(f"drop schema {schema} cascade")
        con.close()


def test_compare_counts_and_samples(target: tuple[str, str]) -> None:
    name, schema = target
    with open_warehouse(name) as warehouse:
        changes = compare(
            warehouse, f"{schema}.before_memberships", f"{schema}.after_memberships", 2
        )
        as_of = production_as_of(warehouse, f"{schema}.before_memberships")
    assert changes == EXPECTED
    assert [c.status for c in changes] == ["changed", "removed", "added", "unchanged"]
    assert as_of == "2026-11-24T00:00:00"


def test_compare_without_samples(target: tuple[str, str]) -> None:
    name, schema = target
    with open_warehouse(name) as warehouse:
        changes = compare(
            warehouse, f"{schema}.before_memberships", f"{schema}.after_memberships", 0
        )
    assert [(c.segment_key, c.entering, c.leaving) for c in changes] == [
        ("seg_a", 3, 2),
        ("seg_gone", 0, 1),
        ("seg_new", 1, 0),
        ("seg_same", 0, 0),
    ]
    assert all(not c.entering_samples and not c.leaving_samples for c in changes)


def test_markdown_summary() -> None:
    report = DiffReport(
        status="changed",
        message="3 segment(s) change membership.",
        production_relation='"wh"."analytics_segments"."segment_memberships"',
        pull_request_relation='"wh"."analytics_pr_segments"."segment_memberships"',
        as_of="2026-11-24T00:00:00",
        models_built=["model.audiences.custom_segments", "model.audiences.segment_memberships"],
        segments=EXPECTED,
    )
    assert markdown(report) == "\n".join(
        [
            "## Segment changes in this pull request",
            "",
            "3 segment(s) change membership.",
            "",
            "| segment | family | status | before | after | entering | leaving |",
            "|---|---|---|---:|---:|---:|---:|",
            "| `seg_a` | custom | changed | 3 | 4 | +3 | -2 |",
            "| `seg_gone` | lifecycle | removed | 1 | 0 | 0 | -1 |",
            "| `seg_new` | custom | added | 0 | 1 | +1 | 0 |",
            "",
            "1 other segment(s) unchanged. As of 2026-11-24T00:00:00.",
            "",
            "<details><summary>Sample person_ids</summary>",
            "",
            "- `seg_a`: entering p0 (user u0), p5 (user u5); leaving p1 (user u1), p3",
            "- `seg_gone`: entering -; leaving p1 (user u1)",
            "- `seg_new`: entering p1 (user u1); leaving -",
            "",
            "</details>",
            "",
            "Models built for the comparison: `custom_segments`, `segment_memberships`.",
            "",
        ]
    )
    document = report.to_json()
    assert document["summary"] == {
        "segments_added": ["seg_new"],
        "segments_removed": ["seg_gone"],
        "segments_changed": ["seg_a"],
        "segments_unchanged": 1,
    }
    assert document["segments"][0]["change"] == 1
