"""`audiences explain` on the test warehouse built by `make build-test-warehouse`.

The expected values come from independent SQL over dim_users; the explanation comes from the
compiled rules evaluated in the warehouse for one person. Skipped (failed in CI) without a
built warehouse.
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

REPO = Path(__file__).resolve().parents[3]
AUDIENCES = str(Path(sys.executable).with_name("audiences"))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = Path(os.environ.get("AUDIENCES_REAL_MART_DB", REPO / "audiences.duckdb"))
    if not db.exists():
        reason = f"no built warehouse at {db} (run `make build-test-warehouse`)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    copy = tmp_path_factory.mktemp("explain") / "warehouse.duckdb"
    shutil.copy(db, copy)
    return copy


def _relation(con: duckdb.DuckDBPyConnection, name: str) -> str:
    schema = con.execute(
        "select table_schema from information_schema.tables where table_name = ?", [name]
    ).fetchall()
    assert schema, f"{name} not built"
    return f"{schema[0][0]}.{name}"


def _explain(warehouse: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUDIENCES_DUCKDB_PATH": str(warehouse), "AUDIENCES_TARGET": "duckdb"}
    return subprocess.run(
        [AUDIENCES, "explain", *args, "--project-dir", str(REPO)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=REPO,
    )


def _answer(warehouse: Path, *args: str) -> dict[str, Any]:
    done = _explain(warehouse, *args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_member_conditions_show_values_thresholds_and_results(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        users = _relation(con, "dim_users")
        memberships = _relation(con, "segment_memberships")
        row = con.execute(
            f"""select u.person_id, u.orders_lifetime, u.days_since_last_order,
                       u.primary_device_type, u.email_open_rate_lifetime
                from {memberships} m join {users} u using (person_id)
                where m.segment_key = 'win_back_desktop_shoppers'
                order by u.person_id limit 1"""
        ).fetchall()
    finally:
        con.close()
    assert row, "the test data has no win_back_desktop_shoppers member"
    person_id, orders, days, device, open_rate = row[0]
    answer = _answer(warehouse, person_id, "win_back_desktop_shoppers")
    assert answer["person_id"] == person_id
    assert answer["matched_by"] == "person_id"
    (segment,) = answer["segments"]
    assert segment["member"] is True
    assert segment["evaluated_member"] is True
    conditions = {c["number"]: c for c in segment["conditions"]}
    assert [conditions[n]["passed"] for n in (1, 2, 3, 4)] == [True, True, True, False]
    assert int(conditions[1]["value"]) == orders
    assert int(conditions[2]["value"]) == days
    assert conditions[3]["value"] == device
    if open_rate is None:
        assert conditions[4]["value"] is None
    else:
        assert float(conditions[4]["value"]) == pytest.approx(open_rate)
    assert conditions[2]["threshold"] == "between [60, 365]"


def test_non_member_by_email_and_a_reference_condition(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        users = _relation(con, "dim_users")
        customers = _relation(con, "stg_crm__customers")
        memberships = _relation(con, "segment_memberships")
        row = con.execute(
            f"""select u.person_id, c.email,
                       exists (select 1 from {memberships} m where m.person_id = u.person_id
                               and m.segment_key = 'high_engagement') as engaged
                from {users} u join {customers} c on c.user_id = u.user_id
                where u.days_since_last_order is null and c.email is not null
                  and not c.is_erased
                order by u.person_id limit 1"""
        ).fetchall()
    finally:
        con.close()
    person_id, email, engaged = row[0]
    answer = _answer(warehouse, email.upper(), "recent_buyer_high_engagement")
    assert (answer["person_id"], answer["matched_by"]) == (person_id, "email")
    (segment,) = answer["segments"]
    assert segment["member"] is False
    first, second = segment["conditions"]
    assert (first["value"], first["passed"]) == (None, False)
    assert second["condition"] == {"in_segment": "high_engagement"}
    assert second["passed"] is engaged


def test_unknown_person_and_segment_exit_2_with_a_message(warehouse: Path) -> None:
    done = _explain(warehouse, "nobody@example.invalid")
    assert done.returncode == 2
    assert "no person with person_id, user_id or email 'nobody@example.invalid'" in done.stderr
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        person_id = con.execute(
            f"select min(person_id) from {_relation(con, 'dim_users')}"
        ).fetchall()
    finally:
        con.close()
    done = _explain(warehouse, person_id[0][0], "high_engagment")
    assert done.returncode == 2
    assert "unknown segment key(s): high_engagment" in done.stderr
