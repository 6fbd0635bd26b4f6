"""The outbox of a real-time trigger, in Redis (ADR 0009): the same statuses and the same
protocol as the warehouse outbox of the Braze sync (reverse_etl/event_outbox.py, ADR 0005);
this module is only the storage (:class:`reverse_etl.event_outbox.OutboxStore`).

Layout (audiences/realtime/keys.py): ``rt:trig:{name}:rows`` (hash: outbox id -> the change
and its status as JSON), ``rt:trig:{name}:pending`` (list of ids, oldest first),
``rt:trig:{name}:sending`` (set of claimed ids), ``rt:trig:{name}:settled`` (sorted set of
settled ids by when) and ``rt:trig:{name}:counts``. Settled rows are pruned after the
trigger's ``keep_settled_days``: their stream entries were acknowledged long before, so no
re-delivery can need them for idempotency. Every step is
one Lua script, which Redis runs atomically and writes to its AOF as one unit, so each step
is all-or-nothing whatever the moment a process is killed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import redis

from audiences.realtime.keys import RedisKeys
from reverse_etl.core.clock import now
from reverse_etl.event_outbox import OutboxRow, event_id

#: settled rows deleted per prune call at most (one bounded script run)
PRUNE_PER_CALL = 1000

# KEYS rows, pending, counts. ARGV skipped-count, then (id, row JSON) pairs. A row whose id is
# already in the outbox (a re-delivered stream entry) is left as it is: enqueue is idempotent.
_ENQUEUE = """
local added = 0
for i = 2, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i])
    added = added + 1
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[3], 'enqueued', added) end
if tonumber(ARGV[1]) > 0 then redis.call('HINCRBY', KEYS[3], 'skipped_anonymous', ARGV[1]) end
return added
"""

# KEYS rows, pending, sending. ARGV size, attempt id. pending -> sending, attempts + 1.
_CLAIM = """
local ids = redis.call('LPOP', KEYS[2], tonumber(ARGV[1]))
local out = {}
if not ids then return out end
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    local r = cjson.decode(raw)
    r['status'] = 'sending'
    r['attempts'] = (tonumber(r['attempts']) or 0) + 1
    r['attempt_id'] = ARGV[2]
    r['error'] = nil
    local enc = cjson.encode(r)
    redis.call('HSET', KEYS[1], id, enc)
    redis.call('SADD', KEYS[3], id)
    table.insert(out, enc)
  end
end
return out
"""

# KEYS rows, pending, sending, counts, settled. ARGV now (ISO 8601), now (epoch seconds),
# then (id, status, error) triples.
_SETTLE = """
local requeue = {}
for i = 3, #ARGV, 3 do
  local id, st, err = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    local r = cjson.decode(raw)
    r['status'] = st
    if err == '' then r['error'] = nil else r['error'] = err end
    if st == 'sent' then r['sent_at'] = ARGV[1] end
    redis.call('HSET', KEYS[1], id, cjson.encode(r))
    redis.call('SREM', KEYS[3], id)
    if st == 'pending' then table.insert(requeue, id) else
      redis.call('HINCRBY', KEYS[4], st, 1)
      redis.call('ZADD', KEYS[5], ARGV[2], id)
    end
  end
end
for i = #requeue, 1, -1 do redis.call('LPUSH', KEYS[2], requeue[i]) end
return #requeue
"""

# KEYS rows, pending, sending, counts, settled. ARGV resend (1/0), why, now (epoch seconds).
# Claimed rows of a killed process become pending again (resend) or unknown.
_RECOVER = """
local ids = redis.call('SMEMBERS', KEYS[3])
table.sort(ids)
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    local r = cjson.decode(raw)
    r['error'] = ARGV[2]
    if ARGV[1] == '1' then
      r['status'] = 'pending'
      redis.call('LPUSH', KEYS[2], id)
    else
      r['status'] = 'unknown'
      redis.call('HINCRBY', KEYS[4], 'unknown', 1)
      redis.call('ZADD', KEYS[5], ARGV[3], id)
    end
    redis.call('HSET', KEYS[1], id, cjson.encode(r))
  end
  redis.call('SREM', KEYS[3], id)
end
return #ids
"""

# KEYS rows, settled. ARGV cut-off (epoch seconds), at most how many. Deletes the rows settled
# at or before the cut-off; returns how many.
_PRUNE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return 0 end
redis.call('HDEL', KEYS[1], unpack(ids))
redis.call('ZREM', KEYS[2], unpack(ids))
return #ids
"""


