"""Settings from the environment: the one place the engine reads environment variables.

:class:`Settings` (pydantic-settings) holds the engine's own variables, validated, with
secrets as ``SecretStr`` (never printed: their ``repr`` is ``'**********'``). A destination
declares its variables in its registry entry (``DestinationSpec.secret_env`` / ``env``) and
reads them here with :func:`secret` / :func:`value`, so adding a destination never touches
this module. Every declared secret is registered for :func:`redact`, which replaces secret
values in any text that could echo a request (errors, logs, run history).

Variables are read when they are needed (a sync, a connection), not at import: a test or a
shell that changes them takes effect on the next run.
"""

from __future__ import annotations

import os

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from reverse_etl.core.errors import ConfigError


class Settings(BaseSettings):
    """The engine's environment (destination variables: see :func:`secret`, :func:`value`)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=False, frozen=True)

    duckdb_path: str = Field(default="audiences.duckdb", alias="AUDIENCES_DUCKDB_PATH")
    sync_memory_limit: str = Field(
        default="256MB", alias="AUDIENCES_SYNC_MEMORY_LIMIT", min_length=1
    )
    pg_dsn: SecretStr = Field(default=SecretStr(""), alias="AUDIENCES_PG_DSN")
    pg_password: SecretStr | None = Field(default=None, alias="PGPASSWORD")
    #: the warehouse of the sync (duckdb | postgres; checked when connecting)
    target: str | None = Field(default=None, alias="AUDIENCES_TARGET")
    sync_page_rows: int = Field(default=5000, alias="AUDIENCES_SYNC_PAGE_ROWS", gt=0)
    retry_max_attempts: int = Field(default=8, alias="AUDIENCES_RETRY_MAX_ATTEMPTS", gt=0)
    retry_base_seconds: float = Field(default=0.5, alias="AUDIENCES_RETRY_BASE_SECONDS", ge=0)
    retry_max_wait: float = Field(default=30.0, alias="AUDIENCES_RETRY_MAX_WAIT", ge=0)
    http_timeout: float = Field(default=30.0, alias="AUDIENCES_HTTP_TIMEOUT", gt=0)
    #: processes that normalise and hash ad-audience batches ahead of the requests
    #: (reverse_etl/encode_ahead.py); unset = one per core, 0 = encode inline
    sync_encode_workers: int | None = Field(
        default=None, alias="AUDIENCES_SYNC_ENCODE_WORKERS", ge=0
    )
    #: below this many rows to send, a run encodes inline (starting processes costs more)
    sync_encode_min_rows: int = Field(default=50_000, alias="AUDIENCES_SYNC_ENCODE_MIN_ROWS", ge=0)
    #: test hook of the crash-safety suite: "<point>:<n>" (engine.py)
    test_crash_at: str | None = Field(default=None, alias="AUDIENCES_TEST_CRASH_AT")


#: the engine's own secret variables; destinations add theirs through the registry
_SECRET_NAMES: set[str] = {"AUDIENCES_PG_DSN", "PGPASSWORD"}


def load() -> Settings:
    """The engine's settings, read from the environment now."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{e['loc'][0] if e['loc'] else '?'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid environment variable(s): {problems}") from None


def register_secret_env(*names: str) -> None:
    """Declare environment variables whose values :func:`redact` must hide."""
    _SECRET_NAMES.update(names)


def secret_env_names() -> frozenset[str]:
    return frozenset(_SECRET_NAMES)


def secret(name: str) -> SecretStr | None:
    """A destination's credential (declared in its ``secret_env``), None when unset."""
    raw = os.environ.get(name)
    return SecretStr(raw) if raw else None


def value(name: str, default: str | None = None) -> str | None:
    """A destination's non-secret variable (base URL, account id), ``default`` when unset."""
    return os.environ.get(name) or default


def redact(text: str) -> str:
    """Replace every known secret value in ``text`` by ``***``."""
    for name in _SECRET_NAMES:
        raw = os.environ.get(name)
        if raw and len(raw) >= 4 and raw in text:
            text = text.replace(raw, "***")
    return text
