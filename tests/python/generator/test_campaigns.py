"""The planted campaign effect (audiences/generator/campaigns.py) only adds rows: the same
seed without it gives exactly the other rows, and every added row belongs to a planted
order of a treated new_customer member."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from audiences.generator import campaigns
from audiences.generator.config import GenerationConfig
from audiences.generator.runner import generate, to_ms
from audiences.generator.writer import TABLES

AS_OF = datetime(2026, 11, 24)
EVENTS = 60_000


def _generate(path: Path) -> Path:
    generate(GenerationConfig(db_path=path, events=EVENTS, seed=11, as_of=AS_OF))
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("campaigns")
    planted = _generate(work / "planted.duckdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(campaigns, "PLANTED_EFFECT", campaigns.PlantedEffect("new_customer", 0.0))
        plain = _generate(work / "plain.duckdb")
    return planted, plain


def _difference(con: duckdb.DuckDBPyConnection, table: str, left: str, right: str) -> int:
    return con.execute(
        f"select count(*) from (select * from {left}.raw.{table} "
        f"except all select * from {right}.raw.{table})"
    ).fetchone()[0]


def test_planting_only_adds_rows(pair):
    planted, plain = pair
    con = duckdb.connect()
    con.execute(f"attach '{planted}' as planted (read_only)")
    con.execute(f"attach '{plain}' as plain (read_only)")
    removed = {t: _difference(con, t, "plain", "planted") for t in TABLES}
    added = {t: _difference(con, t, "planted", "plain") for t in TABLES}
    assert removed == dict.fromkeys(TABLES, 0)
    orders = added["orders"]
    assert orders > 0
    # one line per planted order; a landing page view and a purchase event per order
    assert added == {
        "events": 2 * orders,
        "orders": orders,
        "order_items": orders,
        "customers": 0,
        "email_events": 0,
        "survey_responses": 0,
    }


def test_planted_orders_belong_to_treated_new_customers_inside_their_window(pair):
    planted, plain = pair
    con = duckdb.connect(str(planted), read_only=True)
    members = campaigns.new_customer_members(con, "raw", to_ms(AS_OF))
    since = dict(zip(members.person_id, members.member_since, strict=True))
    holdout = dict(zip(members.person_id, members.is_holdout, strict=True))
    con.execute(f"attach '{plain}' as plain (read_only)")
    rows = con.execute(
        "select user_id, epoch_ms(ordered_at), status from raw.orders "
        "except all select user_id, epoch_ms(ordered_at), status from plain.raw.orders"
    ).fetchall()
    window_ms = campaigns.LIFT_WINDOW_DAYS * 86_400_000
    for user_id, ordered_ms, status in rows:
        assert user_id in since and not holdout[user_id]
        assert since[user_id] < ordered_ms <= min(since[user_id] + window_ms, to_ms(AS_OF))
        assert status == "completed"
    campaign_views = con.execute(
        "select count(*), count(distinct utm_campaign) from raw.events "
        "where utm_campaign like 'aud%'"
    ).fetchone()
    assert campaign_views == (len(rows), 1)