def _epoch(utc: datetime) -> str:
    """Whole epoch seconds of a naive UTC datetime (the clock's)."""
    return str(int(utc.replace(tzinfo=UTC).timestamp()))


def _row(data: dict[str, object]) -> OutboxRow:
    return OutboxRow(
        person_id=str(data["person_id"]),
        user_id=str(data.get("user_id") or ""),
        segment_key=str(data["segment_key"]),
        change=str(data["change"]),
        changed_at=datetime.fromisoformat(str(data["changed_at"])),
        attempts=int(data.get("attempts") or 0),  # type: ignore[call-overload]
    )


class RedisOutboxStore:
    """:class:`reverse_etl.event_outbox.OutboxStore` of one trigger, in Redis."""

    def __init__(self, client: redis.Redis, keys: RedisKeys, trigger: str) -> None:
        self.client = client
        self.trigger = trigger
        self.rows_key = keys.trigger_rows(trigger)
        self.pending_key = keys.trigger_pending(trigger)
        self.sending_key = keys.trigger_sending(trigger)
        self.counts_key = keys.trigger_counts(trigger)
        self.settled_key = keys.trigger_settled(trigger)
        self._enqueue = client.register_script(_ENQUEUE)
        self._claim = client.register_script(_CLAIM)
        self._settle = client.register_script(_SETTLE)
        self._recover = client.register_script(_RECOVER)
        self._prune = client.register_script(_PRUNE)

    def row_id(self, row: OutboxRow) -> str:
        return event_id(self.trigger, row.person_id, row.segment_key, row.change, row.changed_at)

    def enqueue(self, rows: list[OutboxRow], skipped_anonymous: int = 0) -> int:
        """Add the rows not in the outbox yet (keyed by person, segment, change and time),
        as ``pending``; count the skipped anonymous changes. Returns how many were new."""
        if not rows and not skipped_anonymous:
            return 0
        args: list[str | int] = [skipped_anonymous]
        for r in rows:
            args += [
                self.row_id(r),
                json.dumps(
                    {
                        "person_id": r.person_id,
                        "user_id": r.user_id,
                        "segment_key": r.segment_key,
                        "change": r.change,
                        "changed_at": r.changed_at.isoformat(),
                        "status": "pending",
                        "attempts": 0,
                        "enqueued_at": now().isoformat(),
                    },
                    separators=(",", ":"),
                ),
            ]
        keys = [self.rows_key, self.pending_key, self.counts_key]
        return int(self._enqueue(keys=keys, args=args))

    def claim(self, size: int, attempt_id: str) -> list[OutboxRow]:
        raw = self._claim(
            keys=[self.rows_key, self.pending_key, self.sending_key], args=[size, attempt_id]
        )
        return [_row(json.loads(x)) for x in raw or []]

    def settle(self, rows: list[tuple[OutboxRow, str, str | None]]) -> None:
        if not rows:
            return
        at = now()
        args: list[str] = [at.isoformat(), _epoch(at)]
        for row, status, error in rows:
            args += [self.row_id(row), status, error or ""]
        self._settle(keys=self._status_keys, args=args)

    def recover(self, resend: bool, why: str) -> int:
        args = ["1" if resend else "0", why, _epoch(now())]
        return int(self._recover(keys=self._status_keys, args=args))

    @property
    def _status_keys(self) -> list[str]:
        """KEYS of the scripts that change a row's status."""
        return [
            self.rows_key,
            self.pending_key,
            self.sending_key,
            self.counts_key,
            self.settled_key,
        ]

    def prune(self, keep: timedelta, limit: int = PRUNE_PER_CALL) -> int:
        """Delete the rows settled longer than ``keep`` ago (at most ``limit``); the counts
        are kept. Returns how many rows were deleted."""
        cutoff = _epoch(now() - keep)
        return int(self._prune(keys=[self.rows_key, self.settled_key], args=[cutoff, limit]))

    # --- reading (status, tests) ------------------------------------------------------------
    def pending_count(self) -> int:
        return int(self.client.llen(self.pending_key))

    def counts(self) -> dict[str, int]:
        raw = self.client.hgetall(self.counts_key)
        return {str(k): int(v) for k, v in raw.items()}

    def rows(self) -> dict[str, dict[str, object]]:
        """Every row by outbox id, with its status (for `--status` and tests)."""
        return {str(k): json.loads(v) for k, v in self.client.hgetall(self.rows_key).items()}
