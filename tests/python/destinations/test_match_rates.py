"""Match rates before sending (`audiences plan`), computed from a real DuckDB model with
hand-written members whose identifiers are known to be present, missing or malformed."""

from __future__ import annotations

from datetime import date

import pytest
from dest_support import AS_OF, SEGMENT
from rich.console import Console

from reverse_etl.engine import SyncEngine
from reverse_etl.match_rates import MatchRateCounter, measure
from reverse_etl.report import plan_dict, print_plan
from reverse_etl.warehouse.duckdb import DuckDBWarehouse


def _row(uid, email, phone, first="Ana", last="Lopez", postal="10115", country="DE"):
    return {
        "user_id": uid,
        "segment_key": SEGMENT,
        "email": email,
        "phone": phone,
        "first_name": first,
        "last_name": last,
        "country": country,
        "postal_code": postal,
        "city": "Berlin",
        "region": "BE",
        "birth_date": date(1990, 1, 2),
        "gender": "f",
        "as_of": AS_OF,
    }


# 6 members: email present 5 (valid 4), phone present 4 (valid 2), full address 5 (valid 5)
ROWS = [
    _row("u1", "a@example.com", "+4915112345678"),  # email, phone, address: 3 keys
    _row("u2", "b@example.com", "not a phone"),  # email, address: 2 keys (bad phone)
    _row("u3", "c@@example", "+4915112345679"),  # phone, address: 2 keys (bad email)
    _row("u4", "d@example.com", None, postal=None),  # email only: 1 key (no address)
    _row("u5", None, "x1"),  # address only: 1 key (bad phone)
    _row("u6", "e@example.com", None),  # email, address: 2 keys
]


@pytest.mark.parametrize("name", ["meta", "google_data_manager"])
def test_plan_shows_coverage_validity_and_expected_match_keys(dest_env, name):
    env = dest_env(name, rows=ROWS)
    wh = DuckDBWarehouse(str(env.db))
    try:
        engine = SyncEngine(env.project(), wh, destination_factory=env.factory)
        plan = engine.plan(env.sync)
        assert engine.plan(env.sync, match=False).match is None  # --no-match-rates
    finally:
        wh.close()
    assert plan.match is not None
    got = plan_dict(plan)["match_rates"]
    email, phone = ("EMAIL", "PHONE") if name == "meta" else ("email", "phone")
    address = (
        ["FN", "LN", "ZIP", "COUNTRY"]
        if name == "meta"
        else ["first_name", "last_name", "postal_code", "country"]
    )
    assert got == {
        "members": 6,
        "matchable_members": 6,
        "expected_match_keys": 11,
        "identifiers": [
            {
                "identifier": "email",
                "fields": [email],
                "present": 5,
                "valid": 4,
                "coverage": 0.8333,
                "validity": 0.8,
            },
            {
                "identifier": "phone",
                "fields": [phone],
                "present": 4,
                "valid": 2,
                "coverage": 0.6667,
                "validity": 0.5,
            },
            {
                "identifier": "address",
                "fields": address,
                "present": 5,
                "valid": 5,
                "coverage": 0.8333,
                "validity": 1.0,
            },
        ],
    }
    console = Console(width=200, record=True)
    print_plan(console, plan)
    text = console.export_text()
    assert (
        f"│ phone      │ {phone:<6}" in text
        and "│ 4               │ 66.7 %   │ 2     │ 50.0 %" in text
    )
    assert (
        "expected match keys: 11; members with at least one usable identifier: 6 (100.0 %)"
    ) in text
    # the plan warns before sending: 6 members is below the platforms' floor of 100
    assert plan.min_audience_size == 100
    assert plan.warnings == [
        f"sync '{name}_sync': the audience has 6 members, below the minimum useful size of "
        f"100 for {name} (min_audience_size): the platform may not serve it yet"
    ]


def test_a_member_with_no_usable_identifier_is_not_matchable():
    m = measure(
        "s",
        "google_ads",
        ["email", "phone"],
        [{"email": "bad", "phone": ""}, {"email": "ok@example.com", "phone": ""}],
    )
    assert m is not None
    assert (m.members, m.matchable, m.match_keys) == (2, 1, 1)
    assert [(r.identifier, r.present, r.valid) for r in m.identifiers] == [
        ("email", 2, 1),
        ("phone", 0, 0),
    ]


def test_a_sync_without_identifiers_has_no_match_rates():
    assert not MatchRateCounter("s", "hubspot", ["firstname", "lifecyclestage"]).applies()
    assert measure("s", "hubspot", ["firstname"], [{"firstname": "Ana"}]) is None
