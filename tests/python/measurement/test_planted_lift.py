"""The generator's planted campaign effect (audiences/generator/campaigns.py) is found by the
measurement marts: generated demo data, built with dbt, a real DuckDB file.

- the generator and dbt agree on who is a new customer, since when, and who is held out;
- segment_lift recovers the planted extra orders of new_customer inside its 95 % interval
  and calls them significant;
- the segment with nothing planted shows no lift (p > 0.05 and an interval covering 0);
- campaign_attribution credits orders to the planted campaign aud_new_customer, and to the
  sync whose utm_campaign convention (syncs.yml, recorded by the sync engine) names it.

The build uses holdout_percent 50 (generator and dbt alike) so that the demo-sized segment
has enough holdout members to measure.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from dbt_support import BUILD_SEEDS_AND_MODELS, run_dbt_command

from audiences.generator import campaigns
from audiences.generator.config import GenerationConfig
from audiences.generator.runner import generate, to_ms
from audiences.realtime.evaluator.evaluate import is_holdout
from reverse_etl.config import load_project
from reverse_etl.state import StateStore
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

AS_OF = datetime(2026, 11, 24)
EVENTS = 500_000
HOLDOUT_PERCENT = 50
PLANTED = campaigns.PLANTED_EFFECT


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("planted_lift")
    db = work / "lift.duckdb"
    generate(
        GenerationConfig(
            db_path=db, events=EVENTS, seed=7, as_of=AS_OF, holdout_percent=HOLDOUT_PERCENT
        )
    )
    _record_braze_campaign_convention(db)
    # every seed and the models the lift needs, in one dbt call (was `dbt seed`, `dbt run`)
    run_dbt_command(
        *BUILD_SEEDS_AND_MODELS,
        "-s",
        "resource_type:seed",
        "+segment_lift",
        "+campaign_attribution",
        "--vars",
        f"{{as_of: '{AS_OF.isoformat()}', holdout_percent: {HOLDOUT_PERCENT}}}",
        db=db,
        work_dir=work,
    )
    return db


def _record_braze_campaign_convention(db: Path) -> None:
    """What a run of the shipped braze_users sync records (its utm_campaign convention),
    written by the sync engine's own state store."""
    repo = Path(__file__).resolve().parents[3]
    braze = load_project(repo / "syncs.yml").select(["braze_users"])[0]
    wh = DuckDBWarehouse(str(db))
    try:
        state = StateStore(wh)
        state.ensure()
        state.record_campaign(braze.name, braze.destination, braze.campaign_naming())
    finally:
        wh.close()


@pytest.fixture(scope="module")
def con(warehouse: Path):
    connection = duckdb.connect(str(warehouse), read_only=True)
    yield connection
    connection.close()


def _lift(con, segment_key: str, metric: str, destination: str = "all") -> dict:
    cur = con.execute(
        "select * from analytics_measurement.segment_lift "
        "where segment_key = ? and metric = ? and destination = ?",
        [segment_key, metric, destination],
    )
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    assert row is not None, f"no segment_lift row for {segment_key} / {metric}"
    return dict(zip(names, row, strict=True))


def test_holdout_bucket_matches_the_pinned_buckets_of_decision_0004():
    assert campaigns.holdout_bucket("u5", "high_value") == 2.86
    assert campaigns.holdout_bucket("u1", "high_value") == 11.04
    assert is_holdout("u5", "high_value", 10) and not is_holdout("u1", "high_value", 10)


def test_global_holdout_holds_people_out_of_every_segment():
    # the buckets of the dbt unit test segment_memberships_global_holdout
    assert is_holdout("u1", "high_value", 10, 15)  # global 14.85
    assert not is_holdout("u1", "high_value", 10)  # high_value 11.04, global off
    assert is_holdout("u4", "high_value", 10, 15)  # global 9.01
    assert is_holdout("u5", "high_value", 10, 15)  # high_value 2.86
    assert not is_holdout("u8", "high_value", 10, 15)  # global 15.54, high_value 70.20


