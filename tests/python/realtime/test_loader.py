"""The warehouse loader on a real Redis stream, a real DuckDB file and a real PostgreSQL:
exactly once across SIGKILL at every point, DuckDB's one-writer rule, bad entries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import psycopg2
import pytest
from psycopg2 import sql

from audiences.realtime.keys import LOADER_GROUP
from audiences.realtime.loader import CRASH_ENV, EventDataError, to_row
from audiences.realtime.stream import RedisEventStream, StreamEntry
from audiences.warehouse_copy import postgres_dsn_from_env

AUDIENCES = str(Path(sys.executable).with_name("audiences"))


def _event(i: int) -> dict:
    return {
        "event_id": f"ev{i:03d}",
        "anonymous_id": f"anon{i % 3}",
        "user_id": "u1" if i % 2 else None,
        "session_id": None,
        "event_type": "product_view",
        "page_type": "product",
        "page_url": f"/p/{i}",
        "product_id": f"P{i}",
        "product_category": "shoes",
        "engaged_seconds": i,
        "device_type": "mobile",
        "browser": "firefox",
        "os": "linux",
        "country": "FR",
        "region": None,
        "city": "Lyon",
        "referrer": None,
        "utm_source": None,
        "utm_medium": None,
        "utm_campaign": None,
        "occurred_at": f"2026-11-24T10:{i // 60:02d}:{i % 60:02d}",
    }


# --- the row of an entry ---------------------------------------------------------------------
def test_an_entry_becomes_the_raw_contract_row():
    loaded = datetime(2026, 11, 24, 12, 0, 0)
    event = _event(7) | {"occurred_at": "2026-11-24T11:15:00.250000+01:00"}
    row = to_row(StreamEntry("5-0", event), loaded)
    assert row == (
        "ev007", "anon1", "u1", None, "product_view", "product", "/p/7", "P7", "shoes", 7,
        "mobile", "firefox", "linux", "FR", None, "Lyon", None, None, None, None,
        datetime(2026, 11, 24, 10, 15, 0, 250000),  # converted to UTC, offset dropped
        loaded,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"engaged_seconds": "12"}, "stream entry 9-1: engaged_seconds must be a 32-bit integer"),
        ({"engaged_seconds": 2**31}, "stream entry 9-1: engaged_seconds must be a 32-bit int"),
        ({"occurred_at": "yesterday"}, "stream entry 9-1: occurred_at 'yesterday' is not"),
        ({"event_id": None}, "stream entry 9-1: event_id is missing"),
        ({"country": 33}, "stream entry 9-1: country must be a text, got 33"),
    ],
)
def test_a_bad_entry_names_the_entry_and_the_field(change, message):
    with pytest.raises(EventDataError, match=message):
        to_row(StreamEntry("9-1", _event(1) | change), datetime(2026, 11, 24))


# --- warehouses --------------------------------------------------------------------------------
class DuckTarget:
    name = "duckdb"

    def __init__(self, tmp_path: Path):
        self.path = tmp_path / "loader.duckdb"
        self.schema = "raw"

    def env(self) -> dict[str, str]:
        return {"AUDIENCES_DUCKDB_PATH": str(self.path)}

    def query(self, text: str) -> list[tuple]:
        if not self.path.exists():
            return []
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            return con.execute(text).fetchall()
        except duckdb.CatalogException:
            return []
        finally:
            con.close()


class PgTarget:
    name = "postgres"

    def __init__(self, dsn: dict[str, str]):
        self.dsn = " ".join(f"{k}={v}" for k, v in dsn.items())
        self.schema = f"raw_{uuid.uuid4().hex[:10]}"

    def env(self) -> dict[str, str]:
        return {"AUDIENCES_PG_DSN": self.dsn}

    def query(self, text: str) -> list[tuple]:
        con = psycopg2.connect(self.dsn)
        try:
            with con.cursor() as cur:
                cur.execute(text)
                return list(cur.fetchall())
        except psycopg2.errors.UndefinedTable:
            return []
        finally:
            con.close()

    def drop(self) -> None:
        con = psycopg2.connect(self.dsn)
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(
                sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(self.schema))
            )
        con.close()


def _postgres_or_skip() -> dict[str, str]:
    dsn = postgres_dsn_from_env()
    try:
        psycopg2.connect(connect_timeout=5, **dsn).close()
    except psycopg2.OperationalError as error:
        message = f"PostgreSQL not reachable ({str(error).strip()}): run `make postgres-up`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return dsn


@pytest.fixture(params=["duckdb", "postgres"])
def target(request, tmp_path) -> Iterator[DuckTarget | PgTarget]:
    if request.param == "duckdb":
        yield DuckTarget(tmp_path)
        return
    pg = PgTarget(_postgres_or_skip())
    try:
        yield pg
    finally:
        pg.drop()


def _run(target, keys, redis_url, *args: str, crash: str | None = None, timeout: float = 60):
    env = {
        **os.environ,
        **target.env(),
        "AUDIENCES_REDIS_URL": redis_url,
        "AUDIENCES_REDIS_PREFIX": keys.prefix,
    }
    env.pop(CRASH_ENV, None)
    if crash:
        env[CRASH_ENV] = crash
    cmd = [AUDIENCES, "load-stream", "--target", target.name, "--schema", target.schema, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _counts(target) -> dict[str, int]:
    rows = target.query(f"select event_id, count(*) from {target.schema}.events group by event_id")
    return {r[0]: r[1] for r in rows}


def test_once_loads_every_event_with_its_columns_and_a_watermark(
    target, redis_client, keys, redis_url
):
    stream = RedisEventStream(redis_client, keys)
    stream.publish([_event(i) for i in range(25)])
    before = datetime.utcnow().replace(microsecond=0)
    done = _run(target, keys, redis_url, "--once", "--batch-size", "10")
    assert done.returncode == 0, done.stderr
    assert "done: 25 events loaded in 3 batches" in done.stdout
    assert _counts(target) == {f"ev{i:03d}": 1 for i in range(25)}
    row = target.query(
        "select event_id, anonymous_id, user_id, session_id, engaged_seconds, occurred_at, "
        f"loaded_at from {target.schema}.events where event_id = 'ev013'"
    )
    assert row[0][:6] == ("ev013", "anon1", "u1", None, 13, datetime(2026, 11, 24, 10, 0, 13))
    assert before <= row[0][6] <= datetime.utcnow()  # loaded_at: the load time, UTC
    last = redis_client.xrevrange(keys.events, count=1)[0][0]
    marks = target.query(
        "select last_entry_id, rows_loaded from audiences_loader.watermarks "
        f"where stream = '{keys.events}' and group_name = '{LOADER_GROUP}'"
    )
    assert marks == [(last, 5)]  # the last batch held 5 rows
    assert stream.lag(LOADER_GROUP) == 0
    # a second run finds nothing more
    again = _run(target, keys, redis_url, "--once")
    assert again.returncode == 0 and "done: 0 events loaded in 0 batches" in again.stdout
    assert sum(_counts(target).values()) == 25


@pytest.mark.parametrize("point", ["before_insert", "after_insert", "after_commit"])
def test_sigkill_at_any_point_then_restart_loses_nothing_and_doubles_nothing(
    target, redis_client, keys, redis_url, point
):
    stream = RedisEventStream(redis_client, keys)
    stream.publish([_event(i) for i in range(30)])
    # killed in the second batch of 10
    crashed = _run(target, keys, redis_url, "--once", "--batch-size", "10", crash=f"{point}:2")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    loaded_before_restart = sum(_counts(target).values())
    assert loaded_before_restart == (20 if point == "after_commit" else 10)
    assert stream.lag(LOADER_GROUP) == 20  # 10 pending + 10 never delivered
    # events keep arriving while the loader is down
    stream.publish([_event(i) for i in range(30, 35)])
    restarted = _run(target, keys, redis_url, "--once", "--batch-size", "10")
    assert restarted.returncode == 0, restarted.stderr
    if point == "after_commit":
        assert "10 already loaded before a restart" in restarted.stdout
    assert _counts(target) == {f"ev{i:03d}": 1 for i in range(35)}
    assert stream.lag(LOADER_GROUP) == 0


def test_a_held_duckdb_file_is_retried_with_a_clear_message_and_entries_stay_pending(
    tmp_path, redis_client, keys, redis_url
):
    target = DuckTarget(tmp_path)
    duckdb.connect(str(target.path)).close()
    stream = RedisEventStream(redis_client, keys)
    stream.publish([_event(i) for i in range(5)])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(60)",
            str(target.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = _run(target, keys, redis_url, "--once", "--busy-timeout", "1")
    finally:
        holder.kill()
        holder.wait()
    assert busy.returncode == 1
    assert "Traceback" not in busy.stderr + busy.stdout
    assert f"the DuckDB file {target.path} is in use by process {holder.pid}" in busy.stdout
    assert "retrying in 2 s (5 entries stay pending on the stream)" in busy.stdout
    assert "gave up after" in busy.stderr and "stay pending on the stream" in busy.stderr
    assert stream.lag(LOADER_GROUP) == 5
    done = _run(target, keys, redis_url, "--once")
    assert done.returncode == 0, done.stderr
    assert _counts(target) == {f"ev{i:03d}": 1 for i in range(5)}


def test_the_running_loader_loads_each_interval_and_leaves_the_file_free_between_loads(
    tmp_path, redis_client, keys, redis_url
):
    target = DuckTarget(tmp_path)
    stream = RedisEventStream(redis_client, keys)
    env = {
        **os.environ,
        **target.env(),
        "AUDIENCES_REDIS_URL": redis_url,
        "AUDIENCES_REDIS_PREFIX": keys.prefix,
    }
    env.pop(CRASH_ENV, None)
    proc = subprocess.Popen(
        [AUDIENCES, "load-stream", "--interval", "0.3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for wave in range(3):
            stream.publish([_event(wave * 10 + i) for i in range(10)])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:  # a writer of our own: it only opens while the loader is between loads
                    con = duckdb.connect(str(target.path))
                except duckdb.IOException:
                    time.sleep(0.05)
                    continue
                try:
                    n = con.execute("select count(*) from raw.events").fetchone()[0]
                except duckdb.CatalogException:
                    n = 0
                finally:
                    con.close()
                if n == (wave + 1) * 10:
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"wave {wave} was not loaded")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "done: 30 events loaded" in out
    assert _counts(target) == {f"ev{i:03d}": 1 for i in range(30)}


def test_a_second_loader_of_the_same_stream_and_warehouse_is_refused(
    target, redis_client, keys, redis_url
):
    RedisEventStream(redis_client, keys).publish([_event(i) for i in range(3)])
    env = {
        **os.environ,
        **target.env(),
        "AUDIENCES_REDIS_URL": redis_url,
        "AUDIENCES_REDIS_PREFIX": keys.prefix,
    }
    env.pop(CRASH_ENV, None)
    first = subprocess.Popen(
        [AUDIENCES, "load-stream", "--target", target.name, "--schema", target.schema,
         "--interval", "0.3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert first.stdout.readline().startswith("loading ")
        assert first.stdout.readline().startswith("loaded 3 events")  # it holds the lock
        second = _run(target, keys, redis_url, "--once")
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=20)
    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    assert f"another `audiences load-stream` already loads {keys.events} (group loader)" in (
        second.stderr
    )
    # the lock dies with its process: a loader started now runs
    again = _run(target, keys, redis_url, "--once")
    assert again.returncode == 0, again.stderr
    assert _counts(target) == {f"ev{i:03d}": 1 for i in range(3)}


def test_entries_that_are_not_events_go_to_the_dead_letters_and_the_rest_is_loaded(
    target, redis_client, keys, redis_url
):
    import json

    stream = RedisEventStream(redis_client, keys)
    stream.publish([_event(1)])
    # written by something other than `serve`: not JSON, and an event without occurred_at
    redis_client.xadd(keys.events, {"e": "{not json"})
    redis_client.xadd(keys.events, {"e": json.dumps({**_event(2), "occurred_at": None})})
    stream.publish([_event(3)])
    bad = [entry_id for entry_id, _ in redis_client.xrange(keys.events)][1:3]
    done = _run(target, keys, redis_url, "--once")
    assert done.returncode == 0, done.stderr
    assert "done: 2 events loaded in 1 batch, 2 unusable entries kept in" in done.stdout
    assert f"stream entry {bad[0]}: the event is not a JSON object" in done.stdout
    assert _counts(target) == {"ev001": 1, "ev003": 1}
    assert stream.lag(LOADER_GROUP) == 0
    kept = {
        k: json.loads(v) for k, v in redis_client.hgetall(keys.dead_letters(LOADER_GROUP)).items()
    }
    assert sorted(kept) == bad
    assert kept[bad[0]]["raw"] == "{not json"
    assert kept[bad[0]]["error"] == f"stream entry {bad[0]}: the event is not a JSON object"
    assert kept[bad[1]]["event"]["event_id"] == "ev002"
    assert kept[bad[1]]["error"] == f"stream entry {bad[1]}: occurred_at is missing"
