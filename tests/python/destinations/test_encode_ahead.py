"""Encoding ahead in worker processes (reverse_etl/encode_ahead.py) changes nothing a sync
does: for each destination that encodes (Meta, Google Data Manager, Google Ads), the same
model synced once inline and once with two worker processes gives the same requests' effect,
the same state (fingerprints and destination ids), the same counts and the same identifier
dropped as malformed."""

from __future__ import annotations

import multiprocessing

import pytest
from dest_support import SCHEMA, make_env, target

from reverse_etl.diff import Diff
from reverse_etl.encode_ahead import EncodeAhead

POISON = "not a phone"  # dropped: the member is sent with its other identifiers
ENCODERS = ["meta", "google_data_manager", "google_ads"]


def _sync(tmp_path, monkeypatch, name: str, workers: int) -> tuple:
    t = target(name)
    opts = dict(t.options)
    if t.batch_size_option:
        opts["batch_size"] = 40  # several batches: encoding runs ahead of the requests
    root = tmp_path / f"{name}-{workers}"
    root.mkdir()
    env = make_env(root, t, n=230, options=opts)
    try:
        for k, v in t.env(env.emulator).items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("AUDIENCES_SYNC_ENCODE_WORKERS", str(workers))
        monkeypatch.setenv("AUDIENCES_SYNC_ENCODE_MIN_ROWS", "0")
        env.exec(f"UPDATE {SCHEMA}.{t.table} SET phone = '{POISON}' WHERE {t.row_id} = 'u0000057'")
        res = env.run()
        state = env.sql("SELECT key, fingerprint, dest_id FROM reverse_etl.sync_state ORDER BY key")
        holdings = t.holdings(env.emulator)
        expected = {t.marker(r) for r in env.model_rows()}
        return res, state, holdings, expected
    finally:
        env.emulator.stop()


@pytest.mark.parametrize("name", ENCODERS)
def test_encoding_in_workers_syncs_exactly_as_inline(tmp_path, monkeypatch, name):
    pools: list[int] = []
    enter = EncodeAhead.__enter__

    def spy(self: EncodeAhead) -> EncodeAhead:
        pools.append(self.workers)
        return enter(self)

    # the workers are forked before the diff's work table is written (while the sync is
    # small: a forked worker keeps the pages the sync had at the fork)
    forked: list[int] = []
    materialize = Diff.materialize

    def counting(self: Diff) -> int:
        forked.append(len(multiprocessing.active_children()))
        return materialize(self)

    monkeypatch.setattr(EncodeAhead, "__enter__", spy)
    monkeypatch.setattr(Diff, "materialize", counting)
    inline = _sync(tmp_path, monkeypatch, name, workers=0)
    ahead = _sync(tmp_path, monkeypatch, name, workers=2)
    assert pools == [0, 2]  # the second run really encoded in two worker processes
    assert forked == [0, 2]
    for res, _state, holdings, expected in (inline, ahead):
        assert res.status == "success"
        assert res.counts["added"] == 230 and res.counts["rejected"] == 0
        assert holdings == expected
    assert ahead[0].dropped == inline[0].dropped and len(inline[0].dropped) == 1
    assert ahead[1] == inline[1] and len(ahead[1]) == 230
