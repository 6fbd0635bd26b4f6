"""How a destination module declares itself to the registry: one :class:`DestinationSpec`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from reverse_etl.core.sync import SyncConfig
from reverse_etl.core.trigger import TriggerConfig
from reverse_etl.destinations.capabilities import AnyDestination, TriggerTarget


@dataclass(frozen=True)
class DestinationSpec:
    """A destination as ``syncs.yml`` and the engine know it.

    - ``name``: the value of ``destination:`` in syncs.yml;
    - ``options``: the pydantic model of the sync's ``options`` (checked for every sync when
      syncs.yml is loaded);
    - ``secret_env``: environment variables holding credentials (redacted everywhere);
    - ``env``: other environment variables it reads (base URLs, account ids);
    - ``build``: makes the destination for one sync;
    - ``mirror_needs_list``: mode ``mirror`` requires a ``list`` (the list it keeps in step);
    - ``min_audience_size``: the platform's minimum useful audience size (the default size
      floor of its syncs, ``min_audience_size`` in syncs.yml overrides it);
    - ``trigger_options`` / ``build_trigger``: for a destination that takes real-time
      triggers (``triggers:`` in syncs.yml), the pydantic model of a trigger's ``options``
      and what makes the :class:`TriggerTarget` of one trigger.
    """

    name: str
    options: type[BaseModel]
    secret_env: tuple[str, ...]
    build: Callable[[SyncConfig], AnyDestination]
    env: tuple[str, ...] = ()
    mirror_needs_list: bool = False
    min_audience_size: int = 0
    trigger_options: type[BaseModel] | None = None
    build_trigger: Callable[[TriggerConfig], TriggerTarget] | None = None
