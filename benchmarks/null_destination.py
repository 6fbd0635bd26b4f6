"""A destination that acknowledges every row without a request: what a sync costs when the
platform costs nothing (the engine's own overhead: diff, records, write-ahead, state
commits). Used by ``bench_destinations.py --destination null``; never registered."""

from __future__ import annotations

import requests

from reverse_etl.core.records import Limits, Outcome, Record, RowResult
from reverse_etl.core.sync import SyncConfig
from reverse_etl.destinations.capabilities import Transport


class NullDestination:
    name = "null"
    key_normalization = "none"

    def __init__(self, sync: SyncConfig, batch_size: int = 10_000):
        self.sync = sync
        self.limits = Limits(batch_size=batch_size, requests_per_window=None, window_seconds=1)

    def http_config(self) -> tuple[str, dict[str, str]]:
        return "http://127.0.0.1:9", {}  # never called: no request is made

    def check_response(self, response: requests.Response) -> None:
        return None

    def account_key(self) -> str:
        return "null"

    def prepare(self, transport: Transport) -> None:
        return None

    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        return [RowResult(r.key, Outcome.ACKED, dest_id=r.key) for r in records]

    def send_removals(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        return [RowResult(r.key, Outcome.ACKED) for r in records]