def test_generator_and_dbt_agree_on_members_and_holdout(con):
    members = campaigns.new_customer_members(
        con, "raw", to_ms(AS_OF), holdout_percent=HOLDOUT_PERCENT
    )
    generator_side = {
        (p, int(s), bool(h))
        for p, s, h in zip(members.person_id, members.member_since, members.is_holdout, strict=True)
    }
    dbt_side = {
        (p, int(s), bool(h))
        for p, s, h in con.execute(
            "select person_id, epoch_ms(member_since), is_holdout "
            "from analytics_segments.segment_memberships where segment_key = 'new_customer'"
        ).fetchall()
    }
    assert generator_side == dbt_side
    holdouts = sum(h for _, _, h in dbt_side)
    assert 0 < holdouts < len(dbt_side)


def test_planted_effect_is_recovered_inside_its_interval(con):
    orders = _lift(con, PLANTED.segment_key, "orders_per_member")
    # every treated member got one extra order with this probability, inside the window
    assert orders["ci_low"] <= PLANTED.extra_order_probability <= orders["ci_high"], orders
    assert orders["ci_low"] > 0 and orders["p_value"] < 0.05, orders
    conversion = _lift(con, PLANTED.segment_key, "conversion_rate")
    assert conversion["absolute_lift"] > 0 and conversion["p_value"] < 0.05, conversion
    revenue = _lift(con, PLANTED.segment_key, "revenue_per_member")
    assert revenue["absolute_lift"] > 0, revenue


@pytest.mark.parametrize("destination", ["ads", "email"])
def test_planted_effect_shows_among_the_members_a_destination_reaches(con, destination):
    everyone = _lift(con, PLANTED.segment_key, "orders_per_member")
    reached = _lift(con, PLANTED.segment_key, "orders_per_member", destination)
    consented = con.execute(
        "select count(*) filter (where not m.is_holdout), count(*) filter (where m.is_holdout) "
        "from analytics_segments.segment_memberships as m "
        "join analytics_staging.stg_crm__customers as c on m.user_id = c.user_id "
        f"where m.segment_key = ? and c.has_{destination}_consent "
        "and c.user_id not in "
        "(select user_id from analytics_intermediate.int_privacy__erased_users)",
        [PLANTED.segment_key],
    ).fetchone()
    assert (reached["treated_members"], reached["holdout_members"]) == consented
    assert reached["treated_members"] < everyone["treated_members"], (reached, everyone)
    # the planted effect does not depend on consent: the reached members show it too
    assert reached["ci_low"] <= PLANTED.extra_order_probability <= reached["ci_high"], reached
    assert reached["absolute_lift"] > 0, reached


@pytest.mark.parametrize("metric", ["orders_per_member", "conversion_rate"])
def test_segment_without_a_planted_effect_shows_none(con, metric):
    row = _lift(con, campaigns.NO_EFFECT_SEGMENT, metric)
    assert row["treated_members"] > 0 and row["holdout_members"] > 0, row
    assert row["p_value"] > 0.05, row
    assert row["ci_low"] <= 0 <= row["ci_high"], row


def test_attribution_credits_the_planted_campaign(con):
    landings = con.execute(
        "select count(*) from raw.events where utm_campaign = ? and event_type = 'page_view'",
        [PLANTED.utm_campaign],
    ).fetchone()[0]
    rows = con.execute(
        "select attribution_model, sync_name, segment_key, sessions, conversions, revenue "
        "from analytics_measurement.campaign_attribution where utm_campaign = ? "
        "order by attribution_model",
        [PLANTED.utm_campaign],
    ).fetchall()
    assert [r[0] for r in rows] == ["first_touch", "last_touch"]
    for _, sync_name, segment_key, sessions, conversions, revenue in rows:
        # the shipped braze_users sync declares utm_campaign "aud_{segment_key}"
        assert sync_name == "braze_users"
        assert segment_key == PLANTED.segment_key
        # one landing per planted order; a landing inside an open session does not start one
        assert 0 < sessions <= landings
        # each planted order follows its own landing session within minutes
        assert conversions >= sessions and revenue > 0
