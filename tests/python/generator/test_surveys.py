"""Generated survey answers (audiences/generator/surveys.py): deterministic for a seed, drawn
from their own stream (every other table is unchanged), a realistic share of customers, some
by email only, some answering twice, only the questionnaire's options, and answers that lean
towards the person's behaviour."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

from audiences.generator import surveys
from audiences.generator.catalog import CATEGORIES
from audiences.generator.commerce import DAY
from audiences.generator.config import GenerationConfig
from audiences.generator.ids import stream
from audiences.generator.runner import generate, to_ms
from audiences.generator.writer import TABLES

AS_OF = datetime(2026, 11, 24)
EVENTS = 60_000
OTHER_TABLES = [t for t in TABLES if t != "survey_responses"]


def _generate(path: Path) -> Path:
    generate(GenerationConfig(db_path=path, events=EVENTS, seed=5, as_of=AS_OF))
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    work = tmp_path_factory.mktemp("surveys")
    first = _generate(work / "first.duckdb")
    again = _generate(work / "again.duckdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(surveys, "SURVEY_SHARE", 0.0)
        without = _generate(work / "without.duckdb")
    return first, again, without


def _difference(con: duckdb.DuckDBPyConnection, table: str, left: str, right: str) -> int:
    return con.execute(
        f"select count(*) from (select * from {left}.raw.{table} "
        f"except all select * from {right}.raw.{table})"
    ).fetchone()[0]


def test_same_seed_same_answers_and_other_tables_untouched(generated):
    first, again, without = generated
    con = duckdb.connect()
    con.execute(f"attach '{first}' as first (read_only)")
    con.execute(f"attach '{again}' as again (read_only)")
    con.execute(f"attach '{without}' as without (read_only)")
    rows = con.execute("select count(*) from first.raw.survey_responses").fetchone()[0]
    assert rows > 0
    assert _difference(con, "survey_responses", "first", "again") == 0
    assert _difference(con, "survey_responses", "again", "first") == 0
    assert con.execute("select count(*) from without.raw.survey_responses").fetchone()[0] == 0
    for table in OTHER_TABLES:
        assert _difference(con, table, "first", "without") == 0, table
        assert _difference(con, table, "without", "first") == 0, table


def test_answers_have_the_shape_of_a_survey_export(generated):
    first, _, _ = generated
    con = duckdb.connect(str(first), read_only=True)
    customers = con.execute(
        "select count(distinct user_id) from raw.customers where deleted_at is null"
    ).fetchone()[0]
    respondents = con.execute(
        """select count(distinct c.user_id)
           from raw.survey_responses s
           join raw.customers c
             on s.user_id = c.user_id or lower(trim(s.email)) = lower(trim(c.email))"""
    ).fetchone()[0]
    assert 0.05 <= respondents / customers <= 0.15
    by_email_only = con.execute(
        "select count(distinct response_id) from raw.survey_responses where user_id is null"
    ).fetchone()[0]
    assert by_email_only > 0
    answered_twice = con.execute(
        """select count(*) from (
               select coalesce(user_id, lower(trim(email))) as who
               from raw.survey_responses group by who
               having count(distinct response_id) > 1)"""
    ).fetchone()[0]
    assert answered_twice > 0
    pairs = set(
        con.execute("select distinct question_key, answer from raw.survey_responses").fetchall()
    )
    allowed = {(q.key, o) for q in surveys.QUESTIONS for o in q.options}
    assert pairs <= allowed
    assert {q for q, _ in pairs} == {q.key for q in surveys.QUESTIONS}
    # single-choice questions: one answer per response
    assert (
        con.execute(
            """select count(*) from (
               select response_id, question_key from raw.survey_responses
               where question_key <> 'interests'
               group by all having count(*) > 1)"""
        ).fetchone()[0]
        == 0
    )
    # nothing after as_of, nothing before the person signed up
    late, early = con.execute(
        """select count(*) filter (where s.answered_at > ?),
                  count(*) filter (where s.answered_at < c.signup_at)
           from raw.survey_responses s join raw.customers c on s.user_id = c.user_id""",
        [AS_OF],
    ).fetchone()
    assert (late, early) == (0, 0)


def test_every_catalog_category_has_an_interest_entry():
    assert set(surveys.CATEGORY_INTEREST) == set(CATEGORIES)
    interests = set(surveys.QUESTIONS[0].options)
    assert {i for i in surveys.CATEGORY_INTEREST.values() if i} <= interests


def test_interests_lean_towards_the_most_viewed_category():
    n = 4000
    people = surveys.Respondents(
        user_id=np.array([f"u{i:05d}" for i in range(n)], dtype=object),
        email=np.array([f"u{i:05d}@example.com" for i in range(n)], dtype=object),
        signup_ms=np.full(n, to_ms(AS_OF) - 400 * DAY, dtype=np.int64),
        top_category=np.array(["electronics", "books"] * (n // 2), dtype=object),
        average_order_value=np.full(n, np.nan),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(surveys, "SURVEY_SHARE", 1.0)
        patch.setattr(surveys, "SECOND_RESPONSE_SHARE", 0.0)
        patch.setattr(surveys, "EMAIL_ONLY_SHARE", 0.0)
        table = surveys.build_responses(stream(3, "lean"), people, to_ms(AS_OF), 99).to_pylist()
    category = dict(zip(people.user_id, people.top_category, strict=True))
    tech = {"electronics": set(), "books": set()}
    for row in table:
        if row["question_key"] == "interests" and row["answer"] == "tech":
            tech[category[row["user_id"]]].add(row["user_id"])
    share = {c: len(ids) / (n // 2) for c, ids in tech.items()}
    # base rate 0.3; electronics viewers add the lean: 0.3 + 0.7 * 0.7 = 0.79
    assert share["books"] == pytest.approx(0.3, abs=0.05)
    assert share["electronics"] == pytest.approx(0.79, abs=0.05)
