"""The evaluator's keys in Redis as plain values, for tests that compare two runs."""

from __future__ import annotations

from typing import Any

from audiences.realtime.evaluator.state_keys import StateKeys
from audiences.realtime.keys import RedisKeys


def rt_snapshot(client: Any, keys: RedisKeys) -> dict[str, Any]:
    """Every ``rt:*`` key of the prefix by type (strings, sets sorted, sorted sets with
    scores, lists, streams' fields), without the heartbeat and the owner token: when the last batch
    ran and which process owns the state differ between two runs of the same events."""
    skipped = {keys.heartbeat, StateKeys(keys).owner}
    out: dict[str, Any] = {}
    for name in client.scan_iter(match=f"{keys.prefix}rt:*", count=1000):
        if name in skipped:
            continue
        short = name[len(keys.prefix) :]
        kind = client.type(name)
        if kind == "string":
            out[short] = client.get(name)
        elif kind == "set":
            out[short] = sorted(client.smembers(name))
        elif kind == "zset":
            out[short] = client.zrange(name, 0, -1, withscores=True)
        elif kind == "list":
            out[short] = client.lrange(name, 0, -1)
        elif kind == "stream":
            out[short] = [fields for _, fields in client.xrange(name)]
    return out
