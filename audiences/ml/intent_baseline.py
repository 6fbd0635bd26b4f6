"""The hand-weighted intent_score (models/marts/segments/purchase_intent.sql) recomputed at a
cut-off, so the propensity model and the rule are evaluated on the same people and labels.

Same behaviours (seed intent_weights), same decay (var intent_half_life_days) and look-back
(var intent_lookback_days), same cap of 100; only rows strictly before the cut-off count."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from audiences.ml.settings import MlSettings
from audiences.ml.store import fetch, require_tables
from reverse_etl.warehouse.base import Warehouse


def intent_scores(
    wh: Warehouse, settings: MlSettings, person_ids: Sequence[str], cutoff: datetime
) -> np.ndarray:
    """intent_score (0-100) of each of ``person_ids`` as of ``cutoff``."""
    core, inter = settings.schema("core"), settings.schema("intermediate")
    staging, seeds = settings.schema("staging"), settings.schema("seeds")
    require_tables(wh, core, ["fct_page_views"])
    require_tables(wh, inter, ["int_tracker__sessionized_events", "int_cart_abandonments"])
    require_tables(wh, staging, ["stg_esp__email_events"])
    require_tables(wh, seeds, ["intent_weights"])
    q = wh.quote
    start = cutoff - timedelta(days=int(settings.var("intent_lookback_days")))
    half_life = float(settings.var("intent_half_life_days"))
    sql = f"""
with
product_views as (
    select
        person_id,
        viewed_at as occurred_at,
        row_number() over (
            partition by person_id, product_id order by viewed_at, page_view_id
        ) as view_number
    from {q(core)}.{q("fct_page_views")}
    where page_type = 'product' and person_id is not null and viewed_at >= ? and viewed_at < ?
),
behaviours as (
    select person_id, 'product_view' as behaviour, occurred_at from product_views
    union all
    select person_id, 'repeat_product_view' as behaviour, occurred_at
    from product_views where view_number > 1
    union all
    select
        person_id,
        case event_type when 'add_to_cart' then 'add_to_cart' else 'checkout_start' end
            as behaviour,
        occurred_at
    from {q(inter)}.{q("int_tracker__sessionized_events")}
    where event_type in ('add_to_cart', 'begin_checkout') and person_id is not null
        and occurred_at >= ? and occurred_at < ?
    union all
    select person_id, 'cart_abandonment' as behaviour, abandoned_at as occurred_at
    from {q(inter)}.{q("int_cart_abandonments")}
    where is_abandoned and abandoned_at >= ? and abandoned_at < ?
    union all
    select user_id as person_id, 'email_click' as behaviour, occurred_at
    from {q(staging)}.{q("stg_esp__email_events")}
    where email_event_type = 'click' and user_id is not null
        and occurred_at >= ? and occurred_at < ?
)
select
    behaviours.person_id,
    sum(
        weights.points
        * power(0.5, extract(epoch from (? - behaviours.occurred_at)) / 86400.0 / ?)
    ) as points
from behaviours
inner join {q(seeds)}.{q("intent_weights")} as weights
    on behaviours.behaviour = weights.behaviour
group by behaviours.person_id
"""
    params: list[object] = [start, cutoff] * 4 + [cutoff, half_life]
    points = {str(r[0]): float(r[1]) for r in fetch(wh, sql, params)}
    return np.round(
        np.array([min(100.0, points.get(p, 0.0)) for p in person_ids], dtype=np.float64), 6
    )
