"""Person features as of a cut-off, for the propensity model and its evaluation.

Every feature is an aggregate over rows of one core/intermediate table whose time column is
strictly before the cut-off (``time < cutoff``), so a model trained at a cut-off never sees
what happened after it (tests/python/ml/test_leakage.py plants future rows to prove it).
The same SQL runs on DuckDB and PostgreSQL; values are rounded so both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from audiences.ml.settings import MlSettings
from audiences.ml.store import fetch, require_tables
from reverse_etl.warehouse.base import Warehouse

DECIMALS = 6
EPOCH = datetime(1970, 1, 1)
#: days a person with no such event at all is given as "days since" (about never)
NEVER_DAYS = 365.0


@dataclass(frozen=True)
class Source:
    """A table features are aggregated from: (dbt custom schema, table, time column)."""

    schema: str
    table: str
    time_column: str
    where: str = "true"


PAGE_VIEWS = Source("core", "fct_page_views", "viewed_at")
EVENTS = Source("intermediate", "int_tracker__sessionized_events", "occurred_at")
ORDERS = Source("core", "fct_orders", "ordered_at", "is_completed")
SESSIONS = Source("core", "fct_sessions", "started_at")


@dataclass(frozen=True)
class Feature:
    """``aggregate`` over the rows of ``source`` in the ``window_days`` before the cut-off
    (None: all rows before it) that also match ``condition``. ``kind`` "days_since": the
    aggregate is a timestamp turned into days before the cut-off."""

    name: str
    source: Source
    aggregate: str
    window_days: int | None = None
    condition: str = "true"
    kind: str = "value"
    #: days after the cut-off the rows may reach; only ever 0 (a test sets it to prove that
    #: a leaking feature is caught)
    end_offset_days: int = 0


PROPENSITY_FEATURES: tuple[Feature, ...] = (
    Feature("page_views_7d", PAGE_VIEWS, "count(*)", 7),
    Feature("page_views_30d", PAGE_VIEWS, "count(*)", 30),
    Feature("product_views_7d", PAGE_VIEWS, "count(*)", 7, "page_type = 'product'"),
    Feature("product_views_30d", PAGE_VIEWS, "count(*)", 30, "page_type = 'product'"),
    Feature(
        "cart_checkout_views_7d", PAGE_VIEWS, "count(*)", 7, "page_type in ('cart', 'checkout')"
    ),
    Feature("dwell_seconds_7d", PAGE_VIEWS, "sum(dwell_seconds)", 7),
    Feature("days_since_last_view", PAGE_VIEWS, "max(viewed_at)", kind="days_since"),
    Feature("sessions_7d", SESSIONS, "count(*)", 7),
    Feature("sessions_30d", SESSIONS, "count(*)", 30),
    Feature("add_to_carts_7d", EVENTS, "count(*)", 7, "event_type = 'add_to_cart'"),
    Feature("add_to_carts_30d", EVENTS, "count(*)", 30, "event_type = 'add_to_cart'"),
    Feature("checkouts_30d", EVENTS, "count(*)", 30, "event_type = 'begin_checkout'"),
    Feature("orders_lifetime", ORDERS, "count(*)"),
    Feature("orders_90d", ORDERS, "count(*)", 90),
    Feature("revenue_lifetime", ORDERS, "sum(order_total)"),
    Feature("days_since_last_order", ORDERS, "max(ordered_at)", kind="days_since"),
)


@dataclass
class FeatureFrame:
    """Features of every person seen before the cut-off, sorted by person_id."""

    cutoff: datetime
    person_ids: list[str]
    names: list[str]
    values: np.ndarray  # (people, features) float64


def _source_sql(
    wh: Warehouse, settings: MlSettings, source: Source, features: list[Feature]
) -> str:
    table = f"{wh.quote(settings.schema(source.schema))}.{wh.quote(source.table)}"
    t = source.time_column
    selects = []
    for f in features:
        conds = [f"({f.condition})"]
        if f.window_days is not None:
            conds.append(f"{t} >= ?")
        aggregate = f"{f.aggregate} filter (where {' and '.join(conds)})"
        if f.kind == "days_since":
            # seconds since 1970 of the latest row; days before the cut-off computed in Python
            selects.append(f"extract(epoch from {aggregate}) as f_{f.name}")
        else:
            selects.append(f"coalesce({aggregate}, 0) as f_{f.name}")
    return (
        f"select person_id, {', '.join(selects)} from {table} "
        f"where person_id is not null and ({source.where}) and {t} < ? "
        "group by person_id"
    )


def _bind(cutoff: datetime, features: list[Feature]) -> list[datetime]:
    params = [cutoff - timedelta(days=f.window_days) for f in features if f.window_days]
    # every feature of one source shares the source's upper bound: the largest offset
    end = max(f.end_offset_days for f in features)
    params.append(cutoff + timedelta(days=end))
    return params


def feature_frame(
    wh: Warehouse,
    settings: MlSettings,
    cutoff: datetime,
    features: Sequence[Feature] = PROPENSITY_FEATURES,
) -> FeatureFrame:
    """One row per person with a session or a completed order before ``cutoff``."""
    sources: dict[Source, list[Feature]] = {}
    for f in features:
        sources.setdefault(f.source, []).append(f)
    for source in sources:
        require_tables(wh, settings.schema(source.schema), [source.table])
    fetched: list[tuple[list[str], np.ndarray]] = []
    for source, group in sources.items():
        rows = fetch(wh, _source_sql(wh, settings, source, group), _bind(cutoff, group))
        # None (no row for a "days since") becomes NaN
        data = np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), len(group))
        fetched.append(([str(r[0]) for r in rows], data))
    person_ids = sorted(set().union(*(ids for ids, _ in fetched)))
    index = {p: i for i, p in enumerate(person_ids)}
    names = [f.name for f in features]
    column = {f.name: j for j, f in enumerate(features)}
    values = np.zeros((len(person_ids), len(names)), dtype=np.float64)
    cutoff_epoch = (cutoff - EPOCH).total_seconds()
    for (_source, group), (ids, data) in zip(sources.items(), fetched, strict=True):
        rows_at = np.fromiter((index[p] for p in ids), dtype=np.int64, count=len(ids))
        for k, f in enumerate(group):
            j = column[f.name]
            if f.kind == "days_since":
                # people without such a row (in this source or at all): never
                values[:, j] = NEVER_DAYS
                days = (cutoff_epoch - data[:, k]) / 86400.0
                values[rows_at, j] = np.where(
                    np.isnan(days), NEVER_DAYS, np.minimum(NEVER_DAYS, days)
                )
            else:
                values[rows_at, j] = data[:, k]
    return FeatureFrame(cutoff, person_ids, names, np.round(values, DECIMALS))


def purchase_labels(
    wh: Warehouse, settings: MlSettings, person_ids: Sequence[str], cutoff: datetime, days: int
) -> np.ndarray:
    """1 for each person with a completed order in [cutoff, cutoff + days), else 0."""
    table = f"{wh.quote(settings.schema('core'))}.{wh.quote('fct_orders')}"
    rows = fetch(
        wh,
        f"select distinct person_id from {table} "
        "where is_completed and person_id is not null and ordered_at >= ? and ordered_at < ?",
        (cutoff, cutoff + timedelta(days=days)),
    )
    buyers = {str(r[0]) for r in rows}
    return np.array([p in buyers for p in person_ids], dtype=np.int8)
