"""The streaming evaluator on a real Redis, with hand-computed expectations: window edges
to the second, the inclusive 30-minute sequence bound, an absent step elapsing, duplicate
and late events, a login mid-stream, a shared device, the holdout and batch references."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from audiences.realtime.evaluator import Evaluator, load_rules
from audiences.realtime.evaluator.evaluate import holdout_bucket
from audiences.realtime.evaluator.normalize import to_micros
from audiences.realtime.evaluator.rules import RuleError
from audiences.realtime.stream import RedisEventStream

ROOT = Path(__file__).resolve().parents[3]
T = datetime(2026, 11, 24, 12, 0, 0)

RULES = """
version: 2
models:
  - name: custom_segments
    config:
      meta:
        custom_segments:
          - name: viewed_product_3x_24h
            description: d
            rule:
              events:
                where: {event_type: page_view, page_type: product}
                within: 24h
                per: product_id
                more_than: 3
          - name: viewed_then_abandoned_30m
            description: d
            rule:
              sequence:
                steps:
                  - where: {event_type: page_view, page_type: product}
                  - where: {event_type: add_to_cart}
                    within: 30m
                    same: product_id
                    window: 24h
                  - where: {event_type: purchase}
                    within: 30m
                    absent: true
          - name: no_purchase_1h
            description: d
            rule:
              events: {where: {event_type: purchase}, within: 1h, none: true}
          - name: two_sessions_24h
            description: d
            rule:
              events: {within: 24h, measure: distinct_sessions, at_least: 2}
          - name: engaged_viewer
            description: d
            rule:
              all:
                - in_segment: viewed_product_3x_24h
                - in_segment: high_engagement
          - name: lifetime_buyer
            description: d
            rule:
              all:
                - {column: orders_lifetime, op: ">=", value: 1}
                - in_segment: no_purchase_1h
          - name: dwell_reader
            description: d
            rule:
              events: {where: {page_type: product}, within: 7d, measure: sum_dwell, more_than: 60}
          - name: evening_viewer
            description: d
            rule:
              events: {where: {hour_of_day: {between: [18, 23]}}, within: 1d, at_least: 1}
