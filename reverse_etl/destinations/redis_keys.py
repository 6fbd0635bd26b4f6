"""The Redis keys of the batch memberships: the one definition shared by the ``redis``
destination (which writes them) and the real-time API (which reads them through
``audiences/realtime/keys.py``, built on this module: the sync engine must not import the
``audiences`` package, so the names live here). docs/realtime.md, "Redis layout"."""

from __future__ import annotations

from dataclasses import dataclass

#: the default prefix of every real-time key (``AUDIENCES_REDIS_PREFIX``)
DEFAULT_PREFIX = "aud:"


@dataclass(frozen=True)
class BatchKeys:
    prefix: str = DEFAULT_PREFIX

    def segments(self, person_id: str) -> str:
        """Set of the person's segment keys from the last build (holdout excluded)."""
        return f"{self.prefix}batch:seg:{person_id}"

    def held(self, person_id: str) -> str:
        """Set of the segment keys the person is held out of (never served; the streaming
        evaluator's segment references count them, as the batch rules do)."""
        return f"{self.prefix}batch:held:{person_id}"

    def person_of(self, some_id: str) -> str:
        """anonymous_id or user_id -> person_id, as the last build stitched it."""
        return f"{self.prefix}batch:person_of:{some_id}"

    def ids_of(self, person_id: str) -> str:
        """Set of the ids the destination last pointed at the person (private to the
        destination: which ``person_of`` keys to take back when an id leaves the person)."""
        return f"{self.prefix}batch:ids:{person_id}"

    @property
    def meta(self) -> str:
        """Hash: ``loaded_at`` (ISO 8601 UTC) and ``as_of`` of the last completed load.
        Missing = the cache is cold."""
        return f"{self.prefix}batch:meta"

    @property
    def erased(self) -> str:
        """Set of the ids erased people had (user_ids and their devices' anonymous_ids): the
        API answers 404 for them and the evaluator drops their events."""
        return f"{self.prefix}batch:erased"

    @property
    def erasures(self) -> str:
        """Stream of newly erased ids (field ``id``), in the order they were loaded: the
        evaluator reads it to delete what it holds of them."""
        return f"{self.prefix}batch:erasures"
