"""The streaming evaluator: reads the event stream (group ``evaluator``), keeps each
device's state in Redis (and the recent ones in memory, device_cache.py), re-evaluates every
person a batch touches (and every person whose answer changes with time) and commits
everything in ONE atomic Redis script call together with the acknowledgement of the batch
(redis_batch.py), so a kill -9 at any point neither loses nor double-counts an event
(docs/realtime.md, "The streaming evaluator").

Private Redis layout: audiences/realtime/evaluator/state_keys.py. Erased ids are forgotten
before each batch and their events dropped (audiences/realtime/evaluator/erasure.py).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from audiences.realtime.evaluator.collector import BatchCollector
from audiences.realtime.evaluator.device import DeviceState, Sessionized
from audiences.realtime.evaluator.device_cache import DeviceCache, EvaluatorReplaced
from audiences.realtime.evaluator.erasure import Eraser
from audiences.realtime.evaluator.evaluate import (
    Evaluation,
    is_holdout,
    next_change,
)
from audiences.realtime.evaluator.normalize import BadEvent, Event, iso, normalize, to_micros
from audiences.realtime.evaluator.redis_batch import (
    BatchWrites,
    OwnerChanged,
    RedisScripts,
    read_devices,
    read_sets,
)
from audiences.realtime.evaluator.rules import RuleSet
from audiences.realtime.evaluator.state_keys import StateKeys
from audiences.realtime.evaluator.stats import BatchStats
from audiences.realtime.evaluator.timeline import Timeline
from audiences.realtime.keys import EVALUATOR_GROUP, EVENT_STREAM_GROUPS, RedisKeys
from audiences.realtime.stream import EventStream, RedisEventStream, StreamEntry, StreamTrimmer

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
CRASH_ENV = "AUDIENCES_TEST_CRASH_AT"
CRASH_POINTS = ("read", "evaluated", "committed")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class CrashHook:
    """Test hook: ``AUDIENCES_TEST_CRASH_AT=<point>:<n>`` kills the process with SIGKILL the
    n-th time it reaches ``point`` (read, evaluated, committed)."""

    def __init__(self, spec: str | None):
        self.point, self.count = None, 0
        if spec:
            point, _, n = spec.partition(":")
            if point not in CRASH_POINTS:
                raise ValueError(f"{CRASH_ENV}: unknown point '{point}' (one of {CRASH_POINTS})")
            self.point, self.count = point, int(n or 1)

    def __call__(self, point: str) -> None:
        if point == self.point:
            self.count -= 1
            if self.count <= 0:
                os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class BatchResult:
    entries: int = 0
    new_events: int = 0
    bad_events: list[str] = field(default_factory=list)
    persons: int = 0
    changes: int = 0
    due: int = 0
    erased_ids: int = 0  # ids forgotten before the batch
    erased_events: int = 0  # events of erased ids dropped
    phase_s: dict[str, float] = field(default_factory=dict)  # apply, load, evaluate, commit


@dataclass
class _Work:
    """One batch in memory: the device states it reads or changes, and the index changes."""

    devices: dict[str, DeviceState]
    touched_devices: list[str]
    touched: set[str] = field(default_factory=set)  # persons of the touched devices
    index_changes: list[tuple[str, str, bool]] = field(default_factory=list)  # person, device, +
    # the users of each touched device as stored before the batch (None: no state yet)
    loaded_users: dict[str, list[str] | None] = field(default_factory=dict)


class Evaluator:
    def __init__(
        self,
        client: redis.Redis,
        keys: RedisKeys,
        stream: EventStream,
        rules: RuleSet,
        clock: Clock = utc_now,
        consumer: str | None = None,
        crash: CrashHook | None = None,
        due_per_batch: int = 1000,
        cache: DeviceCache | None = None,
    ):
        self.client = client
        self.keys = keys
        self.state = StateKeys(keys)
        self.scripts = RedisScripts(client)
        self.cache = cache if cache is not None else DeviceCache()
        self.token = ""  # written to the owner key by start()
        self.eraser = Eraser(client, keys, cache=self.cache)
        self.stream = stream
        self.rules = rules
        self.clock = clock
        self.consumer = consumer or f"evaluator-{socket.gethostname()}"
        self.crash = crash or CrashHook(os.environ.get(CRASH_ENV))
        self.streamable = [s.name for s in rules.streamable]
        self.due_per_batch = due_per_batch
        self.needs_batch = any(s.batch_references for s in rules.streamable)
        # entries the loader has also acknowledged leave the stream (docs/realtime.md)
        self.trimmer = StreamTrimmer(stream, EVENT_STREAM_GROUPS)
        self.stats = BatchStats()

    # --- the loop ------------------------------------------------------------------------
    def start(self) -> None:
        """Takes the state over (a new owner token; an evaluator started before stops at its
        next commit) and registers the streamable segments."""
        self.stream.ensure_group(EVALUATOR_GROUP)
        self.cache.clear()
        self.token = uuid.uuid4().hex
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.state.owner, self.token)
        pipe.delete(self.keys.streamable)
        if self.streamable:
            pipe.sadd(self.keys.streamable, *self.streamable)
        pipe.execute()

    def run(
        self,
        *,
        once: bool = False,
        count: int = 500,
        block_ms: int = 1000,
        give_up_after_s: float | None = None,
    ) -> int:
        """Finishes the entries this consumer was given before (a restart), then reads new
        ones. With ``once``, stops when the stream is drained. When Redis goes away (a
        restart), waits for it and resumes from the pending entries; gives up after
        ``give_up_after_s`` seconds without Redis (None: never). Returns entries processed."""
        with BatchCollector() as collector:
            return self._run(collector, once, count, block_ms, give_up_after_s)

    def _run(
        self,
        collector: BatchCollector,
        once: bool,
        count: int,
        block_ms: int,
        give_up_after_s: float | None,
    ) -> int:
        total = 0
        waited, delay = 0.0, 0.2
        while True:
            try:
                self.start()
                while True:
                    entries = self.stream.read(EVALUATOR_GROUP, self.consumer, count, pending=True)
                    if not entries:
                        break
                    total += self.process(entries).entries
                    collector.after_batch(idle=False)
                while True:
                    entries = self.stream.read(
                        EVALUATOR_GROUP, self.consumer, count, block_ms=block_ms
                    )
                    result = self.process(entries)
                    total += result.entries
                    self.stats.add(result)
                    self.trimmer.maybe()
                    collector.after_batch(idle=not entries)
                    waited, delay = 0.0, 0.2
                    if once and not entries and result.due < self.due_per_batch:
                        return total
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self.cache.clear()  # a restarted Redis may have lost its last writes
                if give_up_after_s is not None and waited >= give_up_after_s:
                    raise
                log.warning("Redis unreachable (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
                waited += delay
                delay = min(delay * 2, 5.0)

    # --- one batch -----------------------------------------------------------------------
    def process(self, entries: Sequence[StreamEntry]) -> BatchResult:
        """Applies a batch at T = the clock, re-evaluates every affected person and the
        persons due by T, and commits it all with the acknowledgement, atomically."""
        try:
            return self._process(entries)
        except BaseException:
            self.cache.clear()  # states changed in memory and not committed
            raise

    def _process(self, entries: Sequence[StreamEntry]) -> BatchResult:
        as_of = to_micros(self.clock())
        result = BatchResult(entries=len(entries))
        self.crash("read")
        t0 = time.perf_counter()
        result.erased_ids = self.eraser.apply_new(as_of)
        kept, result.erased_events = self.eraser.keep(entries)
        work = self._apply(kept, as_of, result)
        t1 = time.perf_counter()
        # persons whose answer may have changed with time; a bounded number per batch so a
        # backlog (after a stop) is worked off over several loops
        due = {
            str(p)
            for p in self.client.zrangebyscore(
                self.state.due, "-inf", as_of, start=0, num=self.due_per_batch
            )
        }
        result.due = len(due)
        persons = sorted(work.touched | due)
        result.persons = len(persons)
        # the persons' devices, live segments and (for references) built segments: one read
        count = len(persons)
        names = [self.state.devices_of(p) for p in persons]
        names += [self.keys.live_segments(p) for p in persons]
        if self.needs_batch:
            names += [self.keys.batch_segments(p) for p in persons]
            names += [self.keys.batch_held(p) for p in persons]
        found = read_sets(self.scripts, names)
        members = self._devices_of(persons, found[:count], work)
        current = found[count : 2 * count]
        # references count the built membership, holdout included, as the batch rules do
        batch_keys = (
            [
                served | held
                for served, held in zip(
                    found[2 * count : 3 * count], found[3 * count :], strict=True
                )
            ]
            if self.needs_batch
            else [set() for _ in persons]
        )
        inactivity = self.rules.session_inactivity_seconds
        t2 = time.perf_counter()
        sessionized = {a: d.sessionize(inactivity) for a, d in work.devices.items()}
        outcomes = {
            person: self._evaluate(person, members[person], work, sessionized, keys, as_of)
            for person, keys in zip(persons, batch_keys, strict=True)
        }
        self.crash("evaluated")
        t3 = time.perf_counter()
        before = dict(zip(persons, current, strict=True))
        self._commit(entries, as_of, work, before, outcomes, result)
        self.crash("committed")
        t4 = time.perf_counter()
        result.phase_s = {"apply": t1 - t0, "load": t2 - t1, "evaluate": t3 - t2, "commit": t4 - t3}
        if entries and not isinstance(self.stream, RedisEventStream):
            # another stream: acknowledged after the commit; a re-delivery is idempotent
            # because the device state knows the event ids it holds
            self.stream.ack(EVALUATOR_GROUP, [e.entry_id for e in entries])
        return result

    def _apply(self, entries: Sequence[StreamEntry], as_of: int, result: BatchResult) -> _Work:
        """The batch's events added to their devices' states (in memory), archived past the
        horizon; which persons each touched device contributes to, before and after."""
        inactivity = self.rules.session_inactivity_seconds
        by_device: dict[str, list[Event]] = {}
        for entry in entries:
            try:
                event = normalize(entry.event, entry.entry_id)
            except BadEvent as exc:
                log.warning("skipping an unreadable event (kept in the dead letters): %s", exc)
                self.stream.dead_letter(EVALUATOR_GROUP, entry, str(exc))
                result.bad_events.append(str(exc))
                continue
            by_device.setdefault(event.anonymous_id, []).append(event)
        work = _Work(devices=self._load_devices(list(by_device)), touched_devices=list(by_device))
        for anon, arrived in by_device.items():
            device = work.devices[anon]
            work.loaded_users[anon] = list(device.users) if device.stored else None
            before = set(device.persons)
            for event in arrived:
                result.new_events += device.add(event)
            if self.rules.retention_s:
                device.archive(as_of - self.rules.retention_s * 1_000_000, inactivity)
            device.persons = device.person_set(inactivity)
            after = set(device.persons)
            work.touched |= before | after
            work.index_changes += [(p, anon, False) for p in before - after]
            work.index_changes += [(p, anon, True) for p in after - before]
        return work

    def _devices_of(
        self, persons: list[str], found: list[set[str]], work: _Work
    ) -> dict[str, set[str]]:
        """person -> the devices whose sessions belong to them (``found``: the stored index),
        with this batch's changes; loads the states of the devices not loaded yet."""
        members = dict(zip(persons, found, strict=True))
        for person, anon, added in work.index_changes:
            (members[person].add if added else members[person].discard)(anon)
        missing = {a for m in members.values() for a in m} - set(work.devices)
        work.devices.update(self._load_devices(missing))
        return members

    def _evaluate(
        self,
        person: str,
        devices: set[str],
        work: _Work,
        sessionized: dict[str, Sessionized],
        batch_keys: set[str],
        as_of: int,
    ) -> tuple[set[str], int | None]:
        """The person's live segments at T (holdout excluded) and their next due instant."""
        parts: list[Timeline] = []
        known = False  # the batch's person spine: a session started by T
        for anon in sorted(devices):
            sessions = sessionized[anon]
            own = sessions.by_person(work.devices[anon].events).get(person)
            if own:
                # the person's events on the device (in time order) and what the rules'
                # filters found in them in earlier batches
                parts.append(Timeline(own, sessions.answers(person)))
            first = sessions.first_start(person)
            known = known or (first is not None and first <= as_of)
        timeline = Timeline.merge(parts) if parts else Timeline([])
        segments: set[str] = set()
        if known:
            full = Evaluation(self.rules, timeline, as_of, batch_keys).segments()
            percent = self.rules.holdout_percent
            global_percent = self.rules.global_holdout_percent
            segments = {s for s in full if not is_holdout(person, s, percent, global_percent)}
        return segments, next_change(self.rules, timeline, as_of)

    def _commit(
        self,
        entries: Sequence[StreamEntry],
        as_of: int,
        work: _Work,
        current: dict[str, set[str]],
        outcomes: dict[str, tuple[set[str], int | None]],
        result: BatchResult,
    ) -> None:
        """Everything the batch changes, and its acknowledgement, in ONE script call (atomic,
        and refused when another evaluator owns the state)."""
        at = iso(as_of)
        writes = BatchWrites(owner=(self.state.owner, self.token))
        metas: dict[str, bytes] = {}
        for anon in work.touched_devices:
            device = work.devices[anon]
            # the events: appended to the stored list, or the list replaced (archived events)
            replace, values = device.event_writes()
            events_key = self.state.device_events(anon)
            if replace:
                writes.delete(events_key)
            writes.rpush(events_key, *values)
            meta = metas[anon] = device.dumps()
            if meta != device.stored_meta:
                writes.set(self.state.device(anon), meta)
            if device.users != work.loaded_users.get(anon):
                # who the device and its users are: written when its users changed
                writes.set(self.keys.live_person_of(anon), device.device_user or anon)
                for user in device.users:
                    writes.set(self.keys.live_person_of(user), user)
        for person, anon, added in work.index_changes:
            key = self.state.devices_of(person)
            writes.sadd(key, anon) if added else writes.srem(key, anon)
        # a person is identified when they are a user of one of their devices (loaded for
        # the evaluation); the changes carry the user id so triggers can address them
        users = {u for device in work.devices.values() for u in device.users}
        for person, (segments, due_at) in outcomes.items():
            user_id = person if person in users else ""
            before = current[person]
            if segments != before:
                seg_key = self.keys.live_segments(person)
                writes.delete(seg_key)
                writes.sadd(seg_key, *sorted(segments))
            writes.set(self.keys.live_updated_at(person), at)
            for key in sorted(segments - before):
                writes.xadd(self.keys.changes, _change(person, user_id, key, "entered", at))
                result.changes += 1
            for key in sorted(before - segments):
                writes.xadd(self.keys.changes, _change(person, user_id, key, "exited", at))
                result.changes += 1
            if due_at is None:
                writes.zrem(self.state.due, person)
            else:
                writes.zadd(self.state.due, person, due_at)
        writes.set(self.keys.heartbeat, iso(to_micros(utc_now())))
        if entries and isinstance(self.stream, RedisEventStream):
            # the acknowledgement commits with the state (same script, atomically)
            writes.xack(self.keys.events, EVALUATOR_GROUP, [e.entry_id for e in entries])
        try:
            writes.apply(self.scripts)
        except OwnerChanged as exc:
            raise EvaluatorReplaced(
                "another evaluator started on the same Redis and prefix and now owns the "
                "segment state; this one stopped without writing (run one `audiences stream` "
                "per prefix)"
            ) from exc
        for anon, meta in metas.items():
            work.devices[anon].saved(meta)
        self.cache.keep(work.devices.values())

    def _load_devices(self, anons: Sequence[str] | set[str]) -> dict[str, DeviceState]:
        """The states of ``anons``: from the cache, the others read from Redis."""
        found, names = self.cache.take(anons)
        if names:
            pairs = [(self.state.device(a), self.state.device_events(a)) for a in names]
            stored = read_devices(self.scripts, pairs)
            found.update(
                {
                    a: DeviceState.loads(a, meta, events)
                    for a, (meta, events) in zip(names, stored, strict=True)
                }
            )
        return found


def _change(person: str, user_id: str, key: str, change: str, at: str) -> dict[Any, Any]:
    """One entry of ``rt:changes`` (docs/realtime.md, "Redis layout"): ``user_id`` is empty
    for an anonymous person."""
    return {
        "person_id": person,
        "segment_key": key,
        "change": change,
        "at": at,
        "user_id": user_id,
    }