"""


class Harness:
    def __init__(self, redis_client, keys, tmp_path: Path, rules_text: str = RULES, holdout=0):
        path = tmp_path / "segments.yml"
        path.write_text(rules_text)
        self.rules = load_rules(ROOT, path, overrides={"holdout_percent": holdout})
        self.client = redis_client
        self.keys = keys
        self.stream = RedisEventStream(redis_client, keys)
        self.now = T
        self.evaluator = Evaluator(
            redis_client, keys, self.stream, self.rules, clock=lambda: self.now, consumer="c"
        )
        self.evaluator.start()
        self.n = 0

    def send(self, *events: dict, at: datetime | None = None) -> None:
        if at is not None:
            self.now = at
        for event in events:
            self.client.delete(self.keys.seen(event["event_id"]))
        self.stream.publish(list(events))
        self.evaluator.run(once=True, count=100, block_ms=0)

    def tick(self, at: datetime) -> None:
        self.now = at
        self.evaluator.run(once=True, count=100, block_ms=0)

    def event(self, when: datetime, event_type: str = "page_view", **fields) -> dict:
        self.n += 1
        return {
            "event_id": fields.pop("event_id", f"e{self.n}"),
            "anonymous_id": fields.pop("anonymous_id", "a1"),
            "event_type": event_type,
            "page_type": fields.pop("page_type", "product"),
            "product_id": fields.pop("product_id", "p1"),
            "occurred_at": when.isoformat(),
            **fields,
        }

    def segments(self, person: str) -> set[str]:
        return self.client.smembers(self.keys.live_segments(person))

    def changes(self) -> list[tuple[str, str, str]]:
        return [
            (f["person_id"], f["segment_key"], f["change"])
            for _, f in self.client.xrange(self.keys.changes)
        ]


@pytest.fixture
def h(redis_client, keys, tmp_path) -> Harness:
    return Harness(redis_client, keys, tmp_path)


def test_classification_and_streamable_set(h):
    by_name = {s.name: s for s in h.rules.segments}
    assert [s.name for s in h.rules.streamable] == [
        "viewed_product_3x_24h",
        "viewed_then_abandoned_30m",
        "no_purchase_1h",
        "two_sessions_24h",
        "engaged_viewer",
    ]
    assert by_name["engaged_viewer"].batch_references == ("high_engagement",)
    assert by_name["lifetime_buyer"].reason == "column condition on 'orders_lifetime'"
    assert by_name["dwell_reader"].reason.startswith("measure 'sum_dwell'")
    assert by_name["evening_viewer"].reason == "local-time filter 'hour_of_day'"
    assert h.client.smembers(h.keys.streamable) == {s.name for s in h.rules.streamable}
    # the project's own file: two streamable playbook segments
    project = {s.name for s in load_rules(ROOT).streamable}
    assert project == {"viewed_product_3x_24h", "viewed_then_abandoned_30m"}


def test_a_bad_rule_names_the_file_and_segment(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(RULES.replace("within: 24h\n", "within: 24 hrs\n", 1))
    with pytest.raises(RuleError, match=r"viewed_product_3x_24h.*'24 hrs' is not a duration"):
        load_rules(ROOT, path)


def test_window_is_half_open_to_the_second(h):
    day = timedelta(hours=24)
    # T - 24h is out, T - 24h + 1 s is in, T itself is in, after T is ignored
    h.send(
        h.event(T - day),
        h.event(T - day + timedelta(seconds=1)),
        h.event(T - timedelta(hours=1)),
        h.event(T),
        h.event(T + timedelta(seconds=1)),
    )
    assert "viewed_product_3x_24h" not in h.segments("a1")  # 3 in the window
    h.send(h.event(T - timedelta(minutes=5)))
    assert "viewed_product_3x_24h" in h.segments("a1")  # 4
    # one second later the view at T - 24h + 1 s leaves the window: re-evaluated when due
    h.tick(T + timedelta(seconds=1))
    # ... but the view at T + 1 s enters at the same instant: still 4
    assert "viewed_product_3x_24h" in h.segments("a1")
    h.tick(T + timedelta(hours=22, minutes=59, seconds=59))  # T - 1h, T - 5 min, T, T + 1 s
    assert "viewed_product_3x_24h" in h.segments("a1")
    h.tick(T + timedelta(hours=23))  # T - 1 h is exactly 24 h old: out, 3 left
    assert "viewed_product_3x_24h" not in h.segments("a1")
    assert h.changes()[-1] == ("a1", "viewed_product_3x_24h", "exited")


def test_per_product_needs_one_product_over_the_threshold(h):
    views = [h.event(T - timedelta(minutes=i), product_id=f"p{i % 2}") for i in range(6)]
    h.send(*views)
    assert "viewed_product_3x_24h" not in h.segments("a1")  # 3 + 3
    h.send(h.event(T - timedelta(minutes=9), product_id="p0"))
    assert "viewed_product_3x_24h" in h.segments("a1")  # p0: 4


def test_sequence_bound_is_inclusive_and_the_absent_step_must_elapse(h):
    view = T - timedelta(hours=2)
    # a1: the add to cart exactly 30 min after the view matches
    h.send(
        h.event(view),
        h.event(view + timedelta(minutes=30), "add_to_cart", page_type="cart"),
    )
    assert "viewed_then_abandoned_30m" in h.segments("a1")
    # a2: 30 min 1 s after the view does not
    h.send(
        h.event(view, anonymous_id="a2"),
        h.event(view + timedelta(minutes=30, seconds=1), "add_to_cart", anonymous_id="a2"),
    )
    assert "viewed_then_abandoned_30m" not in h.segments("a2")
    # a3: a purchase exactly 30 min after the add to cart blocks it; one before does not
    cart = view + timedelta(minutes=10)
    h.send(
        h.event(cart - timedelta(minutes=1), "purchase", anonymous_id="a3"),
        h.event(view, anonymous_id="a3"),
        h.event(cart, "add_to_cart", anonymous_id="a3"),
    )
    assert "viewed_then_abandoned_30m" in h.segments("a3")
    h.send(h.event(cart + timedelta(minutes=30), "purchase", anonymous_id="a3"))
    assert "viewed_then_abandoned_30m" not in h.segments("a3")
    # a4: an add to cart 29 min 59 s before T is not yet an abandonment; at +30 min it is
    cart = T - timedelta(minutes=29, seconds=59)
    h.send(
        h.event(cart - timedelta(minutes=5), anonymous_id="a4", product_id="p9"),
        h.event(cart, "add_to_cart", anonymous_id="a4", product_id="p9"),
    )
    assert "viewed_then_abandoned_30m" not in h.segments("a4")
    h.tick(T + timedelta(seconds=1))  # due: nothing new arrives, time passes
    assert "viewed_then_abandoned_30m" in h.segments("a4")
    assert ("a4", "viewed_then_abandoned_30m", "entered") in h.changes()
    # same product only: a cart of another product does not follow the view
    h.send(
        h.event(view, anonymous_id="a5", product_id="p1"),
        h.event(view + timedelta(minutes=1), "add_to_cart", anonymous_id="a5", product_id="p2"),
    )
    assert "viewed_then_abandoned_30m" not in h.segments("a5")


def test_duplicates_count_once_and_late_events_count(h):
    first = h.event(T - timedelta(minutes=3))
    h.send(first, h.event(T - timedelta(minutes=2)), h.event(T - timedelta(minutes=1)))
    h.send(first)  # re-delivered (its idempotency key expired)
    h.send(dict(first))
    assert "viewed_product_3x_24h" not in h.segments("a1")  # still 3 events
    h.send(h.event(T - timedelta(hours=20)))  # late: 20 hours old
    assert "viewed_product_3x_24h" in h.segments("a1")
    # the device's events are stored once each, in the order they arrived
    stored = h.client.lrange(h.evaluator.state.device_events("a1"), 0, -1)
    assert [json.loads(e)["t"] for e in stored] == [
        to_micros(T - timedelta(minutes=m)) for m in (3, 2, 1, 20 * 60)
    ]
    assert "e" not in json.loads(h.client.get(h.evaluator.state.device("a1")))


def test_login_mid_stream_moves_the_device_to_the_user(h):
    views = [h.event(T - timedelta(minutes=40 - i)) for i in range(4)]
    h.send(*views)
    assert "viewed_product_3x_24h" in h.segments("a1")
    assert h.client.get(h.keys.live_person_of("a1")) == "a1"
    h.send(h.event(T - timedelta(minutes=1), "cta_click", user_id="u1", page_type="account"))
    assert h.segments("a1") == set()
    assert "viewed_product_3x_24h" in h.segments("u1")
    assert h.client.get(h.keys.live_person_of("a1")) == "u1"
    assert h.client.get(h.keys.live_person_of("u1")) == "u1"
    assert ("a1", "viewed_product_3x_24h", "exited") in h.changes()
    assert ("u1", "viewed_product_3x_24h", "entered") in h.changes()
    # the user's second device adds to the same person
    h.send(h.event(T, "page_view", anonymous_id="b1", user_id="u1"))
    assert h.client.smembers(h.evaluator.state.devices_of("u1")) == {"a1", "b1"}
    # the changes say who can be addressed (triggers skip anonymous persons)
    user_of = {
        (f["person_id"], f["change"]): f["user_id"] for _, f in h.client.xrange(h.keys.changes)
    }
    assert user_of[("a1", "entered")] == "" and user_of[("a1", "exited")] == ""
    assert user_of[("u1", "entered")] == "u1"


def test_shared_device_keeps_anonymous_sessions_anonymous(h):
    # session 1 (u1 identifies last), a gap of more than 30 min, session 2 anonymous,
    # another gap, session 3 (u2); exactly 30 min would not split
    s1 = T - timedelta(hours=5)
    s2 = s1 + timedelta(minutes=40)
    s3 = s2 + timedelta(minutes=45)
    h.send(
        h.event(s1, user_id="u0"),
        h.event(s1 + timedelta(minutes=1), user_id="u1"),
        h.event(s1 + timedelta(minutes=2)),
        *[h.event(s2 + timedelta(minutes=i)) for i in range(4)],
        h.event(s3, user_id="u2"),
        h.event(s3 + timedelta(minutes=30)),  # exactly 30 min later: still u2's session
    )
    assert "viewed_product_3x_24h" in h.segments("a1")  # the anonymous session: 4 views
    assert h.segments("u1") == {"no_purchase_1h"}  # 3 views (u0 identified first)
    assert h.segments("u0") == set()
    assert h.segments("u2") == {"no_purchase_1h"}
    assert h.client.get(h.keys.live_person_of("a1")) == "a1"
    assert "two_sessions_24h" not in h.segments("a1")  # (a split would give a1 a 2nd one)
    # a campaign change starts a new session within the 30 minutes
    h.send(h.event(s2 + timedelta(minutes=5), utm_source="meta", utm_campaign="c1"))
    assert "two_sessions_24h" in h.segments("a1")


def test_none_holds_without_events_only_for_known_people(h):
    h.send(h.event(T + timedelta(minutes=1), anonymous_id="future"))
    assert h.segments("future") == set()  # unknown to the batch at T (no event by T)
    h.send(h.event(T - timedelta(hours=3), anonymous_id="b"))
    assert h.segments("b") == {"no_purchase_1h"}
    h.send(h.event(T - timedelta(minutes=59), "purchase", anonymous_id="b"))
    assert h.segments("b") == {"two_sessions_24h"}  # 2 h apart: two sessions
    h.tick(T + timedelta(minutes=1))  # the purchase is exactly 1 h old: out of the window
    assert h.segments("b") == {"no_purchase_1h", "two_sessions_24h"}
    h.tick(T + timedelta(minutes=1, seconds=1))
    assert "no_purchase_1h" in h.segments("future")


def test_batch_references_read_the_cache(h):
    views = [h.event(T - timedelta(minutes=i)) for i in range(4)]
    h.client.sadd(h.keys.batch_segments("a1"), "high_engagement")
    h.send(*views)
    assert "engaged_viewer" in h.segments("a1")


def test_references_count_a_batch_segment_the_person_is_held_out_of(h):
    # held out of high_engagement by the build: not served (batch:seg), but a member for
    # the rules (batch:held), as in the batch's custom_segments
    views = [h.event(T - timedelta(minutes=i), anonymous_id="h1") for i in range(4)]
    h.client.sadd(h.keys.batch_held("h1"), "high_engagement")
    h.send(*views)
    assert "engaged_viewer" in h.segments("h1")
    h.send(*[h.event(T - timedelta(minutes=i), anonymous_id="n1") for i in range(4)])
    assert "engaged_viewer" not in h.segments("n1")  # in neither set


def test_holdout_is_excluded_from_the_live_set_but_not_from_references(
    redis_client, keys, tmp_path
):
    h = Harness(redis_client, keys, tmp_path, holdout=10)
    # decision 0004's pinned example: u5 / high_value = 2.86 -> held out
    assert holdout_bucket("u5", "high_value") == 2.86
    assert holdout_bucket("u1", "high_value") == 11.04
    person = next(
        f"p{i}"
        for i in range(1000)
        if holdout_bucket(f"p{i}", "viewed_product_3x_24h") < 10
        and holdout_bucket(f"p{i}", "engaged_viewer") >= 10
    )
    h.client.sadd(h.keys.batch_segments(person), "high_engagement")
    h.send(*[h.event(T - timedelta(minutes=i), anonymous_id=person) for i in range(4)])
    assert "viewed_product_3x_24h" not in h.segments(person)
    assert "engaged_viewer" in h.segments(person)  # built membership, holdout included


def test_a_backlog_of_due_persons_is_worked_off_in_bounded_loops(h):
    h.evaluator.due_per_batch = 2
    people = [f"d{i}" for i in range(5)]
    h.send(*[h.event(T - timedelta(minutes=59), "purchase", anonymous_id=p) for p in people])
    assert all(h.segments(p) == set() for p in people)
    h.tick(T + timedelta(minutes=1))  # five persons due, two per loop
    assert all(h.segments(p) == {"no_purchase_1h"} for p in people)


def test_history_older_than_the_horizon_replayed_in_order_keeps_identity(h):
    old = T - timedelta(days=3)  # beyond the 24.5 h look-back of the rules: archived at once
    h.send(h.event(old, "cta_click", anonymous_id="s"))
    # later batches, still older than the horizon: after the archive's tail, so exact
    h.send(h.event(old + timedelta(minutes=5), "cta_click", anonymous_id="s", user_id="u9"))
    h.send(h.event(old + timedelta(hours=2), "cta_click", anonymous_id="s", user_id="u8"))
    state = json.loads(h.client.get(h.evaluator.state.device("s")))
    assert len(state["a"]) == 2  # two archived sessions
    assert not h.client.exists(h.evaluator.state.device_events("s"))  # and no events
    # a shared device: the first session is u9's (identified last in it), the second u8's
    assert h.segments("u9") == {"no_purchase_1h"}
    assert h.segments("u8") == {"no_purchase_1h"}
    assert h.segments("s") == set()
    assert h.client.get(h.keys.live_person_of("s")) == "s"
