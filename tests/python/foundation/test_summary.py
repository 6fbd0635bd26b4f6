"""`audiences summary` on a real DuckDB file: raw row counts (the optional survey table only
when the file has it) and the core facts."""

from __future__ import annotations

import duckdb
import pytest
from click import ClickException
from dbt_support import create_raw_tables

from audiences.summary import summarize


def _warehouse(path, with_survey: bool) -> None:
    create_raw_tables(path)
    con = duckdb.connect(str(path))
    try:
        con.execute("insert into raw.orders (order_id) values ('o1'), ('o2')")
        if not with_survey:
            con.execute("drop table raw.survey_responses")
        else:
            con.execute("insert into raw.survey_responses (response_id) values ('r1')")
        con.execute("create schema analytics_core")
        con.execute(
            "create table analytics_core.fct_sessions as select * from (values "
            "('s1', 'p1', 'u1'), ('s2', 'p1', 'u1'), ('s3', 'p2', null)) "
            "as t(session_id, person_id, user_id)"
        )
        con.execute("create table analytics_core.fct_page_views as select 1 as page_view_id")
    finally:
        con.close()


@pytest.mark.parametrize("with_survey", [True, False])
def test_summary_counts_the_raw_tables_the_file_has_and_the_core_facts(tmp_path, with_survey):
    path = tmp_path / "w.duckdb"
    _warehouse(path, with_survey)
    summary = summarize(path)
    expected_raw = {"events": 0, "orders": 2, "order_items": 0, "customers": 0, "email_events": 0}
    if with_survey:
        expected_raw["survey_responses"] = 1
    assert summary.raw_rows == expected_raw
    assert (summary.page_views, summary.sessions, summary.people) == (1, 3, 2)
    assert (summary.identified_people, summary.identified_sessions) == (1, 2)


def test_summary_says_what_to_run_first(tmp_path):
    with pytest.raises(ClickException, match="Run `audiences generate` and `dbt build` first"):
        summarize(tmp_path / "missing.duckdb")
