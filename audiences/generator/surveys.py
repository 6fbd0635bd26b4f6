"""Psychographic survey answers (raw.survey_responses), the shape of a Typeform or Qualtrics
export in long format: one row per (response, question, chosen option).

A share of the identified, not erased customers (SURVEY_SHARE) answer a short fixed
questionnaire (QUESTIONS). Most responses carry the user_id of a hidden field; some carry
only the email the person typed (mixed case, padded: staging must normalise it); some
people answer twice, and the second response re-answers a subset of the questions (the
latest answer per question wins downstream). Answers lean mildly towards the person's
behaviour (interests towards their most viewed category, values towards price or quality
by their order values) so that they are not noise.

Everything comes from its own random stream and id salt and reads only the customers, events
and orders written before it: every other generated row is unchanged for the same seed.
Only the base slice gets answers (not `--append` slices). No bad rows are generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from audiences.generator.commerce import DAY, MIN
from audiences.generator.ids import hex_ids, timestamps
from audiences.generator.writer import STAGING_PREFIX, Writer, quote

#: share of eligible customers (identified, not erased, signed up before as_of) who answer
SURVEY_SHARE = 0.10
#: share of respondents whose response carries only the typed email, no user_id
EMAIL_ONLY_SHARE = 0.2
#: share of respondents identified by user_id whose response also carries their email
WITH_EMAIL_SHARE = 0.5
#: share of respondents who answer a second time (later; the latest answer wins)
SECOND_RESPONSE_SHARE = 0.15
#: the first response falls in the last FIRST_RESPONSE_DAYS days before as_of
FIRST_RESPONSE_DAYS = 180


@dataclass(frozen=True)
class Question:
    key: str
    options: tuple[str, ...]
    weights: tuple[float, ...]  # base probability of each option
    multi_choice: bool


QUESTIONS: tuple[Question, ...] = (
    Question(
        "interests",
        ("outdoors", "cooking", "tech", "fashion", "fitness", "travel"),
        (0.3, 0.3, 0.3, 0.3, 0.3, 0.3),
        True,
    ),
    Question(
        "values",
        ("sustainability", "price", "quality", "convenience"),
        (0.25, 0.3, 0.25, 0.2),
        False,
    ),
    Question("shopping_for", ("self", "family", "gift"), (0.6, 0.25, 0.15), False),
)

#: the interest a person's most viewed product category leans towards (None: no lean)
CATEGORY_INTEREST: dict[str, str | None] = {
    "electronics": "tech",
    "books": None,
    "home_kitchen": "cooking",
    "fashion": "fashion",
    "beauty": "fashion",
    "sports": "fitness",
    "toys": None,
    "grocery": "cooking",
    "garden": "outdoors",
    "music": "tech",
    "pets": "outdoors",
    "office": "tech",
}
#: probability that a person with a leaning category picks its interest
LEAN_PROBABILITY = 0.7
#: people buying toys shop for family and gifts more often
TOYS_SHOPPING_WEIGHTS = (0.3, 0.45, 0.25)


@dataclass(frozen=True)
class Respondents:
    """Eligible customers, sorted by user_id, with what the answers lean on."""

    user_id: np.ndarray  # object (str)
    email: np.ndarray  # object (str), as in the CRM (may be messy)
    signup_ms: np.ndarray  # int64
    top_category: np.ndarray  # object (str or None)
    average_order_value: np.ndarray  # float64, NaN without completed orders


def eligible_customers(con: duckdb.DuckDBPyConnection, schema: str) -> Respondents:
    """Customers (latest CRM version) never erased, with a unique normalised email, and their
    most viewed category and average completed order value, from the generator's staging
    tables. A unique email keeps every email-only response resolvable."""
    table = {t: f"{quote(schema)}.{quote(STAGING_PREFIX + t)}" for t in ("customers", "events")}
    table["orders"] = f"{quote(schema)}.{quote(STAGING_PREFIX + 'orders')}"
    rows = con.execute(
        f"""
        with latest as (
            select user_id, email, signup_at,
                count(deleted_at) over (partition by user_id) as erasures,
                row_number() over (partition by user_id order by updated_at desc) as version
            from {table["customers"]}
        ),
        customers as (
            select user_id, email, signup_at,
                count(*) over (partition by lower(trim(email))) as same_email
            from latest
            where version = 1 and erasures = 0 and email is not null
        ),
        views as (
            select user_id, product_category, count(*) as n
            from {table["events"]}
            where user_id is not null and page_type = 'product' and product_category is not null
            group by user_id, product_category
        ),
        top_category as (
            select user_id, product_category
            from views
            qualify row_number() over (
                partition by user_id order by n desc, product_category asc
            ) = 1
        ),
        order_values as (
            select user_id, avg(order_total) as aov
            from {table["orders"]}
            where status = 'completed' and user_id is not null
            group by user_id
        )
        select c.user_id, c.email, epoch_ms(c.signup_at), t.product_category,
            cast(o.aov as double)
        from customers c
        left join top_category t on c.user_id = t.user_id
        left join order_values o on c.user_id = o.user_id
        where c.same_email = 1
        order by c.user_id
        """
    ).fetchall()
    return Respondents(
        user_id=np.array([r[0] for r in rows], dtype=object),
        email=np.array([r[1] for r in rows], dtype=object),
        signup_ms=np.array([r[2] for r in rows], dtype=np.int64),
        top_category=np.array([r[3] for r in rows], dtype=object),
        average_order_value=np.array(
            [np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64
        ),
    )


def _interests(rng: np.random.Generator, category: str | None) -> list[str]:
    question = QUESTIONS[0]
    chosen = [
        o for o, w in zip(question.options, question.weights, strict=True) if rng.random() < w
    ]
    lean = CATEGORY_INTEREST.get(category) if category else None
    if lean and lean not in chosen and rng.random() < LEAN_PROBABILITY:
        chosen.append(lean)
    if not chosen:  # a multi-choice question answered with at least one option
        chosen = [question.options[int(rng.integers(len(question.options)))]]
    return sorted(chosen)


def _value(rng: np.random.Generator, aov: float, median_aov: float) -> str:
    question = QUESTIONS[1]
    weights = np.array(question.weights)
    if not np.isnan(aov):
        # above the median order value: quality matters more; below: price
        shift = question.options.index("quality" if aov > median_aov else "price")
        weights[shift] += 0.25
    return question.options[int(rng.choice(len(weights), p=weights / weights.sum()))]


def _shopping_for(rng: np.random.Generator, category: str | None) -> str:
    question = QUESTIONS[2]
    weights = np.array(TOYS_SHOPPING_WEIGHTS if category == "toys" else question.weights)
    return question.options[int(rng.choice(len(weights), p=weights / weights.sum()))]


def _typed_email(rng: np.random.Generator, email: str) -> str:
    """What a person types into a form: sometimes capitalised or padded."""
    draw = rng.random()
    if draw < 0.15:
        return email.strip().upper()
    if draw < 0.3:
        return f" {email.strip()} "
    return email.strip()


def build_responses(
    rng: np.random.Generator, people: Respondents, as_of_ms: int, id_salt: int
) -> pa.Table:
    """The rows of raw.survey_responses for a SURVEY_SHARE sample of `people`."""
    n = len(people.user_id)
    picked = np.flatnonzero(rng.random(n) < SURVEY_SHARE)
    earliest = as_of_ms - FIRST_RESPONSE_DAYS * DAY
    present = people.average_order_value[~np.isnan(people.average_order_value)]
    median_aov = float(np.median(present)) if present.size else 0.0
    columns: dict[str, list] = {
        "response_id": [],
        "user_id": [],
        "email": [],
        "question_key": [],
        "answer": [],
        "answered_at": [],
    }
    serial = 0
    for i in picked:
        start = max(int(people.signup_ms[i]), earliest)
        end = as_of_ms - 60 * MIN
        if start >= end:
            continue
        email_only = rng.random() < EMAIL_ONLY_SHARE
        with_email = email_only or rng.random() < WITH_EMAIL_SHARE
        first_at = int(rng.integers(start, end))
        times = [first_at]
        second_at = first_at + int(rng.integers(5 * DAY, 60 * DAY))
        if rng.random() < SECOND_RESPONSE_SHARE and second_at < end:
            times.append(second_at)
        category = people.top_category[i]
        for number, answered_at in enumerate(times):
            # a second response re-answers interests and, each with even odds, the others
            asked = [
                q for k, q in enumerate(QUESTIONS) if number == 0 or k == 0 or rng.random() < 0.5
            ]
            answers: list[tuple[str, str]] = []
            for question in asked:
                if question.key == "interests":
                    answers += [(question.key, a) for a in _interests(rng, category)]
                elif question.key == "values":
                    answers.append(
                        (question.key, _value(rng, people.average_order_value[i], median_aov))
                    )
                else:
                    answers.append((question.key, _shopping_for(rng, category)))
            typed = _typed_email(rng, people.email[i]) if with_email else None
            response_id = serial
            serial += 1
            for question_key, answer in answers:
                columns["response_id"].append(response_id)
                columns["user_id"].append(None if email_only else people.user_id[i])
                columns["email"].append(typed)
                columns["question_key"].append(question_key)
                columns["answer"].append(answer)
                columns["answered_at"].append(answered_at)
    ids = np.array(columns["response_id"], dtype=np.int64)
    return pa.table(
        {
            "response_id": hex_ids("resp_", ids, id_salt, 16),
            "user_id": pa.array(columns["user_id"], pa.string()),
            "email": pa.array(columns["email"], pa.string()),
            "question_key": pa.array(columns["question_key"], pa.string()),
            "answer": pa.array(columns["answer"], pa.string()),
            "answered_at": timestamps(np.array(columns["answered_at"], dtype=np.int64) * 1000),
        }
    )


def plant(
    con: duckdb.DuckDBPyConnection,
    writer: Writer,
    rng: np.random.Generator,
    as_of_ms: int,
    id_salt: int,
) -> int:
    """Write the survey responses of the base slice; returns the number of rows."""
    people = eligible_customers(con, writer.schema)
    table = build_responses(rng, people, as_of_ms, id_salt)
    writer.write("survey_responses", table)
    return table.num_rows
