"""The destination registry: the one list of destinations the project knows.

Adding a destination = one module that defines ``SPEC`` (a
:class:`reverse_etl.destinations.spec.DestinationSpec`) plus one line in ``_SPECS`` below
(docs/architecture.md, "Adding a destination"). :mod:`reverse_etl.config` derives the allowed
``destination:`` values and validates every sync's ``options`` from here.
"""

from __future__ import annotations

from pydantic import BaseModel

from reverse_etl.core.errors import ConfigError
from reverse_etl.core.sync import SyncConfig
from reverse_etl.core.trigger import TriggerConfig
from reverse_etl.destinations import (
    braze,
    google_ads,
    google_data_manager,
    hubspot,
    marketo,
    meta,
    redis_cache,
    webhook,
)
from reverse_etl.destinations.capabilities import AnyDestination, TriggerTarget
from reverse_etl.destinations.spec import DestinationSpec
from reverse_etl.settings import register_secret_env


class Registry:
    """Destination specs by name; also the :class:`reverse_etl.core.sync.DestinationCatalog`
    that syncs.yml is validated against."""

    def __init__(self, specs: list[DestinationSpec]) -> None:
        self._specs: dict[str, DestinationSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"destination {spec.name!r} is registered twice")
            self._specs[spec.name] = spec
            register_secret_env(*spec.secret_env)

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def spec(self, name: str) -> DestinationSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise ConfigError(
                f"unknown destination {name!r}; known destinations: {', '.join(self._specs)}"
            ) from None

    def options_model(self, name: str) -> type[BaseModel]:
        return self.spec(name).options

    def mirror_needs_list(self, name: str) -> bool:
        return self.spec(name).mirror_needs_list

    def secret_env(self) -> tuple[str, ...]:
        return tuple(sorted({v for s in self._specs.values() for v in s.secret_env}))

    def build(self, sync: SyncConfig) -> AnyDestination:
        return self.spec(sync.destination).build(sync)

    # --- real-time triggers (reverse_etl.core.trigger) ---------------------------------------
    def trigger_names(self) -> tuple[str, ...]:
        return tuple(n for n, s in self._specs.items() if s.build_trigger is not None)

    def trigger_options_model(self, name: str) -> type[BaseModel]:
        model = self.spec(name).trigger_options
        if model is None:
            raise ConfigError(f"destination {name!r} takes no triggers")
        return model

    def build_trigger(self, trigger: TriggerConfig) -> TriggerTarget:
        build = self.spec(trigger.destination).build_trigger
        if build is None:
            raise ConfigError(
                f"trigger {trigger.name!r}: destination {trigger.destination!r} takes no "
                f"triggers; destinations that do: {', '.join(self.trigger_names())}"
            )
        return build(trigger)


_SPECS = [
    hubspot.SPEC,
    braze.SPEC,
    meta.SPEC,
    google_data_manager.SPEC,
    google_ads.SPEC,
    marketo.SPEC,
    redis_cache.SPEC,
    webhook.SPEC,
]

REGISTRY = Registry(_SPECS)


def build_destination(sync: SyncConfig) -> AnyDestination:
    """The destination object for one sync (its options parsed)."""
    return REGISTRY.build(sync)


def build_trigger_target(trigger: TriggerConfig) -> TriggerTarget:
    """What one real-time trigger delivers to (its options parsed)."""
    return REGISTRY.build_trigger(trigger)
