"""No future data in training features: rows planted after the cut-off (page views, events,
sessions, orders, abandoned carts, email clicks) change neither the propensity features nor
the intent_score baseline computed as of the cut-off. A feature allowed to read past the
cut-off is caught by the same check."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from ml_support import open_warehouse

from audiences.ml.features import PROPENSITY_FEATURES, feature_frame
from audiences.ml.intent_baseline import intent_scores
from audiences.ml.settings import MlSettings

CUTOFF = datetime(2026, 11, 17)


def _busiest_people(wh, count: int = 5) -> list[str]:
    rows = wh.query(
        "select person_id from analytics_core.fct_page_views where viewed_at < ? "
        "group by person_id order by count(*) desc, person_id limit ?",
        (CUTOFF, count),
    )
    return [r[0] for r in rows]


def plant_future_rows(path: Path, people: list[str], at: datetime) -> None:
    """Copies of these people's rows moved to ``at`` (after the cut-off), in every table the
    features and the baseline read."""
    wh = open_warehouse(path)
    try:
        marks = ", ".join("?" * len(people))
        plants = [
            ("analytics_intermediate.int_tracker__page_views", "viewed_at", "page_view_id"),
            ("analytics_intermediate.int_tracker__sessionized_events", "occurred_at", "event_id"),
            ("analytics_intermediate.int_tracker__sessions", "started_at", "session_id"),
            ("analytics_intermediate.int_shop__orders", "ordered_at", "order_id"),
            ("analytics_intermediate.int_cart_abandonments", "abandoned_at", "session_id"),
        ]
        for table, time_column, id_column in plants:
            before = wh.query(f"select count(*) from {table}")[0][0]
            wh.execute(
                f"insert into {table} select * replace (cast(? as timestamp) as {time_column}, "
                f"'planted_' || {id_column} as {id_column}) from {table} "
                f"where person_id in ({marks})",
                (at, *people),
            )
            assert wh.query(f"select count(*) from {table}")[0][0] > before, table
        wh.execute(
            "update analytics_intermediate.int_shop__orders set is_completed = true "
            "where order_id like 'planted_%'"
        )
        wh.execute(
            "insert into raw.email_events select * replace (cast(? as timestamp) as "
            "occurred_at, 'click' as event_type) from raw.email_events "
            f"where user_id in ({marks})",
            (at, *people),
        )
    finally:
        wh.close()


def test_rows_after_the_cutoff_change_no_feature(warehouse_copy: Path, settings: MlSettings):
    wh = open_warehouse(warehouse_copy)
    people = _busiest_people(wh)
    before = feature_frame(wh, settings, CUTOFF)
    intent_before = intent_scores(wh, settings, before.person_ids, CUTOFF)
    wh.close()

    plant_future_rows(warehouse_copy, people, CUTOFF + timedelta(hours=1))

    wh = open_warehouse(warehouse_copy)
    after = feature_frame(wh, settings, CUTOFF)
    intent_after = intent_scores(wh, settings, after.person_ids, CUTOFF)
    # the planted rows are there: features as of a later cut-off do see them
    later = feature_frame(wh, settings, CUTOFF + timedelta(days=1))
    wh.close()
    assert after.person_ids == before.person_ids
    np.testing.assert_array_equal(after.values, before.values)
    np.testing.assert_array_equal(intent_after, intent_before)
    assert set(people) <= set(later.person_ids)


def test_a_feature_reading_past_the_cutoff_is_caught(warehouse_copy: Path, settings: MlSettings):
    """The same check fails for a feature whose rows may reach 7 days past the cut-off."""
    leaky = (
        *PROPENSITY_FEATURES,
        replace(PROPENSITY_FEATURES[0], name="page_views_leaky", end_offset_days=7),
    )
    wh = open_warehouse(warehouse_copy)
    people = _busiest_people(wh)
    before = feature_frame(wh, settings, CUTOFF, leaky)
    wh.close()
    plant_future_rows(warehouse_copy, people, CUTOFF + timedelta(hours=1))
    wh = open_warehouse(warehouse_copy)
    after = feature_frame(wh, settings, CUTOFF, leaky)
    wh.close()
    assert not np.array_equal(after.values, before.values)
