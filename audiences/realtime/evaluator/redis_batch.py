"""The evaluator's round trips to Redis, one per step of a batch.

A batch re-evaluates thousands of persons and writes a few keys for each. Sent as separate
commands (even pipelined, inside MULTI/EXEC) redis-py packs and parses every one in Python:
about 20 µs a command, most of what a batch cost. Here each step is ONE command:

- :func:`read_sets`: the members of many sets, by a read-only script;
- :func:`read_devices`: many devices' metadata and event lists, likewise;
- :class:`BatchWrites`: every write of the batch and its stream acknowledgement, collected
  as a flat list of operations and applied by one script. A script runs atomically, as
  MULTI/EXEC did (nothing else runs in Redis between its first and its last write, and the
  append-only file records it whole), so the crash guarantees are unchanged: a kill -9
  before the call leaves nothing written and the entries pending; after it, all is written.

Keys travel as arguments, not as declared KEYS: fine on one Redis server (what the project
runs, docs/realtime.md), not on Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis

_READ_SETS = """
local out = {}
for i = 1, #ARGV do out[i] = redis.call('SMEMBERS', ARGV[i]) end
return out
"""

_READ_DEVICES = """
local out = {}
for i = 1, #ARGV, 2 do
  out[#out + 1] = redis.call('GET', ARGV[i]) or ''
  out[#out + 1] = redis.call('LRANGE', ARGV[i + 1], 0, -1)
end
return out
"""

# Operations, each an opcode and its arguments:
#   F key token           stop here, writing nothing, unless GET key == token (first only)
#   S key value           SET
#   D key                 DEL
#   A key n m1..mn        SADD   (n members)
#   R key n m1..mn        SREM
#   P key n v1..vn        RPUSH  (n values)
#   Z key score member    ZADD
#   z key member          ZREM
#   X key n f1 v1..       XADD key * (n = fields + values)
#   K key group n id1..   XACK
_APPLY = """
local a, i, n = ARGV, 1, #ARGV
local chunk = 1000  -- members per command: below Lua's limit for unpack() (8000)
local function many(command, key, extra, first, count)
  local done = 0
  while done < count do
    local take = math.min(chunk, count - done)
    if extra then
      redis.call(command, key, extra, unpack(a, first + done, first + done + take - 1))
    else
      redis.call(command, key, unpack(a, first + done, first + done + take - 1))
    end
    done = done + take
  end
end
while i <= n do
  local op = a[i]
  if op == 'F' then
    if i ~= 1 then return redis.error_reply('the owner check must come first') end
    if redis.call('GET', a[2]) ~= a[3] then
      return redis.error_reply('REPLACED the evaluator state has another owner')
    end
    i = 4
  elseif op == 'S' then
    redis.call('SET', a[i + 1], a[i + 2]); i = i + 3
  elseif op == 'D' then
    redis.call('DEL', a[i + 1]); i = i + 2
  elseif op == 'A' or op == 'R' or op == 'P' then
    local c = tonumber(a[i + 2])
    local command = (op == 'A' and 'SADD') or (op == 'R' and 'SREM') or 'RPUSH'
    many(command, a[i + 1], nil, i + 3, c); i = i + 3 + c
  elseif op == 'Z' then
    redis.call('ZADD', a[i + 1], a[i + 2], a[i + 3]); i = i + 4
  elseif op == 'z' then
    redis.call('ZREM', a[i + 1], a[i + 2]); i = i + 3
  elseif op == 'X' then
    local c = tonumber(a[i + 2])
    redis.call('XADD', a[i + 1], '*', unpack(a, i + 3, i + 2 + c)); i = i + 3 + c
  elseif op == 'K' then
    local c = tonumber(a[i + 3])
    many('XACK', a[i + 1], a[i + 2], i + 4, c); i = i + 4 + c
  else
    return redis.error_reply('unknown operation ' .. tostring(op) .. ' at ' .. i)
  end
end
return n
"""


class RedisScripts:
    """The scripts, registered once per client (redis-py loads a script again when the
    server forgot it, after a restart)."""

    def __init__(self, client: redis.Redis):
        self.read = client.register_script(_READ_SETS)
        self.read_devices = client.register_script(_READ_DEVICES)
        self.apply = client.register_script(_APPLY)


def read_sets(scripts: RedisScripts, names: Sequence[str]) -> list[set[str]]:
    """The members of each set (empty for a missing key), in one round trip."""
    if not names:
        return []
    return [set(m) for m in scripts.read(keys=[], args=list(names))]


def read_devices(
    scripts: RedisScripts, pairs: Sequence[tuple[str, str]]
) -> list[tuple[str | bytes | None, list[Any]]]:
    """For each (metadata key, event list key): the metadata (None when missing) and the
    list's items, in one round trip."""
    if not pairs:
        return []
    flat = scripts.read_devices(keys=[], args=[name for pair in pairs for name in pair])
    return [(flat[i] or None, flat[i + 1]) for i in range(0, len(flat), 2)]


class OwnerChanged(Exception):
    """The owner check of :class:`BatchWrites` failed: nothing was written."""


class BatchWrites:
    """The writes of one batch, applied at once by :meth:`apply`. With ``owner`` (a key and
    a token), nothing is written unless the key still holds the token (OwnerChanged)."""

    def __init__(self, owner: tuple[str, str] | None = None) -> None:
        self.ops: list[Any] = ["F", *owner] if owner else []
        self._checks = len(self.ops)

    def set(self, key: str, value: str | bytes) -> None:
        self.ops += ("S", key, value)

    def delete(self, key: str) -> None:
        self.ops += ("D", key)

    def sadd(self, key: str, *members: str) -> None:
        if members:
            self.ops += ("A", key, len(members), *members)

    def srem(self, key: str, *members: str) -> None:
        if members:
            self.ops += ("R", key, len(members), *members)

    def rpush(self, key: str, *values: str | bytes) -> None:
        if values:
            self.ops += ("P", key, len(values), *values)

    def zadd(self, key: str, member: str, score: int) -> None:
        self.ops += ("Z", key, score, member)

    def zrem(self, key: str, member: str) -> None:
        self.ops += ("z", key, member)

    def xadd(self, key: str, fields: Mapping[str, str]) -> None:
        flat = [part for pair in fields.items() for part in pair]
        self.ops += ("X", key, len(flat), *flat)

    def xack(self, key: str, group: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            self.ops += ("K", key, group, len(entry_ids), *entry_ids)

    def apply(self, scripts: RedisScripts) -> None:
        """Everything, atomically, in one round trip."""
        if len(self.ops) == self._checks:
            return
        try:
            scripts.apply(keys=[], args=self.ops)
        except redis.ResponseError as exc:
            if str(exc).startswith("REPLACED"):
                raise OwnerChanged(str(exc)) from exc
            raise
