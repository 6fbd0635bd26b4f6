"""The evaluator's private Redis keys, all under ``keys.state`` (docs/realtime.md)."""

from __future__ import annotations

from audiences.realtime.keys import RedisKeys


class StateKeys:
    def __init__(self, keys: RedisKeys):
        self.keys = keys

    def device(self, anonymous_id: str) -> str:
        """The device's metadata (JSON: users, archive, tail, persons)."""
        return self.keys.state(f"dev:{anonymous_id}")

    def device_events(self, anonymous_id: str) -> str:
        """List of the device's events in the retention horizon (JSON each, in the order
        they arrived; sorted when read)."""
        return self.keys.state(f"events:{anonymous_id}")

    def devices_of(self, person_id: str) -> str:
        """Set of the devices whose sessions belong to the person."""
        return self.keys.state(f"devices:{person_id}")

    @property
    def due(self) -> str:
        """Sorted set: person -> the next instant (microseconds) their answer can change."""
        return self.keys.state("due")

    @property
    def erasures_read(self) -> str:
        """The id of the last ``batch:erasures`` entry the evaluator has applied."""
        return self.keys.state("erasures_read")

    @property
    def owner(self) -> str:
        """The token of the evaluator that owns the state (the one that started last)."""
        return self.keys.state("owner")
