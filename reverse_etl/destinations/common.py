"""Small helpers every destination module may use (options parsing, limits)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from reverse_etl.core.errors import ConfigError
from reverse_etl.core.records import Limits
from reverse_etl.core.sync import SyncConfig, options_error_text
from reverse_etl.core.trigger import TriggerConfig

M = TypeVar("M", bound=BaseModel)


def parse_options(model: type[M], sync: SyncConfig | TriggerConfig) -> M:
    """The sync's (or trigger's) ``options`` as the destination's model (also checked when
    syncs.yml is loaded: see :mod:`reverse_etl.config`)."""
    what = "trigger" if isinstance(sync, TriggerConfig) else "sync"
    try:
        return model.model_validate(sync.options)
    except ValidationError as exc:
        raise ConfigError(
            f"{what} {sync.name!r}, field 'options': {options_error_text(exc)}"
        ) from None


def limits_for(
    sync: SyncConfig | TriggerConfig, batch: int, rate: int | None, window: float
) -> Limits:
    """The published limits, unless the sync (or trigger) overrides the rate (or turns it
    off)."""
    if sync.rate_limit == "off":
        return Limits(batch, None, window)
    if sync.rate_limit is not None:
        return Limits(batch, sync.rate_limit.requests, sync.rate_limit.window_seconds)
    return Limits(batch, rate, window)


def account_url(url: str) -> str:
    """The host of a base URL as part of an account identity: scheme and host only. No user
    info, no path (an API version is not another account) and no port (the local sandbox's
    emulators listen on a new port on each start)."""
    scheme, sep, rest = url.strip().partition("://")
    host = rest.partition("/")[0].rpartition("@")[2]
    # (an IPv6 literal keeps its brackets)
    host = host.partition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
    return f"{scheme}{sep}{host}".lower()


def reveal(secret: SecretStr | None) -> str | None:
    """A credential's value, only where a request header or parameter is built."""
    return secret.get_secret_value() if secret is not None else None
