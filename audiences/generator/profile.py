"""Realism profile: the calibration measures of docs/generator-calibration.md (figures from
public data sets: Taobao UserBehavior, CDNOW), in SQL.

Sessions here are derived the way those figures were measured: 30-minute inactivity over all
(de-duplicated) events of a device, ignoring tracker session ids. Hours are local, using
each city's IANA time zone from the generator's catalogue, daylight saving time included
(other cities count as UTC).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from audiences.generator.catalog import PLACES
from audiences.generator.writer import quote

# measure -> (public reference figure, low, high): bands used by `--profile`
BANDS: dict[str, tuple[str, float | None, float | None]] = {
    "page_view_share_excl_pings": ("89.8 % (Taobao)", 0.70, 0.92),
    "add_to_cart_share_excl_pings": ("5.3 %", 0.02, 0.08),
    "purchase_share_excl_pings": ("2.1 %", 0.003, 0.03),
    "events_per_session_mean": ("6.0", 3.0, 12.0),
    "events_per_session_p25": ("1", 1, 1),
    "events_per_session_p50": ("3", 2, 5),
    "events_per_session_p75": ("7", 5, 12),
    "events_per_session_p90": ("15", 8, 30),
    "page_views_per_session_p50": ("3 (events, no pings)", 1, 4),
    "page_views_per_session_p75": ("7", 3, 8),
    "single_event_session_share": ("31 %", 0.2, 0.5),
    "bounce_session_share": ("40-60 % (web)", 0.40, 0.60),
    "session_duration_p50_s": ("208", 30, 400),
    "session_duration_p75_s": ("925", 200, 1500),
    "session_duration_p90_s": ("~2000", 600, 3000),
    "event_gap_p50_s": ("75", 10, 150),
    "buyer_share_of_devices": ("1-5 %", 0.01, 0.05),
    "cart_abandonment_share": ("~70 %", 0.6, 0.8),
    "sessions_with_add_to_cart_share": ("19 % (app sample)", 0.02, 0.25),
    "repeat_item_pair_share": ("15.5 % (Taobao)", 0.10, 0.30),
    "orders_per_customer_mean": ("2.96", 2.0, 4.0),
    "orders_per_customer_median": ("1", 1, 2),
    "orders_per_customer_p90": ("6", 4, 9),
    "one_time_buyer_share": ("50.5 %", 0.4, 0.6),
    "order_value_mean": ("35.89", 28.0, 45.0),
    "order_value_p10": ("11.77", 7.0, 16.0),
    "order_value_median": ("25.98", 20.0, 32.0),
    "order_value_p90": ("71.45", 55.0, 90.0),
    "order_value_p99": ("173.12", 120.0, 260.0),
    "days_between_orders_p25": ("10", 5, 18),
    "days_between_orders_p50": ("31", 20, 45),
    "days_between_orders_p75": ("89", 60, 120),
    "days_between_orders_p90": ("194", 130, 260),
    "top10_revenue_share": ("50.9 %", 0.4, 0.6),
    "evening_hour_share_19_22": ("6.5-8.8 % each", 0.06, 0.09),
    "night_hour_share_2_5": ("< 1 % each", 0.0, 0.012),
    "duplicate_event_share": ("~1 % (contract)", 0.005, 0.015),
    "late_event_share": ("~2 % (contract)", 0.01, 0.03),
}


INTERACTIONS = ("search", "video_play", "cta_click", "form_submit")


def _zones_sql() -> str:
    rows = ", ".join(f"('{p[2]}', '{p[3]}')" for p in PLACES)
    return f"(VALUES {rows}) AS z(city, time_zone)"


def profile(db_path: Path | str, schema: str = "raw") -> dict[str, float | None]:
    """Compute the realism measures from the raw tables; returns {measure: value}."""
    con = duckdb.connect(str(db_path), read_only=True)
    con.execute("SET enable_progress_bar = false")
    s = quote(schema)
    try:
        con.execute(
            f"""
            CREATE TEMP TABLE ev AS
            SELECT anonymous_id, user_id, event_type, page_type, product_id, city, occurred_at,
                   occurred_at - lag(occurred_at) OVER w AS gap
            FROM (SELECT * FROM {s}.events QUALIFY row_number() OVER (
                    PARTITION BY event_id ORDER BY loaded_at) = 1)
            WINDOW w AS (PARTITION BY anonymous_id ORDER BY occurred_at, event_type)
            """
        )
        con.execute(
            """
            CREATE TEMP TABLE ses AS
            SELECT anonymous_id, sid, count(*) AS events,
                   count(*) FILTER (WHERE event_type = 'page_view') AS page_views,
                   epoch(max(occurred_at) - min(occurred_at)) AS duration,
                   bool_or(event_type = 'add_to_cart') AS has_cart,
                   bool_or(event_type = 'purchase') AS has_purchase,
                   bool_or(event_type = 'search') AS has_search,
                   bool_or(event_type = 'video_play') AS has_video_play,
                   bool_or(event_type = 'cta_click') AS has_cta_click,
                   bool_or(event_type = 'form_submit') AS has_form_submit
            FROM (SELECT *, sum(CASE WHEN gap IS NULL OR gap > INTERVAL 30 MINUTE
                                    THEN 1 ELSE 0 END)
                            OVER (PARTITION BY anonymous_id ORDER BY occurred_at, event_type
                                  ROWS UNBOUNDED PRECEDING) AS sid
                  FROM ev)
            GROUP BY anonymous_id, sid
            """
        )
        out: dict[str, float | None] = {}

        def one(sql: str) -> tuple:
            return con.execute(sql).fetchone()

        total, pings = one(
            "SELECT count(*), count(*) FILTER (WHERE event_type='page_ping') FROM ev"
        )
        out["events"] = total
        out["page_ping_share"] = pings / total if total else None
        for et in ("page_view", "add_to_cart", "purchase"):
            n = one(f"SELECT count(*) FROM ev WHERE event_type = '{et}'")[0]
            out[f"{et}_share_excl_pings"] = n / (total - pings) if total > pings else None
        r = one(
            """SELECT avg(events), quantile_disc(events, [0.25, 0.5, 0.75, 0.9, 0.99]),
                      avg((events = 1)::INT), avg((page_views <= 1)::INT),
                      quantile_disc(duration, [0.25, 0.5, 0.75, 0.9]),
                      quantile_disc(page_views, [0.25, 0.5, 0.75]),
                      avg(has_cart::INT), count(*)
               FROM ses"""
        )
        out["sessions"] = r[7]
        out["events_per_session_mean"] = r[0]
        for q, v in zip(("p25", "p50", "p75", "p90", "p99"), r[1] or [None] * 5, strict=True):
            out[f"events_per_session_{q}"] = v
        out["single_event_session_share"] = r[2]
        out["bounce_session_share"] = r[3]
        for q, v in zip(("p25", "p50", "p75", "p90"), r[4] or [None] * 4, strict=True):
            out[f"session_duration_{q}_s"] = v
        for q, v in zip(("p25", "p50", "p75"), r[5] or [None] * 3, strict=True):
            out[f"page_views_per_session_{q}"] = v
        out["sessions_with_add_to_cart_share"] = r[6]
        r = one(
            """SELECT avg(has_search::INT), avg(has_video_play::INT), avg(has_cta_click::INT),
                      avg(has_form_submit::INT) FROM ses"""
        )
        for name, v in zip(INTERACTIONS, r, strict=True):
            out[f"sessions_with_{name}_share"] = v
        out["repeat_item_pair_share"] = one(
            """SELECT avg((views > 1)::INT) FROM (
                 SELECT coalesce(user_id, anonymous_id), product_id, count(*) AS views FROM ev
                 WHERE event_type = 'page_view' AND page_type = 'product'
                 GROUP BY ALL)"""
        )[0]
        g = one(
            "SELECT quantile_disc(epoch(gap), [0.25, 0.5, 0.75]) FROM ev WHERE gap IS NOT NULL"
        )[0]
        for q, v in zip(("p25", "p50", "p75"), g or [None] * 3, strict=True):
            out[f"event_gap_{q}_s"] = v
        r = one(
            """SELECT count(DISTINCT anonymous_id),
                      count(DISTINCT anonymous_id) FILTER (WHERE event_type = 'purchase')
               FROM ev"""
        )
        out["devices"] = r[0]
        out["buyer_share_of_devices"] = r[1] / r[0] if r[0] else None
        r = one(
            "SELECT count(*) FILTER (WHERE has_cart), "
            "count(*) FILTER (WHERE has_cart AND NOT has_purchase) FROM ses"
        )
        out["cart_abandonment_share"] = r[1] / r[0] if r[0] else None
        r = one(
            f"""
            WITH h AS (SELECT hour(timezone(coalesce(z.time_zone, 'UTC'),
                                            timezone('UTC', occurred_at))) AS h
                       FROM ev LEFT JOIN {_zones_sql()} USING (city))
            SELECT avg((h BETWEEN 19 AND 22)::INT) / 4, avg((h BETWEEN 2 AND 5)::INT) / 4 FROM h
            """
        )
        out["evening_hour_share_19_22"], out["night_hour_share_2_5"] = r

        con.execute(
            f"""CREATE TEMP TABLE cust AS
                SELECT user_id, count(*) AS orders, sum(order_total)::DOUBLE AS revenue
                FROM {s}.orders WHERE status = 'completed' GROUP BY user_id"""
        )
        r = one(
            """SELECT count(*), avg(orders), quantile_disc(orders, [0.5, 0.75, 0.9, 0.99]),
                      avg((orders = 1)::INT) FROM cust"""
        )
        out["customers_with_orders"] = r[0]
        out["orders_per_customer_mean"] = r[1]
        for q, v in zip(("median", "p75", "p90", "p99"), r[2] or [None] * 4, strict=True):
            out[f"orders_per_customer_{q}"] = v
        out["one_time_buyer_share"] = r[3]
        r = one(
            f"""SELECT count(*), avg(order_total::DOUBLE),
                       quantile_cont(order_total::DOUBLE, [0.1, 0.5, 0.9, 0.99]),
                       avg((order_total = 0)::INT)
                FROM {s}.orders WHERE status = 'completed'"""
        )
        out["orders"] = r[0]
        out["order_value_mean"] = r[1]
        for q, v in zip(("p10", "median", "p90", "p99"), r[2] or [None] * 4, strict=True):
            out[f"order_value_{q}"] = v
        out["zero_value_order_share"] = r[3]
        r = one(
            f"""SELECT quantile_cont(d, [0.25, 0.5, 0.75, 0.9]) FROM (
                  SELECT epoch(ordered_at - lag(ordered_at) OVER (
                           PARTITION BY user_id ORDER BY ordered_at)) / 86400 AS d
                  FROM {s}.orders WHERE status = 'completed') WHERE d IS NOT NULL"""
        )[0]
        for q, v in zip(("p25", "p50", "p75", "p90"), r or [None] * 4, strict=True):
            out[f"days_between_orders_{q}"] = v
        out["top10_revenue_share"] = one(
            """SELECT sum(revenue) FILTER (WHERE rk <= ceil(n * 0.1)) / sum(revenue) FROM (
                 SELECT revenue, row_number() OVER (ORDER BY revenue DESC) AS rk,
                        count(*) OVER () AS n FROM cust)"""
        )[0]
        r = one(
            f"""SELECT count(*), count(DISTINCT event_id),
                       avg((loaded_at - occurred_at > INTERVAL 1 HOUR)::INT)
                FROM {s}.events"""
        )
        out["duplicate_event_share"] = (r[0] - r[1]) / r[0] if r[0] else None
        out["late_event_share"] = r[2]
        r = one(
            f"""SELECT count(DISTINCT user_id), avg(deleted_at IS NOT NULL::INT)
                FROM {s}.customers"""
        )
        out["crm_people"] = r[0]
        out["crm_versions_per_person"] = None
        if r[0]:
            out["crm_versions_per_person"] = one(f"SELECT count(*) FROM {s}.customers")[0] / r[0]
        # rounded so that float summation order cannot change the reported figures
        return {k: (round(float(v), 6) if v is not None else None) for k, v in out.items()}
    finally:
        con.close()


def within_band(measure: str, value: float | None) -> bool | None:
    band = BANDS.get(measure)
    if band is None or value is None:
        return None
    _, lo, hi = band
    return (lo is None or value >= lo) and (hi is None or value <= hi)
