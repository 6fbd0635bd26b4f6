"""The optional raw table survey_responses: a warehouse without it builds (the survey models
are empty); when present it is held to the raw contract (named table, column and row); its
answers become person features in dim_user_interests (resolution by user_id, then by a
normalised unique email; the latest answer per question wins)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from dbt_support import BUILD_SEEDS_AND_MODELS, LOCAL_TIME_SEEDS, create_raw_tables

AS_OF = "{as_of: '2026-11-24T00:00:00'}"
SURVEY_MODELS = (
    "stg_survey__responses",
    "int_survey__resolved_responses",
    "int_survey__latest_answers",
    "dim_user_interests",
    # the warning test also reads stg_crm__customers, which the selection leaves out
    "survey_responses_unresolved",
)


def _query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _execute(db: Path, *statements: str) -> None:
    con = duckdb.connect(str(db))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def _build_survey_models(run_dbt, db: Path):
    """dim_users and what it needs (seeds and models, one dbt call), then the survey models
    with their own tests."""
    # sessions read the seeds geo_time_zones and time_zone_offsets for their local time
    run_dbt(
        *BUILD_SEEDS_AND_MODELS, "--vars", AS_OF, "--select", *LOCAL_TIME_SEEDS, "+dim_users", db=db
    )
    return run_dbt(
        "build",
        "--vars",
        AS_OF,
        "--indirect-selection",
        "cautious",
        "--select",
        *SURVEY_MODELS,
        db=db,
        check=False,
    )


def test_warehouse_without_the_survey_table_builds_and_has_no_survey_features(tmp_path, run_dbt):
    db = tmp_path / "no_survey.duckdb"
    create_raw_tables(db)
    _execute(
        db,
        "drop table raw.survey_responses",
        """insert into raw.customers (user_id, email, signup_at, updated_at)
           values ('c1', 'a@x.com', '2026-01-01', '2026-01-01')""",
    )
    result = _build_survey_models(run_dbt, db)

    assert result.returncode == 0, result.output
    assert _query(db, "select count(*) from analytics_core.dim_users") == [(1,)]
    assert _query(db, "select count(*) from analytics_staging.stg_survey__responses") == [(0,)]
    assert _query(db, "select count(*) from analytics_core.dim_user_interests") == [(0,)]


def test_survey_table_without_a_contract_column_is_named(tmp_path, run_dbt):
    db = tmp_path / "missing.duckdb"
    create_raw_tables(
        db,
        overrides={
            "survey_responses": "response_id varchar, user_id varchar, email varchar, "
            "question_key varchar, answer varchar"
        },
    )

    result = run_dbt(
        "run", "--vars", AS_OF, "--select", "stg_survey__responses", db=db, check=False
    )

    assert result.returncode != 0
    assert "table raw.survey_responses is missing column(s): answered_at" in result.output


def test_malformed_answered_at_names_the_column_and_the_response(tmp_path, run_dbt):
    db = tmp_path / "malformed.duckdb"
    create_raw_tables(
        db,
        overrides={
            "survey_responses": "response_id varchar, user_id varchar, email varchar, "
            "question_key varchar, answer varchar, answered_at varchar"
        },
    )
    _execute(
        db,
        """insert into raw.survey_responses values
           ('r1', 'c1', null, 'values', 'price', '2026-11-01 10:00:00'),
           ('r2', 'c1', null, 'values', 'quality', 'last tuesday')""",
    )

    result = run_dbt(
        "run", "--vars", AS_OF, "--select", "stg_survey__responses", db=db, check=False
    )

    assert result.returncode != 0
    assert (
        "column raw.survey_responses.answered_at has 1 value(s) that are not timestamps, "
        "e.g. 'last tuesday' (response_id = 'r2')"
    ) in result.output


def test_answers_become_person_features_latest_answer_per_question(tmp_path, run_dbt):
    db = tmp_path / "answers.duckdb"
    create_raw_tables(db)
    _execute(
        db,
        """insert into raw.customers (user_id, email, signup_at, updated_at) values
           ('c1', ' Ava.Martin@Example.com', '2026-01-01', '2026-01-01'),
           ('c2', 'ben@example.com', '2026-01-01', '2026-01-01'),
           ('c3', 'shared@example.com', '2026-01-01', '2026-01-01'),
           ('c4', 'shared@example.com', '2026-01-01', '2026-01-01')""",
        """insert into raw.customers (user_id, email, signup_at, updated_at, deleted_at) values
           ('c5', 'gone@example.com', '2026-01-01', '2026-01-01', '2026-06-01')""",
        # c1 by user_id, then again by a typed email: the later interests replace the
        # earlier ones, the earlier values answer stays; c2 by email only; a shared email,
        # an unknown user_id and an answer after as_of resolve to nobody; the erased c5's
        # answers go (by user_id, even with c2's email, and by email) and are not counted
        """insert into raw.survey_responses values
           ('r1', 'c1', null, 'interests', 'outdoors', '2026-10-01 10:00:00'),
           ('r1', 'c1', null, 'interests', ' Tech ', '2026-10-01 10:00:00'),
           ('r1', 'c1', null, 'Values', 'price', '2026-10-01 10:00:00'),
           ('r2', null, 'AVA.MARTIN@example.com ', 'interests', 'cooking', '2026-11-02 09:00:00'),
           ('r2', null, 'AVA.MARTIN@example.com ', 'interests', 'travel', '2026-11-02 09:00:00'),
           ('r3', null, 'ben@example.com', 'shopping_for', 'gift', '2026-11-03 12:00:00'),
           ('r4', null, 'shared@example.com', 'interests', 'tech', '2026-11-03 12:00:00'),
           ('r5', 'nobody', null, 'interests', 'tech', '2026-11-03 12:00:00'),
           ('r6', 'c2', null, 'values', 'quality', '2026-11-24 00:00:01'),
           ('r7', 'c5', 'ben@example.com', 'interests', 'travel', '2026-11-03 12:00:00'),
           ('r8', null, 'gone@example.com', 'interests', 'travel', '2026-11-03 12:00:00')""",
    )
    result = _build_survey_models(run_dbt, db)

    assert result.returncode == 0, result.output
    # the warning test counts the two unresolved responses' rows (r4, r5), not the erased
    # person's (r7, r8)
    assert "Got 2 results, configured to warn if != 0" in result.output
    rows = _query(
        db,
        """select person_id, survey_interests, interest_outdoors, interest_cooking,
                  interest_tech, interest_travel, survey_value_primary, survey_shopping_for,
                  cast(survey_answered_at as varchar)
           from analytics_core.dim_user_interests order by person_id""",
    )
    assert rows == [
        ("c1", "cooking,travel", False, True, False, True, "price", None, "2026-11-02 09:00:00"),
        ("c2", None, False, False, False, False, None, "gift", "2026-11-03 12:00:00"),
    ]
