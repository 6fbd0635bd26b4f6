"""Helpers of the trigger tests: changes written to the stream as the evaluator writes them,
a syncs.yml with triggers, and a forwarder over real Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
import yaml

from audiences.realtime.changes import RedisChangeStream
from audiences.realtime.keys import RedisKeys
from audiences.realtime.triggers import TriggerForwarder
from reverse_etl.config import load_project
from reverse_etl.http.transport import RetryPolicy

FAST_RETRY = RetryPolicy(
    max_attempts=4, base_seconds=0.01, max_wait_seconds=0.05, timeout_seconds=1.0
)
SECRET = "whsec-test-0123456789"


def add_change(
    client: redis.Redis,
    keys: RedisKeys,
    person: str,
    segment: str,
    change: str = "entered",
    at: str = "2026-11-24T10:15:00",
    user: str | None = None,
) -> str:
    """XADD one change as the evaluator does; ``user`` None = an identified person whose
    user id is the person id, "" = an anonymous person."""
    fields = {
        "person_id": person,
        "segment_key": segment,
        "change": change,
        "at": at,
        "user_id": person if user is None else user,
    }
    return str(client.xadd(keys.changes, fields))


def write_syncs(tmp_path: Path, triggers: list[dict[str, Any]]) -> Path:
    path = tmp_path / "syncs.yml"
    path.write_text(yaml.safe_dump({"version": 1, "syncs": [], "triggers": triggers}))
    return path


def forwarder(client: redis.Redis, keys: RedisKeys, syncs: Path, **kwargs: Any) -> TriggerForwarder:
    project = load_project(syncs)
    kwargs.setdefault("retry_policy", FAST_RETRY)
    kwargs.setdefault("lock_ttl", 2.0)
    return TriggerForwarder(
        client, keys, RedisChangeStream(client, keys), project.file.triggers, **kwargs
    )
