"""Where the evaluator finds Redis: one small function, so the real-time settings module can
later be the single source (docs/realtime.md, "Settings")."""

from __future__ import annotations

import os
from dataclasses import dataclass

from audiences.realtime.keys import DEFAULT_PREFIX

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class RedisSettings:
    url: str
    prefix: str


def redis_settings() -> RedisSettings:
    """``AUDIENCES_REDIS_URL`` (default redis://127.0.0.1:6379/0) and
    ``AUDIENCES_REDIS_PREFIX`` (default aud:)."""
    return RedisSettings(
        url=os.environ.get("AUDIENCES_REDIS_URL") or DEFAULT_REDIS_URL,
        prefix=os.environ.get("AUDIENCES_REDIS_PREFIX") or DEFAULT_PREFIX,
    )
