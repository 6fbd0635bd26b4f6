"""How a run moves its batches (reverse_etl/engine.py, docs/decisions/0018-sync-throughput.md):
each batch's requests go out on a thread of their own while the engine reads the next batch,
yet the write-ahead records and commits alternate exactly as in a sequential run (a batch is
written ahead only once the one before it is committed), and the heap alive before the run
is frozen for the run only."""

from __future__ import annotations

import gc
import threading
from collections import defaultdict

from retl_support import FAST_RETRY

from reverse_etl.destinations.registry import build_destination
from reverse_etl.diff import Diff
from reverse_etl.engine import SyncEngine
from reverse_etl.state import StateStore


def test_batches_overlap_reading_but_commit_in_order(make_env, monkeypatch):
    env = make_env(n=300)  # HubSpot batches of 100: three batches
    events: list[tuple[str, str]] = []
    read: defaultdict[int, threading.Event] = defaultdict(threading.Event)
    sends: list[dict[str, object]] = []

    stream = Diff.stream_pending

    def reading(self, *args, **kwargs):
        for n, batch in enumerate(stream(self, *args, **kwargs), 1):
            read[n].set()  # batch n has been read from the work table
            yield batch

    wal, commit = StateStore.write_inflight, StateStore.commit_batch

    def writing(self, sync_name, run_id, batch_id, records):
        events.append(("wal", batch_id))
        return wal(self, sync_name, run_id, batch_id, records)

    def committing(self, sync_name, run_id, pairs, counts, batch_id=None):
        if batch_id is not None:
            events.append(("commit", batch_id))
        return commit(self, sync_name, run_id, pairs, counts, batch_id=batch_id)

    monkeypatch.setattr(Diff, "stream_pending", reading)
    monkeypatch.setattr(StateStore, "write_inflight", writing)
    monkeypatch.setattr(StateStore, "commit_batch", committing)

    def factory(sync):
        dest = build_destination(sync)
        send = dest.send_upserts

        def observed(transport, records):
            n = len(sends) + 1
            sends.append(
                {
                    "thread": threading.current_thread().name,
                    "frozen": gc.get_freeze_count(),
                    # a sequential engine reads batch n + 1 only after this call returns:
                    # waiting for it here would time out
                    "next_read_meanwhile": n == 3 or read[n + 1].wait(timeout=10),
                }
            )
            return send(transport, records)

        dest.send_upserts = observed
        return dest

    frozen_before = gc.get_freeze_count()
    project = env.project()
    wh = env.warehouse()
    try:
        engine = SyncEngine(project, wh, destination_factory=factory, retry_policy=FAST_RETRY)
        res = engine.run(project.file.syncs[0])
    finally:
        wh.close()

    assert res.status == "success" and res.counts["added"] == 300
    env.assert_destination_equals_model()
    assert len(sends) == 3
    assert all(s["next_read_meanwhile"] for s in sends)
    assert all(s["thread"] != threading.main_thread().name for s in sends)
    assert all(int(s["frozen"]) > frozen_before for s in sends)  # (reverse_etl/core/heap.py)
    assert gc.get_freeze_count() == frozen_before  # unfrozen after the run
    ids = [f"{res.run_id}:{n}" for n in (1, 2, 3)]
    assert events == [(kind, i) for i in ids for kind in ("wal", "commit")]
