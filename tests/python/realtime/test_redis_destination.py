"""The `redis` destination: batch memberships synced into a real Redis by the real engine,
from a real DuckDB mart (adds, changes, removals, unchanged reruns, SIGKILL mid-sync)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from dbt_support import write_dbt_artifacts

from reverse_etl.config import load_project
from reverse_etl.engine import SyncEngine
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

AUDIENCES = str(Path(sys.executable).with_name("audiences"))
SCHEMA = "main_audiences"
TABLE = "aud_realtime_profiles"


@dataclass
class Project:
    root: Path
    prefix: str
    redis_url: str
    batch_size: int = 500
    mapping: dict[str, str] | None = None
    #: person_id -> holdout_segment_keys: adds the optional column and its mapping
    held: dict[str, str] | None = None

    @property
    def db(self) -> Path:
        return self.root / "warehouse.duckdb"

    def write(self, rows: list[tuple[str, str | None, str | None, str]]) -> None:
        wh = DuckDBWarehouse(str(self.db))
        try:
            wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            wh.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{TABLE}")
            wh.execute(
                f"CREATE TABLE {SCHEMA}.{TABLE} (person_id VARCHAR, segment_keys VARCHAR, "
                "known_ids VARCHAR, as_of TIMESTAMP, holdout_segment_keys VARCHAR)"
            )
            if rows:
                wh.insert_rows(
                    f"{SCHEMA}.{TABLE}",
                    ["person_id", "segment_keys", "known_ids", "as_of", "holdout_segment_keys"],
                    [[*r, (self.held or {}).get(r[0])] for r in rows],
                )
        finally:
            wh.close()
        write_dbt_artifacts(self.root / "target", {TABLE: SCHEMA})
        sync = {
            "name": "realtime_profiles",
            "model": TABLE,
            "destination": "redis",
            "mode": "mirror",
            "identity": "person_id",
            "max_removal_pct": 100,
            "mapping": self.mapping
            or {
                "segment_keys": "segment_keys",
                "known_ids": "known_ids",
                **({"holdout_segment_keys": "holdout_segment_keys"} if self.held else {}),
            },
            "options": {"prefix": self.prefix, "batch_size": self.batch_size},
        }
        (self.root / "syncs.yml").write_text(
            yaml.safe_dump({"version": 1, "target": "duckdb", "syncs": [sync]})
        )

    def run(self):
        project = load_project(self.root / "syncs.yml")
        wh = DuckDBWarehouse(str(self.db))
        try:
            return SyncEngine(project, wh, crash_spec="").run(project.file.syncs[0])
        finally:
            wh.close()

    def cli(self, crash: str | None = None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCES_")}
        env |= {"AUDIENCES_DUCKDB_PATH": str(self.db), "AUDIENCES_REDIS_URL": self.redis_url}
        if crash:
            env["AUDIENCES_TEST_CRASH_AT"] = crash
        return subprocess.run(
            [AUDIENCES, "sync", "--config", str(self.root / "syncs.yml"), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def snapshot(client, prefix: str) -> dict[str, Any]:
    """Every key under the prefix (prefix removed) with its value; batch:meta's loaded_at
    is replaced by a check of its shape."""
    out: dict[str, Any] = {}
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        kind = client.type(key)
        name = key[len(prefix) :]
        if kind == "set":
            out[name] = sorted(client.smembers(key))
        elif kind == "string":
            out[name] = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
            if "loaded_at" in value:
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value["loaded_at"])
                value["loaded_at"] = "<set>"
            out[name] = value
        else:
            out[name] = kind
    return out


@pytest.fixture
def project(tmp_path, keys, redis_url, monkeypatch):
    monkeypatch.setenv("AUDIENCES_REDIS_URL", redis_url)
    monkeypatch.delenv("AUDIENCES_TEST_CRASH_AT", raising=False)
    return Project(tmp_path, keys.prefix, redis_url)


AS_OF = "2026-11-24 00:00:00"
AS_OF_2 = "2026-11-25 00:00:00"


def test_adds_changes_removals_and_an_unchanged_rerun(project, redis_client, keys):
    project.write(
        [
            ("p1", "cart_abandoners;high_value", "u1;anon1;anon2", AS_OF),
            ("p2", "", "anon3", AS_OF),
            ("p3", "champions", "u3", AS_OF),
        ]
    )
    first = project.run()
    assert first.status == "success", first.error
    assert (first.counts["added"], first.counts["removed"]) == (3, 0)
    meta = {"as_of": "2026-11-24T00:00:00Z", "loaded_at": "<set>"}
    assert snapshot(redis_client, keys.prefix) == {
        "batch:seg:p1": ["cart_abandoners", "high_value"],
        "batch:seg:p3": ["champions"],
        "batch:ids:p1": ["anon1", "anon2", "u1"],
        "batch:ids:p2": ["anon3"],
        "batch:ids:p3": ["u3"],
        "batch:person_of:u1": "p1",
        "batch:person_of:anon1": "p1",
        "batch:person_of:anon2": "p1",
        "batch:person_of:anon3": "p2",
        "batch:person_of:u3": "p3",
        "batch:meta": meta,
    }
    # the key names are the ones the API reads (audiences/realtime/keys.py)
    assert redis_client.smembers(keys.batch_segments("p3")) == {"champions"}
    assert redis_client.get(keys.batch_person_of("anon3")) == "p2"

    # p1 leaves a segment and its device anon2 is now stitched to p3; p2 is erased; p4 new
    project.write(
        [
            ("p1", "high_value", "u1;anon1", AS_OF_2),
            ("p3", "champions", "u3;anon2", AS_OF_2),
            ("p4", "new_visitors", "anon9", AS_OF_2),
        ]
    )
    second = project.run()
    assert second.status == "success", second.error
    assert {k: second.counts[k] for k in ("added", "changed", "removed", "unchanged")} == {
        "added": 1,
        "changed": 2,
        "removed": 1,
        "unchanged": 0,
    }
    expected = {
        "batch:seg:p1": ["high_value"],
        "batch:seg:p3": ["champions"],
        "batch:seg:p4": ["new_visitors"],
        "batch:ids:p1": ["anon1", "u1"],
        "batch:ids:p3": ["anon2", "u3"],
        "batch:ids:p4": ["anon9"],
        "batch:person_of:u1": "p1",
        "batch:person_of:anon1": "p1",
        "batch:person_of:anon2": "p3",
        "batch:person_of:u3": "p3",
        "batch:person_of:anon9": "p4",
        "batch:meta": {"as_of": "2026-11-25T00:00:00Z", "loaded_at": "<set>"},
    }
    assert snapshot(redis_client, keys.prefix) == expected

    # an unchanged rerun writes no membership key: a key changed behind its back stays
    redis_client.sadd(keys.batch_segments("p1"), "tampered")
    redis_client.hset(keys.batch_meta, "loaded_at", "2000-01-01T00:00:00Z")
    third = project.run()
    assert third.status == "success", third.error
    assert third.counts == {"unchanged": 3}
    after = snapshot(redis_client, keys.prefix)
    assert after.pop("batch:seg:p1") == ["high_value", "tampered"]
    assert after == {k: v for k, v in expected.items() if k != "batch:seg:p1"}
    # ... but the load is marked complete again
    assert redis_client.hget(keys.batch_meta, "loaded_at") != "2000-01-01T00:00:00Z"


@pytest.mark.parametrize("batch_size", [1, 500], ids=["one_per_batch", "one_batch"])
def test_ids_swapped_between_two_people_end_on_their_new_person(
    project, redis_client, keys, batch_size
):
    project.batch_size = batch_size
    project.write([("pa", "x", "d1;d2", AS_OF), ("pb", "y", "d3", AS_OF)])
    assert project.run().status == "success"
    # d2 moves from pa to pb and d3 from pb to pa (in one batch, or pa's batch first)
    project.write([("pa", "x", "d1;d3", AS_OF), ("pb", "y", "d2", AS_OF)])
    assert project.run().status == "success"
    got = snapshot(redis_client, keys.prefix)
    assert {k: v for k, v in got.items() if "person_of" in k} == {
        "batch:person_of:d1": "pa",
        "batch:person_of:d2": "pb",
        "batch:person_of:d3": "pa",
    }


def _people(n: int, as_of: str, shift: int = 0) -> list[tuple[str, str, str, str]]:
    segs = ["a", "b", "c", "d"]
    return [
        (
            f"p{i:03d}",
            ";".join(s for j, s in enumerate(segs) if (i + shift) % (j + 2) == 0),
            f"u{i:03d};anon{i:03d}" + (f";anon{i + 1:03d}x" if (i + shift) % 3 == 0 else ""),
            as_of,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("point", ["wal:3", "response:3", "commit:3"])
def test_kill_9_mid_sync_and_a_rerun_leave_the_keys_of_an_uninterrupted_sync(
    tmp_path, redis_client, redis_url, monkeypatch, point
):
    monkeypatch.setenv("AUDIENCES_REDIS_URL", redis_url)
    monkeypatch.delenv("AUDIENCES_TEST_CRASH_AT", raising=False)
    run_id = os.urandom(4).hex()
    prefixes = {"calm": f"test:{run_id}:calm:", "killed": f"test:{run_id}:killed:"}
    projects = {}
    for name, prefix in prefixes.items():
        (tmp_path / name).mkdir()
        projects[name] = Project(tmp_path / name, prefix, redis_url, batch_size=7)
    try:
        # first load: complete on both
        for p in projects.values():
            p.write(_people(40, AS_OF))
            assert p.run().status == "success"
        # the next build: changes, removals (p030..p039 leave), new people, new as_of
        for p in projects.values():
            p.write(_people(30, AS_OF_2, shift=1) + _people(50, AS_OF_2)[40:])
        assert projects["calm"].run().status == "success"
        killed = projects["killed"].cli(crash=point)
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        # batch:meta still describes the last complete load
        assert redis_client.hget(prefixes["killed"] + "batch:meta", "as_of") == (
            "2026-11-24T00:00:00Z"
        )
        rerun = projects["killed"].cli()
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert json.loads(rerun.stdout)["results"][0]["status"] == "success"
        calm = snapshot(redis_client, prefixes["calm"])
        assert calm["batch:meta"] == {"as_of": "2026-11-25T00:00:00Z", "loaded_at": "<set>"}
        assert len([k for k in calm if k.startswith("batch:seg:")]) > 20
        assert snapshot(redis_client, prefixes["killed"]) == calm
    finally:
        for prefix in prefixes.values():
            names = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
            if names:
                redis_client.delete(*names)


def test_the_first_load_killed_leaves_no_meta_so_the_cache_stays_cold(project, redis_client, keys):
    project.batch_size = 5
    project.write(_people(20, AS_OF))
    killed = project.cli(crash="commit:2")
    assert killed.returncode == -signal.SIGKILL
    assert redis_client.exists(keys.batch_meta) == 0
    assert redis_client.exists(keys.batch_segments("p000")) == 1  # the first batch landed
    assert project.cli().returncode == 0
    assert redis_client.hgetall(keys.batch_meta)["as_of"] == "2026-11-24T00:00:00Z"


def test_the_redis_url_password_never_reaches_errors_or_state(project, monkeypatch):
    secret = "s3cr3t-Passw0rd"
    monkeypatch.setenv("AUDIENCES_REDIS_URL", f"redis://:{secret}@127.0.0.1:1/3")
    project.write([("p1", "a", "u1", AS_OF)])
    result = project.run()
    assert result.status == "failed"
    assert result.error == (
        "Redis at redis://127.0.0.1:1/3 is unreachable (ConnectionError); start it "
        "(bash scripts/redis_up.sh) or fix AUDIENCES_REDIS_URL"
    )
    wh = DuckDBWarehouse(str(project.db))
    try:
        tables = wh.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'reverse_etl'"
        )
        dump = " ".join(str(wh.query(f"SELECT * FROM reverse_etl.{t}")) for (t,) in tables)
    finally:
        wh.close()
    assert "127.0.0.1:1/3" in dump  # the account the state is bound to ...
    assert secret not in dump  # ... without the password


def test_holdout_keys_are_kept_apart_and_follow_the_person(project, redis_client, keys):
    project.held = {"p1": "high_value;vip", "p2": "champions"}
    project.write([("p1", "cart_abandoners", "u1", AS_OF), ("p2", "", "u2", AS_OF)])
    assert project.run().status == "success"
    assert redis_client.smembers(keys.batch_held("p1")) == {"high_value", "vip"}
    assert redis_client.smembers(keys.batch_segments("p1")) == {"cart_abandoners"}
    assert redis_client.smembers(keys.batch_held("p2")) == {"champions"}
    assert not redis_client.exists(keys.batch_segments("p2"))
    # p1 is no longer held out of anything; p2 leaves the mart: both sets go
    project.held = {"p3": "vip"}
    project.write([("p1", "cart_abandoners", "u1", AS_OF_2), ("p3", "", "u3", AS_OF_2)])
    assert project.run().status == "success"
    assert not redis_client.exists(keys.batch_held("p1"))
    assert not redis_client.exists(keys.batch_held("p2"))
    assert redis_client.smembers(keys.batch_held("p3")) == {"vip"}


def test_a_mapping_without_the_two_fields_is_refused_with_their_names(project):
    project.mapping = {"segment_keys": "segment_keys"}
    project.write([("p1", "a", "u1", AS_OF)])
    result = project.run()
    assert result.status == "failed"
    assert result.error == (
        "sync 'realtime_profiles', field 'mapping': destination 'redis' needs the fields "
        "known_ids (e.g. segment_keys: segment_keys, known_ids: known_ids)"
    )
