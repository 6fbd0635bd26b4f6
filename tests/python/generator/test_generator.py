"""Tests of the demo data generator (audiences.generator): contract, invariants, append."""

from __future__ import annotations

import math
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from audiences.generator import GenerationConfig, GenerationSummary, generate, profile
from audiences.generator.cli import generate as generate_command
from audiences.generator.config import AppendError
from audiences.generator.crm import ERASURE_SHARE

AS_OF = datetime(2026, 11, 20, 6, 0)
N = 30_000
SEED = 11
TABLES = ("events", "orders", "order_items", "customers", "email_events")

EXPECTED_TYPES = {
    "events": [
        ("event_id", "VARCHAR"),
        ("anonymous_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("session_id", "VARCHAR"),
        ("event_type", "VARCHAR"),
        ("page_type", "VARCHAR"),
        ("page_url", "VARCHAR"),
        ("product_id", "VARCHAR"),
        ("product_category", "VARCHAR"),
        ("engaged_seconds", "INTEGER"),
        ("search_term", "VARCHAR"),
        ("scroll_depth_percent", "INTEGER"),
        ("device_type", "VARCHAR"),
        ("browser", "VARCHAR"),
        ("os", "VARCHAR"),
        ("country", "VARCHAR"),
        ("region", "VARCHAR"),
        ("city", "VARCHAR"),
        ("referrer", "VARCHAR"),
        ("utm_source", "VARCHAR"),
        ("utm_medium", "VARCHAR"),
        ("utm_campaign", "VARCHAR"),
        ("occurred_at", "TIMESTAMP"),
        ("loaded_at", "TIMESTAMP"),
    ],
    "orders": [
        ("order_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("ordered_at", "TIMESTAMP"),
        ("status", "VARCHAR"),
        ("order_total", "DECIMAL(18,2)"),
        ("currency", "VARCHAR"),
        ("loaded_at", "TIMESTAMP"),
    ],
    "order_items": [
        ("order_id", "VARCHAR"),
        ("line_number", "INTEGER"),
        ("product_id", "VARCHAR"),
        ("product_category", "VARCHAR"),
        ("quantity", "INTEGER"),
        ("unit_price", "DECIMAL(18,2)"),
    ],
    "customers": [
        ("user_id", "VARCHAR"),
        ("email", "VARCHAR"),
        ("phone", "VARCHAR"),
        ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"),
        ("birth_date", "DATE"),
        ("gender", "VARCHAR"),
        ("country", "VARCHAR"),
        ("region", "VARCHAR"),
        ("city", "VARCHAR"),
        ("postal_code", "VARCHAR"),
        ("signup_at", "TIMESTAMP"),
        ("updated_at", "TIMESTAMP"),
        ("email_consent", "BOOLEAN"),
        ("ads_consent", "BOOLEAN"),
        ("consent_updated_at", "TIMESTAMP"),
        ("deleted_at", "TIMESTAMP"),
    ],
    "email_events": [
        ("event_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("event_type", "VARCHAR"),
        ("occurred_at", "TIMESTAMP"),
        ("loaded_at", "TIMESTAMP"),
    ],
}


def _run(path: Path, events: int = N, seed: int = SEED, as_of: datetime = AS_OF, **kw):
    return generate(GenerationConfig(db_path=path, events=events, seed=seed, as_of=as_of, **kw))


def table_hashes(path: Path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            t: con.execute(
                f"SELECT md5(coalesce(string_agg(s, chr(10) ORDER BY s), '')) "
                f"FROM (SELECT CAST(x AS VARCHAR) AS s FROM raw.{t} x)"
            ).fetchone()[0]
            for t in TABLES
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, GenerationSummary]:
    path = tmp_path_factory.mktemp("gen") / "base.duckdb"
    return path, _run(path)


@pytest.fixture(scope="module")
def con(base):
    c = duckdb.connect(str(base[0]), read_only=True)
    yield c
    c.close()


def one(con, sql: str):
    return con.execute(sql).fetchone()


# ---------------------------------------------------------------- contract & volume


def test_schema_and_column_types(con):
    for table, expected in EXPECTED_TYPES.items():
        got = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        assert got == expected, table


def test_row_count_within_two_percent(base, con):
    _, summary = base
    rows = one(con, "SELECT count(*) FROM raw.events")[0]
    assert abs(rows - N) <= 0.02 * N
    assert summary.rows_written["events"] == rows == summary.rows_total["events"]
    assert all(summary.rows_written[t] > 0 for t in TABLES)
    assert summary.elapsed_seconds > 0


def test_vocabularies(con):
    types = {r[0] for r in con.execute("SELECT DISTINCT event_type FROM raw.events").fetchall()}
    assert types == {
        "page_view", "page_ping", "add_to_cart", "remove_from_cart", "begin_checkout",
        "purchase", "search", "video_play", "form_submit", "cta_click",
    }  # fmt: skip
    pages = {r[0] for r in con.execute("SELECT DISTINCT page_type FROM raw.events").fetchall()}
    assert pages == {
        "home", "category", "product", "cart", "checkout", "content", "search", "account", "other",
    }  # fmt: skip
    devices = {r[0] for r in con.execute("SELECT DISTINCT device_type FROM raw.events").fetchall()}
    assert devices == {"desktop", "mobile", "tablet"}
    statuses = {r[0] for r in con.execute("SELECT DISTINCT status FROM raw.orders").fetchall()}
    assert statuses == {"completed", "cancelled", "refunded"}
    mail = {
        r[0] for r in con.execute("SELECT DISTINCT event_type FROM raw.email_events").fetchall()
    }
    assert {"send", "delivered", "open", "click", "bounce", "unsubscribe"} <= mail
    assert mail <= {"send", "delivered", "open", "click", "bounce", "unsubscribe", "spam_report"}
    assert one(con, "SELECT count(*) FROM raw.events WHERE anonymous_id IS NULL")[0] == 0


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_tables(base, tmp_path):
    again = tmp_path / "again.duckdb"
    _run(again)
    assert table_hashes(again) == table_hashes(base[0])


def test_different_seed_gives_different_tables(base, tmp_path):
    other = tmp_path / "other.duckdb"
    _run(other, seed=SEED + 1)
    a, b = table_hashes(other), table_hashes(base[0])
    assert all(a[t] != b[t] for t in TABLES)


# ---------------------------------------------------------------- time


def test_nothing_after_as_of_and_loads_after_occurrence(con):
    as_of = f"TIMESTAMP '{AS_OF.isoformat()}'"
    r = one(
        con,
        f"""SELECT max(occurred_at) <= {as_of}, max(loaded_at) <= {as_of},
                   count(*) FILTER (WHERE loaded_at < occurred_at),
                   min(occurred_at) >= {as_of} - INTERVAL 90 DAY
            FROM raw.events""",
    )
    assert r == (True, True, 0, True)
    r = one(
        con,
        f"""SELECT max(ordered_at) <= {as_of}, max(loaded_at) <= {as_of},
                   count(*) FILTER (WHERE loaded_at < ordered_at),
                   min(ordered_at) < {as_of} - INTERVAL 180 DAY,
                   min(ordered_at) >= {as_of} - INTERVAL 731 DAY
            FROM raw.orders""",
    )
    assert r == (True, True, 0, True, True)
    r = one(
        con,
        f"""SELECT max(occurred_at) <= {as_of}, max(loaded_at) <= {as_of},
                   count(*) FILTER (WHERE loaded_at < occurred_at) FROM raw.email_events""",
    )
    assert r == (True, True, 0)
    r = one(
        con,
        f"""SELECT max(updated_at) <= {as_of}, count(*) FILTER (WHERE updated_at < signup_at),
                   count(*) FILTER (WHERE deleted_at > {as_of}) FROM raw.customers""",
    )
    assert r == (True, 0, 0)


def test_hour_of_day_has_evening_peak_and_night_trough(con):
    p = profile_cached(con)
    assert p["evening_hour_share_19_22"] > 4 * p["night_hour_share_2_5"]


_PROFILE: dict = {}


def profile_cached(con) -> dict:
    if not _PROFILE:
        path = one(
            con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        )[0]
        _PROFILE.update(profile(path))
    return _PROFILE


# ---------------------------------------------------------------- delivery quirks


def test_duplicate_events_share_and_later_copy(con):
    total, distinct = one(con, "SELECT count(*), count(DISTINCT event_id) FROM raw.events")
    share = (total - distinct) / total
    assert 0.005 <= share <= 0.015
    r = one(
        con,
        """SELECT count(*), count(*) FILTER (WHERE n = 2 AND max_l > min_l)
           FROM (SELECT event_id, count(*) n, min(loaded_at) min_l, max(loaded_at) max_l,
                        count(DISTINCT (anonymous_id, event_type, occurred_at)) same
                 FROM raw.events GROUP BY event_id HAVING count(*) > 1 AND same = 1)""",
    )
    assert r[0] == total - distinct  # copies carry the same payload
    assert r[1] == r[0]  # and a strictly later loaded_at


def test_late_events_share(con):
    # loaded_at is capped at as_of, so only events older than 1 h can show as late
    late, normal_max = one(
        con,
        f"""SELECT avg((loaded_at - occurred_at > INTERVAL 1 HOUR)::INT),
                  max(loaded_at - occurred_at)
                    FILTER (WHERE loaded_at - occurred_at <= INTERVAL 1 HOUR
                            AND occurred_at < TIMESTAMP '{AS_OF.isoformat()}' - INTERVAL 1 HOUR)
           FROM (SELECT * FROM raw.events QUALIFY row_number() OVER (
                   PARTITION BY event_id ORDER BY loaded_at) = 1)""",
    )
    assert 0.015 <= late <= 0.025
    assert normal_max <= timedelta(minutes=10)
    assert one(con, "SELECT max(loaded_at - occurred_at) FROM raw.events")[0] <= timedelta(hours=72)


# ---------------------------------------------------------------- sessions & identity


def test_device_sessions_are_separated_by_inactivity(con):
    # tracker sessions: events inside one session_id never 30 min apart, and two
    # consecutive tracker sessions of a device are more than 30 min apart
    r = one(
        con,
        """WITH e AS (SELECT DISTINCT anonymous_id, session_id, occurred_at FROM raw.events
                      WHERE session_id IS NOT NULL),
                g AS (SELECT session_id, lag(session_id) OVER w AS prev_sid,
                             occurred_at - lag(occurred_at) OVER w AS gap
                      FROM e WINDOW w AS (PARTITION BY anonymous_id ORDER BY occurred_at))
           SELECT max(gap) FILTER (WHERE session_id = prev_sid),
                  min(gap) FILTER (WHERE session_id <> prev_sid) FROM g""",
    )
    assert r[0] < timedelta(minutes=30)
    assert r[1] > timedelta(minutes=30)


def test_tracker_session_ids_only_on_app_devices(con):
    r = one(
        con,
        """SELECT count(*), count(*) FILTER (WHERE with_sid > 0),
                  count(*) FILTER (WHERE with_sid > 0 AND with_sid < n)
           FROM (SELECT anonymous_id, count(*) n, count(session_id) with_sid
                 FROM raw.events GROUP BY anonymous_id)""",
    )
    devices, app_devices, mixed = r
    assert 0.1 <= app_devices / devices <= 0.3
    assert mixed == 0


def test_shared_devices_exist(con):
    n = one(
        con,
        """SELECT count(*) FROM (SELECT anonymous_id FROM raw.events
           WHERE user_id IS NOT NULL GROUP BY anonymous_id HAVING count(DISTINCT user_id) = 2)""",
    )[0]
    assert n > 0
    assert (
        one(
            con,
            """SELECT max(c) FROM (SELECT count(DISTINCT user_id) c FROM raw.events
           WHERE user_id IS NOT NULL GROUP BY anonymous_id)""",
        )[0]
        == 2
    )


def test_stitched_devices_exist(con):
    n = one(
        con,
        """SELECT count(*) FROM (
             SELECT anonymous_id,
                    min(occurred_at) FILTER (WHERE user_id IS NULL) AS first_anon,
                    min(occurred_at) FILTER (WHERE user_id IS NOT NULL) AS first_known
             FROM raw.events GROUP BY anonymous_id)
           WHERE first_anon < first_known""",
    )[0]
    assert n > 0


def test_campaign_fields_only_on_landing_page_views(con):
    r = one(
        con,
        """SELECT count(*) FILTER (WHERE utm_source IS NOT NULL),
                  count(*) FILTER (WHERE utm_source IS NOT NULL AND event_type <> 'page_view'),
                  count(*) FILTER (WHERE referrer IS NOT NULL AND event_type <> 'page_view'),
                  count(*) FILTER (WHERE (utm_source IS NULL) <> (utm_medium IS NULL)
                                      OR (utm_source IS NULL) <> (utm_campaign IS NULL))
           FROM raw.events""",
    )
    assert r[0] > 0 and r[1:] == (0, 0, 0)


def test_page_pings_carry_engaged_seconds(con):
    r = one(
        con,
        """SELECT count(*) FILTER (WHERE event_type = 'page_ping'),
                  count(*) FILTER (WHERE event_type = 'page_ping'
                                   AND engaged_seconds BETWEEN 1 AND 30),
                  count(*) FILTER (WHERE event_type <> 'page_ping' AND engaged_seconds IS NOT NULL)
           FROM raw.events""",
    )
    assert r[0] > 0 and r[0] == r[1] and r[2] == 0


def test_bounce_and_buyer_shares(con):
    p = profile_cached(con)
    assert 0.40 <= p["bounce_session_share"] <= 0.60
    assert 0.01 <= p["buyer_share_of_devices"] <= 0.05
    assert 0.6 <= p["cart_abandonment_share"] <= 0.8


# ---------------------------------------------------------------- commerce


def test_every_order_item_references_an_order_and_lines_are_contiguous(con):
    r = one(
        con,
        """SELECT count(*) FILTER (WHERE o.order_id IS NULL) FROM raw.order_items i
           LEFT JOIN raw.orders o USING (order_id)""",
    )
    assert r[0] == 0
    bad = one(
        con,
        """SELECT count(*) FROM (SELECT order_id, count(*) n, min(line_number) lo,
                                       max(line_number) hi, count(DISTINCT line_number) d
                                FROM raw.order_items GROUP BY order_id)
           WHERE lo <> 1 OR hi <> n OR d <> n""",
    )[0]
    assert bad == 0
    assert (
        one(con, "SELECT count(*) FROM raw.orders o ANTI JOIN raw.order_items i USING (order_id)")[
            0
        ]
        == 0
    )
    assert one(con, "SELECT count(*) - count(DISTINCT order_id) FROM raw.orders")[0] == 0


def test_items_sum_to_order_total(con):
    bad = one(
        con,
        """SELECT count(*) FROM raw.orders o JOIN (
             SELECT order_id, sum(unit_price * quantity) AS s FROM raw.order_items GROUP BY 1
           ) i USING (order_id) WHERE i.s <> o.order_total""",
    )[0]
    assert bad == 0


def test_orders_in_event_window_have_a_purchase_event_by_the_same_user(con):
    r = one(
        con,
        f"""SELECT count(*), count(e.user_id)
            FROM raw.orders o
            LEFT JOIN (SELECT DISTINCT user_id, occurred_at FROM raw.events
                       WHERE event_type = 'purchase') e
              ON e.user_id = o.user_id AND e.occurred_at = o.ordered_at
            WHERE o.ordered_at >= TIMESTAMP '{AS_OF.isoformat()}' - INTERVAL 90 DAY""",
    )
    assert r[0] > 0 and r[0] == r[1]
    # and each purchase event is one order
    purchases = one(
        con, "SELECT count(DISTINCT event_id) FROM raw.events WHERE event_type = 'purchase'"
    )[0]
    assert purchases == r[0]
    assert (
        one(
            con, "SELECT count(*) FROM raw.events WHERE event_type = 'purchase' AND user_id IS NULL"
        )[0]
        == 0
    )


def _within_sampling_error(observed: float, share: float, n: int, sigmas: float = 4.0) -> bool:
    """``observed`` is a share of ``n`` draws of probability ``share``, give or take
    ``sigmas`` standard errors (a fixed band around the share fails by chance at this
    test's few hundred orders or people, and any change of the random stream moves it)."""
    return abs(observed - share) <= sigmas * math.sqrt(share * (1 - share) / n)


def test_cancellation_and_refund_shares(con):
    orders, cancelled, refunded = one(
        con,
        """SELECT count(*), avg((status = 'cancelled')::INT), avg((status = 'refunded')::INT)
           FROM raw.orders""",
    )
    # audiences/generator/commerce.py: 5 % cancelled, 3 % refunded
    assert cancelled > 0 and _within_sampling_error(cancelled, 0.05, orders), (orders, cancelled)
    assert refunded > 0 and _within_sampling_error(refunded, 0.03, orders), (orders, refunded)


# ---------------------------------------------------------------- CRM & email


def test_crm_versions_consent_and_erasure(con):
    r = one(
        con,
        """SELECT count(DISTINCT user_id), count(*),
                  count(DISTINCT user_id) FILTER (WHERE deleted_at IS NOT NULL),
                  avg(email_consent::INT), avg(ads_consent::INT),
                  count(*) FILTER (WHERE consent_updated_at > updated_at)
           FROM raw.customers""",
    )
    people, rows, erased, email_c, ads_c, consent_after_update = r
    assert rows > 1.3 * people  # several versions per person
    # ERASURE_SHARE 0.5 %: about one person at this size, so none is possible
    assert erased <= 0.02 * people and _within_sampling_error(
        erased / people, ERASURE_SHARE, people
    )
    assert 0.3 < email_c < 0.8 and 0.2 < ads_c < 0.8
    assert consent_after_update == 0


def test_every_known_user_has_a_crm_record(con):
    for table in ("events", "orders", "email_events"):
        missing = one(
            con,
            f"""SELECT count(DISTINCT user_id) FROM raw.{table} t
                WHERE user_id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM raw.customers c WHERE c.user_id = t.user_id)""",
        )[0]
        assert missing == 0, table


def test_email_engagement_follows_a_send(con):
    orphan = one(
        con,
        """SELECT count(*) FROM raw.email_events e
           WHERE e.event_type <> 'send' AND NOT EXISTS (
             SELECT 1 FROM raw.email_events s
             WHERE s.event_type = 'send' AND s.user_id = e.user_id
               AND s.campaign_id = e.campaign_id AND s.occurred_at <= e.occurred_at)""",
    )[0]
    assert orphan == 0
    # nobody is mailed after unsubscribing
    after = one(
        con,
        """SELECT count(*) FROM raw.email_events s JOIN (
             SELECT user_id, min(occurred_at) t FROM raw.email_events
             WHERE event_type = 'unsubscribe' GROUP BY 1) u USING (user_id)
           WHERE s.event_type = 'send' AND s.occurred_at > u.t""",
    )[0]
    assert after == 0


# ---------------------------------------------------------------- append


@pytest.fixture(scope="module")
def appended(base, tmp_path_factory):
    folder = tmp_path_factory.mktemp("append")
    before = folder / "before.duckdb"
    after = folder / "after.duckdb"
    shutil.copy(base[0], before)
    shutil.copy(base[0], after)
    summary = _run(after, events=5_000, as_of=AS_OF + timedelta(days=2), append=True)
    return before, after, summary


def test_append_adds_rows_and_leaves_old_rows_unchanged(appended):
    before, after, summary = appended
    con = duckdb.connect(str(after))
    try:
        con.execute(f"ATTACH '{before}' AS old (READ_ONLY)")
        for t in TABLES:
            old_n = one(con, f"SELECT count(*) FROM old.raw.{t}")[0]
            new_n = one(con, f"SELECT count(*) FROM raw.{t}")[0]
            assert new_n == old_n + summary.rows_written[t] == summary.rows_total[t], t
            missing = one(con, f"SELECT count(*) FROM (FROM old.raw.{t} EXCEPT ALL FROM raw.{t})")[
                0
            ]
            assert missing == 0, t
        assert abs(summary.rows_written["events"] - 5_000) <= 100
        assert summary.rows_written["orders"] > 0 and summary.rows_written["customers"] > 0
        for t, col in (
            ("events", "loaded_at"),
            ("orders", "loaded_at"),
            ("email_events", "loaded_at"),
        ):
            r = one(
                con,
                f"""SELECT (SELECT max({col}) FROM old.raw.{t}),
                           (SELECT min({col}) FROM (FROM raw.{t} EXCEPT ALL FROM old.raw.{t}))""",
            )
            if r[1] is not None:
                assert r[1] > r[0], t
        # late events of the earlier period, loaded only now
        late = one(
            con,
            """SELECT count(*) FROM (FROM raw.events EXCEPT ALL FROM old.raw.events) n
               WHERE n.occurred_at <= (SELECT max(occurred_at) FROM old.raw.events)""",
        )[0]
        assert late >= 50
        # returning devices, some of them logging in now (stitching old anonymous history)
        returning, newly_known = one(
            con,
            """WITH n AS (FROM raw.events EXCEPT ALL FROM old.raw.events),
                    o AS (SELECT anonymous_id, count(user_id) AS known FROM old.raw.events
                          GROUP BY 1)
               SELECT count(DISTINCT n.anonymous_id),
                      count(DISTINCT n.anonymous_id) FILTER (WHERE o.known = 0
                                                             AND n.user_id IS NOT NULL)
               FROM n JOIN o USING (anonymous_id)""",
        )
        assert returning > 50 and newly_known > 0
        new_as_of = (AS_OF + timedelta(days=2)).isoformat()
        assert one(con, f"SELECT max(loaded_at) <= TIMESTAMP '{new_as_of}' FROM raw.events")[0]
    finally:
        con.close()


def test_append_is_deterministic(appended, tmp_path):
    before, after, _ = appended
    again = tmp_path / "again.duckdb"
    shutil.copy(before, again)
    _run(again, events=5_000, as_of=AS_OF + timedelta(days=2), append=True)
    assert table_hashes(again) == table_hashes(after)


def test_append_requires_a_later_as_of(appended, tmp_path):
    before, _, _ = appended
    copy = tmp_path / "copy.duckdb"
    shutil.copy(before, copy)
    digest = table_hashes(copy)
    with pytest.raises(AppendError):
        _run(copy, events=1_000, as_of=AS_OF - timedelta(hours=1), append=True)
    assert table_hashes(copy) == digest
    with pytest.raises(AppendError):
        _run(tmp_path / "empty.duckdb", events=1_000, append=True)


def test_append_to_events_written_before_the_optional_columns(base, tmp_path):
    path = tmp_path / "older.duckdb"
    shutil.copy(base[0], path)
    con = duckdb.connect(str(path))
    old_rows, old_pings = one(
        con, "SELECT count(*), count(*) FILTER (WHERE event_type = 'page_ping') FROM raw.events"
    )
    con.execute("ALTER TABLE raw.events DROP COLUMN search_term")
    con.execute("ALTER TABLE raw.events DROP COLUMN scroll_depth_percent")
    con.close()

    summary = _run(path, events=3_000, as_of=AS_OF + timedelta(days=1), append=True)

    con = duckdb.connect(str(path), read_only=True)
    try:
        r = one(
            con,
            """SELECT count(*), count(search_term), count(scroll_depth_percent),
                      count(*) FILTER (WHERE event_type = 'page_ping'
                                       AND scroll_depth_percent IS NULL)
               FROM raw.events""",
        )
    finally:
        con.close()
    assert r[0] == old_rows + summary.rows_written["events"]
    # the rows that were there stay null; the appended ones carry the new columns
    assert r[1] > 0 and r[2] > 0
    assert r[3] == old_pings


def test_replace_mode_replaces_tables(tmp_path):
    path = tmp_path / "r.duckdb"
    _run(path, events=3_000)
    _run(path, events=2_000)
    con = duckdb.connect(str(path), read_only=True)
    try:
        n = one(con, "SELECT count(*) FROM raw.events")[0]
        staging = one(
            con, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '__gen_%'"
        )[0]
    finally:
        con.close()
    assert abs(n - 2_000) <= 40 and staging == 0


# ---------------------------------------------------------------- CLI & profile


def test_cli_generates_and_rejects_bad_arguments(tmp_path):
    runner = CliRunner()
    db = tmp_path / "cli.duckdb"
    ok = runner.invoke(
        generate_command,
        ["--events", "2000", "--seed", "3", "--as-of", "2026-11-20T00:00:00Z", "--db", str(db)],
    )
    assert ok.exit_code == 0, ok.output
    assert "events" in ok.output and "events/s" in ok.output
    bad = runner.invoke(
        generate_command, ["--events", "10", "--as-of", "next tuesday", "--db", str(db)]
    )
    assert bad.exit_code == 2 and "ISO" in bad.output
    zero = runner.invoke(
        generate_command, ["--events", "0", "--as-of", "2026-11-20", "--db", str(db)]
    )
    assert zero.exit_code == 2 and "positive" in zero.output
    early = runner.invoke(
        generate_command,
        ["--events", "100", "--as-of", "2026-11-19", "--db", str(db), "--append"],
    )
    assert early.exit_code == 2 and "later than the existing data" in early.output
    helped = runner.invoke(generate_command, ["--help"])
    assert helped.exit_code == 0 and "--append" in helped.output


def test_cli_default_db_from_environment(tmp_path, monkeypatch):
    db = tmp_path / "env.duckdb"
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(db))
    result = CliRunner().invoke(
        generate_command, ["--events", "1000", "--as-of", "2026-11-20", "--profile"]
    )
    assert result.exit_code == 0, result.output
    assert db.exists() and "bounce_session_share" in result.output


def test_profile_measures(con):
    p = profile_cached(con)
    for key in (
        "events_per_session_p50",
        "single_event_session_share",
        "session_duration_p50_s",
        "orders_per_customer_mean",
        "orders_per_customer_median",
        "one_time_buyer_share",
        "order_value_mean",
        "order_value_median",
        "order_value_p90",
        "top10_revenue_share",
    ):
        assert p[key] is not None, key
    assert p["orders_per_customer_median"] in (1.0, 2.0)
    assert 20 <= p["order_value_mean"] <= 55


def test_a_crash_leaves_existing_tables_untouched(base, tmp_path, monkeypatch):
    copy = tmp_path / "crash.duckdb"
    shutil.copy(base[0], copy)
    digest = table_hashes(copy)

    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr("audiences.generator.runner.email.build_email_events", boom)
    with pytest.raises(RuntimeError):
        _run(copy, events=2_000, seed=99)
    assert table_hashes(copy) == digest
    con = duckdb.connect(str(copy), read_only=True)
    try:
        staging = one(
            con, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '__gen_%'"
        )[0]
    finally:
        con.close()
    assert staging == 0


def test_many_small_batches_keep_ids_unique_and_output_deterministic(tmp_path, monkeypatch):
    monkeypatch.setattr("audiences.generator.runner.MAX_BATCH_DEVICES", 150)
    first, second = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    _run(first, events=15_000, seed=5)
    _run(second, events=15_000, seed=5)
    assert table_hashes(first) == table_hashes(second)
    con = duckdb.connect(str(first), read_only=True)
    try:
        total, distinct_ids, devices = one(
            con,
            "SELECT count(*), count(DISTINCT event_id), count(DISTINCT anonymous_id) "
            "FROM raw.events",
        )
        assert abs(total - 15_000) <= 300 and devices > 3 * 150
        assert (total - distinct_ids) / total <= 0.015
        assert one(con, "SELECT count(*) - count(DISTINCT order_id) FROM raw.orders")[0] == 0
        assert one(con, "SELECT count(*) - count(DISTINCT event_id) FROM raw.email_events")[0] == 0
        # one person per user_id: a user_id's CRM rows share the same signup and name
        assert (
            one(
                con,
                """SELECT count(*) FROM (SELECT user_id FROM raw.customers GROUP BY user_id
               HAVING count(DISTINCT (signup_at, first_name, last_name)) > 1)""",
            )[0]
            == 0
        )
    finally:
        con.close()
