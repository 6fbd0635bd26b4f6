"""Size floors, the segment health brake and what the platform reported, recorded per run
(docs/match-rates.md), against the real emulators over loopback and a real DuckDB file."""

from __future__ import annotations

import pytest
from dest_support import CUSTOMER, SCHEMA, ads_rows, insert

from audiences_emulators.google import match_rate_range
from reverse_etl.destinations.google_ads import MATCH_RATE_BOUNDS

T = f"{SCHEMA}.aud_meta_custom_audience"


def _metrics(env, run_id: str) -> dict[str, int]:
    rows = env.sql(
        f"SELECT metric, value FROM reverse_etl.run_metrics WHERE run_id = '{run_id}' "
        "ORDER BY metric"
    )
    return dict(rows)


def test_meta_counts_are_recorded_with_the_run(dest_env):
    env = dest_env("meta", n=120)
    res = env.run()
    assert res.status == "success" and res.warnings == []
    assert res.metrics == {
        "audience_size": 120,
        "meta_num_received": 120,
        "meta_num_invalid_entries": 0,
    }
    assert _metrics(env, res.run_id) == {
        "audience_size": 120,
        "meta_num_invalid_entries": 0,
        "meta_num_received": 120,
    }


def test_an_ad_audience_below_the_floor_warns_by_default(dest_env):
    env = dest_env("meta", n=30)
    res = env.run()
    assert res.status == "success" and res.counts["added"] == 30
    assert res.warnings == [
        "sync 'meta_sync': the audience has 30 members, below the minimum useful size of 100 "
        "for meta (min_audience_size): the platform may not serve it yet"
    ]


def test_below_the_floor_refuses_when_the_sync_says_so(dest_env):
    env = dest_env("google_data_manager", n=30, below_min_size="refuse", min_audience_size=50)
    res = env.run()
    assert res.status == "refused"
    assert res.error == (
        "sync 'google_data_manager_sync': the audience has 30 members, below the minimum "
        "useful size of 50 for google_data_manager (min_audience_size); nothing was sent "
        "(below_min_size: refuse). Widen the segment, or set below_min_size: warn to send it "
        "anyway."
    )
    assert env.target.holdings(env.emulator) == set()
    assert env.sql("SELECT status FROM reverse_etl.runs") == [("refused",)]


def test_a_floor_of_zero_never_warns(dest_env):
    env = dest_env("meta", n=5, min_audience_size=0)
    assert env.run().warnings == []


def test_the_health_brake_refuses_a_sudden_change_and_says_what_changed(dest_env):
    env = dest_env("meta", n=100, max_size_change_pct=20)
    assert env.run().status == "success"
    insert(env.db, "aud_meta_custom_audience", ads_rows(30, start=500))
    held = env.target.holdings(env.emulator)
    res = env.run()
    assert res.status == "refused"
    assert res.error == (
        "sync 'meta_sync' stopped by the segment health brake before sending anything: its "
        "audience changed from 100 to 130 members since the last run (+30.0 %), more than "
        "max_size_change_pct = 20 %. If the change is real (a new segment rule, a campaign "
        "ended), raise max_size_change_pct for 'meta_sync' in syncs.yml for one run (or set "
        "it to null); otherwise check the model's last build."
    )
    assert env.target.holdings(env.emulator) == held  # nothing was sent
    # a refused run does not become the new reference: the next run compares with 100 again
    env.exec(f"DELETE FROM {T} WHERE user_id >= 'u0000520'")  # 120 members: +20 %, allowed
    res = env.run()
    assert res.status == "success" and res.counts["added"] == 20
    assert res.metrics["audience_size"] == 120
    # a shrink is braked too (120 -> 90 is -25 %)
    env.exec(f"DELETE FROM {T} WHERE user_id < 'u0000030'")
    res = env.run()
    assert res.status == "refused" and "from 120 to 90 members" in res.error
    assert "(-25.0 %)" in res.error


def test_the_health_brake_can_be_overridden_for_one_run(dest_env):
    env = dest_env("meta", n=100, max_size_change_pct=20)
    assert env.run().status == "success"
    env.exec(f"DELETE FROM {T} WHERE user_id < 'u0000050'")
    assert env.run().status == "refused"
    env.sync = env.sync.model_copy(update={"max_size_change_pct": None})
    res = env.run()
    assert res.status == "success" and res.counts["removed"] == 50


def test_a_run_records_the_syncs_campaign_convention_for_attribution(dest_env):
    env = dest_env("meta", n=120, utm_campaign="meta_{segment_key}_nov")
    assert env.run().status == "success"
    convention = (
        "SELECT sync_name, destination, utm_campaign, campaign_prefix, campaign_suffix, "
        "has_segment_key, segment_key FROM reverse_etl.sync_campaigns"
    )
    assert env.sql(convention) == [
        ("meta_sync", "meta", "meta_{segment_key}_nov", "meta_", "_nov", True, None)
    ]


@pytest.mark.parametrize(("share", "reported"), [(1.0, (91, 100)), (0.0, (0, 19))])
def test_google_ads_match_rate_range_is_recorded_when_the_sync_waits_for_jobs(
    dest_env, share, reported
):
    env = dest_env(
        "google_ads",
        n=150,
        options={"customer_id": CUSTOMER, "wait_for_jobs": True, "poll_seconds": 0.01},
    )
    env.emulator.config.match_share = share
    res = env.run()
    assert res.status == "success"
    low, high = reported
    assert _metrics(env, res.run_id) == {
        "audience_size": 150,
        "google_ads_match_rate_high_pct": high,
        "google_ads_match_rate_low_pct": low,
    }


def test_google_ads_reports_no_match_rate_without_waiting_for_jobs(dest_env):
    env = dest_env("google_ads", n=150)
    res = env.run()
    assert res.status == "success" and res.metrics == {"audience_size": 150}


@pytest.mark.parametrize(
    ("percent", "name"),
    [
        (0.0, "MATCH_RANGE_LESS_THAN_20"),
        (19.4, "MATCH_RANGE_LESS_THAN_20"),
        (19.6, "MATCH_RANGE_20_TO_30"),
        (30.4, "MATCH_RANGE_20_TO_30"),
        (30.6, "MATCH_RANGE_31_TO_40"),
        (60.0, "MATCH_RANGE_51_TO_60"),
        (90.6, "MATCH_RANGE_91_TO_100"),
        (100.0, "MATCH_RANGE_91_TO_100"),
    ],
)
def test_emulator_match_rate_ranges_follow_the_api_enum(percent, name):
    assert match_rate_range(percent) == name
    low, high = MATCH_RATE_BOUNDS[name]
    assert low <= round(percent) <= high
