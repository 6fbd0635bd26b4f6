"""Each events measure and filter form, hand-computed at the window edge, against the
semantics of the compiled SQL (macros/segments/rules/conditions.sql)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from audiences.realtime.evaluator.evaluate import PersonEvent, events_leaf, next_change
from audiences.realtime.evaluator.normalize import normalize, to_micros
from audiences.realtime.evaluator.rules import Comparison, EventsLeaf, Filter, RuleSet

T = datetime(2026, 11, 24, 0, 0, 0)
AS_OF = to_micros(T)


def ev(seconds_before: int, session: str = "s1", **fields) -> PersonEvent:
    raw = {
        "event_id": f"e{seconds_before}-{len(fields)}-{session}",
        "anonymous_id": "a1",
        "event_type": "page_view",
        "occurred_at": (T - timedelta(seconds=seconds_before)).isoformat(),
        **fields,
    }
    return PersonEvent(normalize(raw), session)


def leaf(measure="count", op="at_least", number=1, within=3600, where=(), per=None):
    return EventsLeaf(tuple(where), within, measure, per, Comparison(op, number))


def test_window_edges_of_a_count():
    events = [ev(3600), ev(3599), ev(0), ev(-1)]  # out, in, in (T), after T: ignored
    assert events_leaf(leaf(op="exactly", number=2), events, AS_OF)
    assert not events_leaf(leaf(op="exactly", number=3), events, AS_OF)


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ("count", 5),
        ("distinct_products", 2),  # p1, p2 (null ignored)
        ("distinct_categories", 1),  # "Shoes" and "shoes" are one lower-cased category
        ("distinct_days", 2),  # 2026-11-23 and 2026-11-24 (UTC)
        ("distinct_sessions", 3),
    ],
)
def test_measures(measure, expected):
    events = [
        ev(10, "s1", product_id="p1", product_category="Shoes"),
        ev(20, "s1", product_id="p1", product_category="shoes"),
        ev(30, "s2", product_id="p2"),
        ev(40, "s3"),
        ev(0, "s3"),  # at T: 2026-11-24, the others on 2026-11-23
    ]
    big = leaf(measure, "exactly", expected, within=86400)
    assert events_leaf(big, events, AS_OF)
    assert not events_leaf(leaf(measure, "exactly", expected + 1, within=86400), events, AS_OF)


def test_filters_on_null_columns_are_false_even_with_not():
    events = [ev(10, utm_source=None), ev(20, utm_source="google"), ev(30, utm_source=" meta ")]
    not_google = leaf(where=[Filter("utm_source", "not_in", ("google",))], op="exactly", number=1)
    assert events_leaf(not_google, events, AS_OF)  # only "meta" (trimmed); the null is false
    meta = leaf(where=[Filter("utm_source", "in", ("meta",))], op="exactly", number=1)
    assert events_leaf(meta, events, AS_OF)


def test_like_is_a_case_sensitive_sql_pattern():
    events = [ev(1, page_url="/sale/a"), ev(2, page_url="/SALE/b"), ev(3, page_url="/sale_x/")]
    sale = leaf(where=[Filter("page_url", "like", ("%/sale/%",))], op="exactly", number=1)
    assert events_leaf(sale, events, AS_OF)
    one_char = leaf(where=[Filter("page_url", "like", ("/sale_a",))], op="exactly", number=1)
    assert events_leaf(one_char, events, AS_OF)  # "_" matches the second "/" of "/sale/a"


def test_vocabulary_columns_are_lower_cased_like_the_staging_view():
    events = [ev(1, event_type="Add_To_Cart", device_type="MOBILE")]
    cart = leaf(where=[Filter("event_type", "in", ("add_to_cart",)),
                       Filter("device_type", "in", ("mobile",))])  # fmt: skip
    assert events_leaf(cart, events, AS_OF)


def test_per_takes_one_value_and_ignores_nulls():
    events = [ev(i, product_id=p) for i, p in enumerate(["p1", "p1", "p2", None, None, None])]
    per_product = leaf(op="more_than", number=2, per="product_id")
    assert not events_leaf(per_product, events, AS_OF)  # p1: 2, p2: 1, nulls are no value
    assert events_leaf(leaf(op="at_least", number=2, per="product_id"), events, AS_OF)
    assert not events_leaf(leaf(op="at_least", number=1, per="product_id"), [ev(1)], AS_OF)


def test_comparisons_at_zero_without_events():
    assert events_leaf(leaf(op="none", number=0), [], AS_OF)
    assert events_leaf(leaf(op="at_most", number=2), [], AS_OF)
    assert events_leaf(leaf(op="less_than", number=1), [], AS_OF)
    assert not events_leaf(leaf(op="exactly", number=1), [], AS_OF)
    assert not events_leaf(leaf(op="more_than", number=0), [], AS_OF)


def test_next_change_is_the_first_window_exit_or_future_event():
    rules = RuleSet((), 1800, 10, 7 * 86400, durations_s=(3600, 86400))
    events = [ev(600), ev(5000), ev(-30)]
    # ev(600) leaves the 1 h window at T + 3000 s; ev(-30) enters at T + 30 s
    assert next_change(rules, events, AS_OF) == AS_OF + 30_000_000
    assert next_change(rules, events[:2], AS_OF) == AS_OF + 3000 * 1_000_000
