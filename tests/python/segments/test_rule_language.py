"""The segment rule language v2 (docs/segments.md).

1. Every bad input fails compilation with a message naming the file, the segment and the
   offending token (run-operation check_segment_rules on one parsed manifest: ~1 s a case).
2. Every construct gives exactly the hand-computed members on a real DuckDB warehouse: a
   private copy of the project declares test segments, its input relations are created with
   hand-made rows, and `dbt run -s custom_segments` builds them.
3. The shipped playbook rules are the ones the dbt unit test exercises.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SEGMENTS_FILE = REPO / "segments" / "custom_segments.yml"
UNIT_TESTS_FILE = REPO / "segments" / "_custom_segments__unit_tests.yml"
DBT = str(Path(sys.executable).with_name("dbt"))
AS_OF = "2026-11-24 00:00:00"

pytestmark = pytest.mark.skipif(
    not (REPO / "dbt_packages" / "dbt_utils").exists(),
    reason="dbt packages not installed (scripts/install_dbt_packages.sh)",
)


def _shipped_rules() -> dict[str, Any]:
    document = yaml.safe_load(SEGMENTS_FILE.read_text())
    declared = document["models"][0]["config"]["meta"]["custom_segments"]
    return {segment["name"]: segment["rule"] for segment in declared}


def test_unit_test_rules_are_the_shipped_rules() -> None:
    unit_tests = yaml.safe_load(UNIT_TESTS_FILE.read_text())["unit_tests"]
    test = next(t for t in unit_tests if t["name"] == "custom_segments_playbook_examples")
    stand_ins = test["overrides"]["macros"]["segment_rules_declared"]
    shipped = _shipped_rules()
    assert {s["name"] for s in stand_ins} == {
        "viewed_product_3x_24h",
        "viewed_then_abandoned_30m",
        "recent_buyer_high_engagement",
        "mobile_evening_high_value",
    }
    for segment in stand_ins:
        assert segment["rule"] == shipped[segment["name"]], segment["name"]


# ---- 1. compile errors -------------------------------------------------------------------


@pytest.fixture(scope="module")
def check_rules(tmp_path_factory: pytest.TempPathFactory):
    """check_rules([segments]) -> (ok, messages) with one parse for the whole module."""
    from dbt.cli.main import dbtRunner

    work = tmp_path_factory.mktemp("rules")
    # dbt runs in this process: its environment is set for this module only
    patch = pytest.MonkeyPatch()
    patch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    patch.setenv("DBT_PROFILES_DIR", str(REPO))
    patch.setenv("AUDIENCES_DUCKDB_PATH", str(work / "rules.duckdb"))
    common = ["--project-dir", str(REPO), "--target-path", str(work / "target")]
    parsed = dbtRunner().invoke(["parse", "--quiet", *common])
    assert parsed.success, parsed.exception

    def run(segments: list[dict[str, Any]]) -> tuple[bool, str]:
        messages: list[str] = []
        runner = dbtRunner(
            manifest=parsed.result, callbacks=[lambda e: messages.append(e.info.msg)]
        )
        result = runner.invoke(
            [
                "run-operation",
                "check_segment_rules",
                "--args",
                json.dumps({"segments": segments}),
                "--vars",
                "{check_raw_contract: false}",
                *common,
            ]
        )
        return result.success, "\n".join(str(m) for m in messages)

    yield run
    patch.undo()


def _segment(name: str, rule: Any) -> dict[str, Any]:
    return {"name": name, "description": "test", "rule": rule}


VIEWS = {"event_type": "page_view", "page_type": "product"}

BAD_RULES = [
    (
        "unknown event type",
        _segment(
            "s", {"events": {"where": {"event_type": "pageview"}, "within": "24h", "more_than": 3}}
        ),
        "unknown event_type 'pageview'",
    ),
    (
        "unknown page type",
        _segment("s", {"events": {"where": {"page_type": "pdp"}, "within": "24h", "more_than": 3}}),
        "unknown page_type 'pdp'",
    ),
    (
        "window written 24 hrs",
        _segment("s", {"events": {"where": VIEWS, "within": "24 hrs", "more_than": 3}}),
        "window '24 hrs' is not a duration",
    ),
    (
        "unknown event column",
        _segment("s", {"events": {"where": {"colour": "red"}, "within": "24h", "more_than": 3}}),
        "unknown column 'colour' in the 'where' of an events condition",
    ),
    (
        "unknown dim_users column",
        _segment("s", {"column": "lifetime_spend", "op": ">", "value": 3}),
        "unknown column 'lifetime_spend'",
    ),
    (
        "comparison on the wrong type",
        _segment("s", {"events": {"where": VIEWS, "within": "24h", "more_than": "three"}}),
        "comparison 'more_than' in an events condition needs a number, got \"three\"",
    ),
    (
        "text compared with a number",
        _segment("s", {"column": "primary_device_type", "op": ">", "value": 3}),
        "type mismatch: column 'primary_device_type' is text, got 3",
    ),
    (
        "two comparisons",
        _segment("s", {"events": {"where": VIEWS, "within": "7d", "more_than": 1, "at_most": 5}}),
        "needs exactly one comparison",
    ),
    (
        "unknown measure",
        _segment(
            "s",
            {"events": {"where": VIEWS, "within": "7d", "measure": "avg_dwell", "more_than": 1}},
        ),
        "unknown measure 'avg_dwell'",
    ),
    (
        "hour out of range",
        _segment("s", {"events": {"where": {"hour_of_day": 24}, "within": "7d", "at_least": 1}}),
        "hour_of_day must be a whole hour 0-23, got 24",
    ),
    (
        "share above 1",
        _segment("s", {"sessions": {"within": "90d", "measure": "share", "at_least": 40}}),
        "a share is between 0 and 1",
    ),
    (
        "unknown segment reference",
        _segment("s", {"in_segment": "high_engagment"}),
        "in_segment 'high_engagment' is not a segment",
    ),
    (
        "absent step not last",
        _segment(
            "s",
            {
                "sequence": {
                    "steps": [
                        {"where": VIEWS, "window": "24h"},
                        {"where": {"event_type": "purchase"}, "within": "30m", "absent": True},
                        {"where": {"event_type": "add_to_cart"}, "within": "30m"},
                    ]
                }
            },
        ),
        "only the last step of a sequence can be 'absent'",
    ),
    (
        "sequence without window",
        _segment(
            "s",
            {
                "sequence": {
                    "steps": [
                        {"where": VIEWS},
                        {"where": {"event_type": "add_to_cart"}, "within": "30m"},
                    ]
                }
            },
        ),
        "a sequence needs a 'window' on at least one step",
    ),
    (
        "unknown rule key",
        _segment("s", {"event": {"where": VIEWS}}),
        'unknown rule key(s) ["event"]',
    ),
]


@pytest.mark.parametrize(("case", "segment", "expected"), BAD_RULES, ids=[c[0] for c in BAD_RULES])
def test_bad_rule_fails_naming_file_segment_and_token(check_rules, case, segment, expected) -> None:
    ok, output = check_rules([segment])
    assert not ok, f"{case}: compiled although it is invalid"
    assert "Custom segment 's' in segments/custom_segments.yml" in output, output[-2000:]
    assert expected in output, output[-2000:]


def test_reference_cycle_names_the_cycle(check_rules) -> None:
    ok, output = check_rules(
        [
            _segment(
                "a_seg",
                {
                    "all": [
                        {"in_segment": "b_seg"},
                        {"column": "orders_lifetime", "op": ">", "value": 0},
                    ]
                },
            ),
            _segment("b_seg", {"in_segment": "c_seg"}),
            _segment("c_seg", {"not_in_segment": "a_seg"}),
            _segment("d_seg", {"in_segment": "a_seg"}),
        ]
    )
    assert not ok
    assert "segment reference cycle: a_seg -> b_seg -> c_seg -> a_seg" in output, output[-2000:]


def test_self_reference_is_a_cycle(check_rules) -> None:
    ok, output = check_rules([_segment("loop", {"not_in_segment": "loop"})])
    assert not ok
    assert "segment reference cycle: loop -> loop" in output


def test_valid_rules_compile_in_any_declaration_order(check_rules, capsys) -> None:
    ok, output = check_rules(
        [
            _segment("later_ref", {"in_segment": "base_seg"}),
            _segment("base_seg", {"events": {"where": VIEWS, "within": "30m", "none": True}}),
            _segment("prefixed", {"in_segment": "interested_in_books"}),
        ]
    )
    assert ok, output[-2000:]
    # a segment comes after the segments it references
    assert "segment rules ok: base_seg, prefixed, later_ref" in capsys.readouterr().out


# ---- 2. constructs on a real warehouse ---------------------------------------------------

TEST_SEGMENTS = [
    # declared before what it references: compiled in reference order
    _segment("t_ref_chain", {"all": [{"in_segment": "t_dwell"}, {"not_in_segment": "high_value"}]}),
    _segment(
        "t_per_at_most",
        {"events": {"where": VIEWS, "within": "7d", "per": "product_id", "at_most": 1}},
    ),
    _segment(
        "t_browsed_no_purchase",
        {
            "all": [
                {"events": {"where": VIEWS, "within": "7d", "at_least": 1}},
                {"events": {"where": {"event_type": "purchase"}, "within": "7d", "none": True}},
            ]
        },
    ),
    _segment(
        "t_dwell",
        {
            "all": [
                {
                    "events": {
                        "where": VIEWS,
                        "within": "7d",
                        "measure": "sum_dwell",
                        "more_than": 100,
                    }
                },
                {"events": {"where": VIEWS, "within": "7d", "measure": "max_dwell", "at_most": 60}},
            ]
        },
    ),
    _segment(
        "t_distinct",
        {
            "any": [
                {
                    "events": {
                        "where": {"event_type": "page_view"},
                        "within": "7d",
                        "measure": "distinct_days",
                        "at_least": 3,
                    }
                },
                {
                    "events": {
                        "where": VIEWS,
                        "within": "7d",
                        "measure": "distinct_products",
                        "exactly": 4,
                    }
                },
            ]
        },
    ),
    _segment(
        "t_sale_click_30m",
        {
            "events": {
                "where": {"page_url": {"like": "%/sale/%"}, "utm_source": ["newsletter", "meta"]},
                "within": "30m",
                "at_least": 1,
            }
        },
    ),
    _segment(
        "t_local_evening",
        {
            "events": {
                "where": {"event_type": "page_view", "hour_of_day": {"between": [18, 23]}},
                "within": "30d",
                "at_least": 1,
            }
        },
    ),
    _segment(
        "t_dst_one_am",
        {
            "events": {
                "where": {"event_type": "page_view", "hour_of_day": 1, "day_of_week": "sun"},
                "within": "30d",
                "at_least": 2,
            }
        },
    ),
    _segment(
        "t_weekend_sessions",
        {
            "sessions": {
                "where": {"day_of_week": ["sat", "sun"], "page_views": {"more_than": 1}},
                "within": "14d",
                "at_least": 2,
            }
        },
    ),
    _segment(
        "t_scores",
        {
            "any": [
                {"column": "rfm_segment", "op": "=", "value": "champions"},
                {"column": "intent_score", "op": ">", "value": 50},
            ]
        },
    ),
    _segment(
        "t_not_mobile", {"not": {"column": "primary_device_type", "op": "=", "value": "mobile"}}
    ),
]

PEOPLE = [
    "pa", "pb", "nb_in", "nb_bought", "d_in", "d_max", "d_sum", "dd3", "dp4",
    "sale_in", "sale_edge", "sale_src", "tz_ny", "tz_london", "dst", "dst_trap",
    "wk_in", "wk_thin", "sc_rfm", "sc_intent", "hv_dwell", "mob",
]  # fmt: skip

# (person, event_id, session, event_type, page_type, product, url, utm_source, occurred_at)
EVENTS = [
    ("pa", "pa1", "s_pa", "page_view", "product", "p1", None, None, "2026-11-20 10:00:00"),
    ("pa", "pa2", "s_pa", "page_view", "product", "p1", None, None, "2026-11-20 10:01:00"),
    ("pa", "pa3", "s_pa", "page_view", "product", "p1", None, None, "2026-11-20 10:02:00"),
    ("pa", "pa4", "s_pa", "page_view", "product", "p2", None, None, "2026-11-20 10:03:00"),
    ("pb", "pb1", "s_pb", "page_view", "product", "p1", None, None, "2026-11-20 10:00:00"),
    ("pb", "pb2", "s_pb", "page_view", "product", "p1", None, None, "2026-11-20 10:01:00"),
    ("nb_in", "nb1", "s_nb", "page_view", "product", "p1", None, None, "2026-11-22 10:00:00"),
    ("nb_in", "nb2", "s_nb", "purchase", "checkout", None, None, None, "2026-11-17 00:00:00"),
    ("nb_bought", "nbb1", "s_nbb", "page_view", "product", "p1", None, None, "2026-11-22 10:00:00"),
    ("nb_bought", "nbb2", "s_nbb", "purchase", "checkout", None, None, None, "2026-11-17 00:00:01"),
    ("d_in", "di1", "s_di", "page_view", "product", "p1", None, None, "2026-11-21 10:00:00"),
    ("d_in", "di2", "s_di", "page_view", "product", "p2", None, None, "2026-11-21 10:01:00"),
    ("d_max", "dm1", "s_dm", "page_view", "product", "p1", None, None, "2026-11-21 10:00:00"),
    ("d_max", "dm2", "s_dm", "page_view", "product", "p2", None, None, "2026-11-21 10:01:01"),
    ("d_sum", "ds1", "s_ds", "page_view", "product", "p1", None, None, "2026-11-21 10:00:00"),
    ("d_sum", "ds2", "s_ds", "page_view", "product", "p2", None, None, "2026-11-21 10:00:50"),
    ("hv_dwell", "hv1", "s_hv", "page_view", "product", "p1", None, None, "2026-11-21 10:00:00"),
    ("hv_dwell", "hv2", "s_hv", "page_view", "product", "p2", None, None, "2026-11-21 10:01:00"),
    ("dd3", "dd1", "s_dd1", "page_view", "home", None, None, None, "2026-11-18 10:00:00"),
    ("dd3", "dd2", "s_dd2", "page_view", "home", None, None, None, "2026-11-19 10:00:00"),
    ("dd3", "dd3e", "s_dd3", "page_view", "home", None, None, None, "2026-11-23 23:59:59"),
    ("dp4", "dp1", "s_dp", "page_view", "product", "p1", None, None, "2026-11-23 10:00:00"),
    ("dp4", "dp2", "s_dp", "page_view", "product", "p2", None, None, "2026-11-23 10:00:10"),
    ("dp4", "dp3", "s_dp", "page_view", "product", "p3", None, None, "2026-11-23 10:00:20"),
    ("dp4", "dp4e", "s_dp", "page_view", "product", "p4", None, None, "2026-11-23 10:00:30"),
    (
        "sale_in",
        "sa1",
        "s_sa",
        "page_view",
        "category",
        None,
        "https://shop.example.com/sale/shoes",
        "newsletter",
        "2026-11-23 23:30:01",
    ),
    (
        "sale_edge",
        "se1",
        "s_se",
        "page_view",
        "category",
        None,
        "https://shop.example.com/sale/shoes",
        "newsletter",
        "2026-11-23 23:30:00",
    ),
    (
        "sale_src",
        "ss1",
        "s_ss",
        "page_view",
        "category",
        None,
        "https://shop.example.com/sale/shoes",
        "google",
        "2026-11-23 23:45:00",
    ),
    # 03:30 UTC = 22:30 the previous evening in New York (EST), 03:30 at night in London
    ("tz_ny", "ny1", "s_ny", "page_view", "home", None, None, None, "2026-11-23 03:30:00"),
    ("tz_london", "lo1", "s_lo", "page_view", "home", None, None, None, "2026-11-23 03:30:00"),
    # 2026-11-01: New York leaves daylight time at 06:00 UTC; both are 01:30 local on Sunday
    ("dst", "dst1", "s_dst", "page_view", "home", None, None, None, "2026-11-01 05:30:00"),
    ("dst", "dst2", "s_dst", "page_view", "home", None, None, None, "2026-11-01 06:30:00"),
    # 00:30 EDT and 02:30 EST: a fixed offset would put one of them at 01:xx
    ("dst_trap", "dt1", "s_dt", "page_view", "home", None, None, None, "2026-11-01 04:30:00"),
    ("dst_trap", "dt2", "s_dt", "page_view", "home", None, None, None, "2026-11-01 07:30:00"),
]
DWELL = {"di1": 60, "di2": 50, "dm1": 61, "dm2": 50, "ds1": 50, "ds2": 50, "hv1": 60, "hv2": 60}
SESSION_ZONES = {
    "s_ny": "America/New_York",
    "s_lo": "Europe/London",
    "s_dst": "America/New_York",
    "s_dt": "America/New_York",
}
# (person, session, started_at, local day of week, page views)
SESSIONS = [
    ("wk_in", "w1", "2026-11-21 10:00:00", 6, 2),
    ("wk_in", "w2", "2026-11-15 10:00:00", 7, 3),
    ("wk_thin", "w3", "2026-11-21 10:00:00", 6, 2),
    ("wk_thin", "w4", "2026-11-15 10:00:00", 7, 1),
    ("wk_thin", "w5", "2026-11-10 00:00:00", 7, 5),
]

EXPECTED = {
    ("pa", "t_per_at_most"),
    ("pa", "t_browsed_no_purchase"),
    ("pb", "t_browsed_no_purchase"),
    ("nb_in", "t_per_at_most"),
    ("nb_in", "t_browsed_no_purchase"),
    ("nb_bought", "t_per_at_most"),
    ("d_in", "t_per_at_most"),
    ("d_in", "t_browsed_no_purchase"),
    ("d_in", "t_dwell"),
    ("d_in", "t_ref_chain"),
    ("d_max", "t_per_at_most"),
    ("d_max", "t_browsed_no_purchase"),
    ("d_sum", "t_per_at_most"),
    ("d_sum", "t_browsed_no_purchase"),
    ("hv_dwell", "t_per_at_most"),
    ("hv_dwell", "t_browsed_no_purchase"),
    ("hv_dwell", "t_dwell"),
    ("dd3", "t_distinct"),
    ("dp4", "t_per_at_most"),
    ("dp4", "t_browsed_no_purchase"),
    ("dp4", "t_distinct"),
    ("sale_in", "t_sale_click_30m"),
    ("tz_ny", "t_local_evening"),
    ("dst", "t_dst_one_am"),
    ("wk_in", "t_weekend_sessions"),
    ("sc_rfm", "t_scores"),
    ("sc_intent", "t_scores"),
} | {(person, "t_not_mobile") for person in PEOPLE if person != "mob"}


@pytest.fixture(scope="module")
def built_test_segments(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    root = tmp_path_factory.mktemp("rules-project")
    for name in ["models", "macros", "seeds", "snapshots", "segments", "tests", "dbt_packages"]:
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("python"))
    for name in ["dbt_project.yml", "profiles.yml", "packages.yml"]:
        shutil.copy(REPO / name, root / name)
    document = yaml.safe_load((root / "segments" / "custom_segments.yml").read_text())
    document["models"][0]["config"]["meta"]["custom_segments"] = TEST_SEGMENTS
    (root / "segments" / "custom_segments.yml").write_text(
        yaml.safe_dump(document, sort_keys=False)
    )
    (root / "segments" / "_custom_segments__unit_tests.yml").unlink()
    db = root / "rules.duckdb"
    env = {
        **os.environ,
        "AUDIENCES_DUCKDB_PATH": str(db),
        "AUDIENCES_TARGET": "duckdb",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(root),
    }
    vars_ = f"{{as_of: '{AS_OF}', check_raw_contract: false}}"

    def dbt(*args: str) -> None:
        done = subprocess.run(
            [DBT, *args, "--vars", vars_],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]

    dbt("parse", "--quiet")
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    node = manifest["nodes"]["model.audiences.custom_segments"]
    relations = {
        manifest["nodes"][n]["name"]: manifest["nodes"][n]["relation_name"]
        for n in node["depends_on"]["nodes"]
    }
    _create_inputs(db, relations)
    dbt("run", "--select", "custom_segments", "--quiet")
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(f"select person_id, segment_key from {node['relation_name']}").fetchall()
    finally:
        con.close()
    return set(rows)


def _create_inputs(db: Path, relations: dict[str, str]) -> None:
    con = duckdb.connect(str(db))
    try:
        for relation in relations.values():
            con.execute(f"create schema if not exists {relation.rsplit('.', 1)[0]}")
        family_columns = (
            "person_id varchar, segment_key varchar, segment_family varchar,"
            " score double, member_since timestamp"
        )
        for name, relation in relations.items():
            if name.endswith("_segments") or name.startswith("int_segments__"):
                con.execute(f"create table {relation} ({family_columns})")
        con.execute(
            f"create table {relations['dim_users']}"
            " (person_id varchar, primary_device_type varchar)"
        )
        con.executemany(
            f"insert into {relations['dim_users']} values (?, ?)",
            [(p, "mobile" if p == "mob" else "desktop") for p in PEOPLE],
        )
        con.execute(f"create table {relations['rfm_scores']} (person_id varchar)")
        # rfm_segment is the person's RFM family membership without its prefix
        con.execute(
            f"insert into {relations['rfm_segments']} values"
            " ('sc_rfm', 'rfm_champions', 'rfm', 555, null),"
            " ('sc_intent', 'rfm_loyal_customers', 'rfm', 444, null)"
        )
        con.execute(
            f"create table {relations['purchase_intent']} (person_id varchar, intent_score double)"
        )
        con.execute(
            f"insert into {relations['purchase_intent']} values ('sc_intent', 50.5), ('sc_rfm', 50)"
        )
        for name in ("content_engagement", "engagement_scores", "dim_user_interests"):
            con.execute(f"create table {relations[name]} (person_id varchar)")
        lifecycle = next(r for n, r in relations.items() if "lifecycle" in n)
        con.execute(
            f"insert into {lifecycle} values ('hv_dwell', 'high_value', 'lifecycle', 1, null)"
        )
        con.execute(
            f"""create table {relations["int_tracker__sessionized_events"]} (
                person_id varchar, event_id varchar, session_id varchar, event_type varchar,
                page_type varchar, product_id varchar, page_url varchar, utm_source varchar,
                occurred_at timestamp, product_category varchar, device_type varchar,
                browser varchar, country varchar, utm_medium varchar, utm_campaign varchar)"""
        )
        con.executemany(
            f"insert into {relations['int_tracker__sessionized_events']} values"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, null, null, null, null, null, null)",
            EVENTS,
        )
        con.execute(
            f"create table {relations['fct_page_views']}"
            " (page_view_id varchar, session_id varchar, dwell_seconds double)"
        )
        con.executemany(
            f"insert into {relations['fct_page_views']} values (?, ?, ?)",
            [(e[1], e[2], DWELL[e[1]]) for e in EVENTS if e[1] in DWELL],
        )
        con.execute(
            f"""create table {relations["fct_sessions"]} (
                person_id varchar, session_id varchar, started_at timestamp,
                local_day_of_week integer, page_views integer, time_zone varchar,
                duration_seconds double, device_type varchar, browser varchar, country varchar,
                utm_source varchar, utm_medium varchar, utm_campaign varchar,
                landing_page_type varchar, local_start_hour integer)"""
        )
        rows = [(p, s, t, dow, pv, "UTC") for p, s, t, dow, pv in SESSIONS]
        rows += [
            (e[0], e[2], e[8], None, 1, SESSION_ZONES[e[2]])
            for e in EVENTS
            if e[2] in SESSION_ZONES
        ]
        con.executemany(
            f"insert into {relations['fct_sessions']} (person_id, session_id, started_at,"
            " local_day_of_week, page_views, time_zone) values (?, ?, ?, ?, ?, ?)",
            rows,
        )
        # the project's own UTC offsets (the seed), which local hours are computed from
        con.execute(
            f"create table {relations['time_zone_offsets']} as select * from read_csv(?, "
            "header = true, types = {'utc_year': 'INTEGER', 'valid_from': 'TIMESTAMP', "
            "'valid_to': 'TIMESTAMP', 'utc_offset_seconds': 'INTEGER'})",
            [str(REPO / "seeds" / "time_zone_offsets.csv")],
        )
    finally:
        con.close()


def test_every_construct_gives_the_hand_computed_members(built_test_segments) -> None:
    assert sorted(built_test_segments - EXPECTED) == []
    assert sorted(EXPECTED - built_test_segments) == []
