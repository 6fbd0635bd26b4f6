"""The settings of the whole real-time path, from the environment (docs/realtime.md, "Settings").

One model, read by `audiences serve`, the streaming evaluator and the warehouse loader. Every
secret is a ``SecretStr`` (the Redis URL may carry a password; API keys are secrets), and
errors never echo an input value: a malformed ``AUDIENCES_PUBLISHABLE_KEYS`` entry is named
by its position, never by its key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from audiences.realtime.keys import DEFAULT_PREFIX

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# The batch cache is loaded after each `dbt build`. A daily build plus two hours of slack
# for a slow or retried build: older than that, lookups answer 503 rather than stale data.
DEFAULT_STALE_AFTER_SECONDS = 26 * 3600


class RealtimeSettingsError(ValueError):
    """The real-time settings in the environment are unusable; the message says which
    variable and what to change (never a secret value)."""


def key_id(secret: str) -> str:
    """A short, non-reversible name of an API key, for rate-limit counters and logs."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs and error messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def normalize_origin(value: str) -> str:
    """``scheme://host[:port]`` as a browser sends it in the ``Origin`` header, or a
    ValueError saying what is wrong (the value itself is not repeated)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError("the origin is not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise ValueError("the origin must start with https:// or http://")
    if not parts.hostname:
        raise ValueError("the origin has no host")
    if parts.username or parts.password:
        raise ValueError("the origin must not contain a user or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("the origin must be scheme://host[:port] only, without a path")
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


class PublishableKey(BaseModel):
    """A browser key: may post events and read segment keys, only from ``origin``."""

    model_config = ConfigDict(frozen=True)

    key: SecretStr
    origin: str


def _split(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, SecretStr):
        raw = raw.get_secret_value()
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return [item.get_secret_value() if isinstance(item, SecretStr) else item for item in raw]


class RealtimeSettings(BaseSettings):
    """Everything the real-time path reads from the environment (prefix ``AUDIENCES_``)."""

    model_config = SettingsConfigDict(
        env_prefix="AUDIENCES_", extra="ignore", hide_input_in_errors=True, frozen=True
    )

    redis_url: SecretStr = Field(
        default=SecretStr(DEFAULT_REDIS_URL),
        description="AUDIENCES_REDIS_URL: the Redis server (may carry a password).",
    )
    redis_prefix: str = Field(
        default=DEFAULT_PREFIX, min_length=1, description="AUDIENCES_REDIS_PREFIX"
    )
    server_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), description="AUDIENCES_SERVER_KEYS: comma-separated secret keys."
    )
    publishable_keys: Annotated[tuple[PublishableKey, ...], NoDecode] = Field(
        default=(),
        description="AUDIENCES_PUBLISHABLE_KEYS: comma-separated key@https://origin.",
    )
    api_rate_limit: int = Field(
        default=200, gt=0, description="AUDIENCES_API_RATE_LIMIT: requests per second per key."
    )
    max_events_per_batch: int = Field(
        default=500, gt=0, description="AUDIENCES_MAX_EVENTS_PER_BATCH"
    )
    max_body_bytes: int = Field(
        default=1_000_000, gt=0, description="AUDIENCES_MAX_BODY_BYTES: POST body limit."
    )
    max_future_seconds: int = Field(
        default=300,
        ge=0,
        description="AUDIENCES_MAX_FUTURE_SECONDS: how far occurred_at may be ahead of now.",
    )
    stale_after: int = Field(
        default=DEFAULT_STALE_AFTER_SECONDS,
        gt=0,
        description="AUDIENCES_STALE_AFTER: seconds after which the batch cache is stale.",
    )
    project_dir: Path | None = Field(
        default=None,
        description="AUDIENCES_PROJECT_DIR: the dbt project whose dbt_project.yml lists the "
        "accepted event and page types (default: this checkout, else the working directory).",
    )
    dedup_ttl: int = Field(
        default=7 * 86400,
        gt=0,
        description="AUDIENCES_DEDUP_TTL: seconds an accepted event_id is remembered.",
    )

    @field_validator("server_keys", mode="before")
    @classmethod
    def _parse_server_keys(cls, raw: Any) -> tuple[SecretStr, ...]:
        out = []
        for position, key in enumerate(_split(raw), start=1):
            if not isinstance(key, str) or any(c.isspace() for c in key) or "@" in key:
                raise ValueError(f"entry {position}: a key must be one word without spaces or '@'")
            out.append(SecretStr(key))
        return tuple(out)

    @field_validator("publishable_keys", mode="before")
    @classmethod
    def _parse_publishable_keys(cls, raw: Any) -> tuple[PublishableKey, ...]:
        out = []
        for position, entry in enumerate(_split(raw), start=1):
            if isinstance(entry, PublishableKey):
                out.append(entry)
                continue
            where = f"entry {position}"
            key, at, origin = str(entry).rpartition("@")
            if not at or not key or not origin:
                raise ValueError(f"{where}: expected key@https://origin")
            if any(c.isspace() for c in key) or "@" in key:
                raise ValueError(f"{where}: a key must be one word without spaces or '@'")
            try:
                origin = normalize_origin(origin)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            out.append(PublishableKey(key=SecretStr(key), origin=origin))
        return tuple(out)

    @model_validator(mode="after")
    def _no_key_is_both_kinds(self) -> RealtimeSettings:
        server = {k.get_secret_value() for k in self.server_keys}
        for position, entry in enumerate(self.publishable_keys, start=1):
            if entry.key.get_secret_value() in server:
                raise ValueError(
                    f"AUDIENCES_PUBLISHABLE_KEYS entry {position} is also in "
                    "AUDIENCES_SERVER_KEYS: a publishable key is public, use another key"
                )
        return self

    # --- derived values ----------------------------------------------------------------
    @property
    def redis_url_redacted(self) -> str:
        return redact_url(self.redis_url.get_secret_value())

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(k.origin for k in self.publishable_keys)

    @classmethod
    def from_env(cls, **overrides: Any) -> RealtimeSettings:
        """The settings from the environment, or a RealtimeSettingsError that names each
        variable and what is wrong with it (never its value)."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            lines = []
            for err in exc.errors(include_input=False, include_url=False):
                message = str(err["msg"]).removeprefix("Value error, ")
                if err["loc"]:
                    message = f"AUDIENCES_{str(err['loc'][0]).upper()}: {message}"
                lines.append(message)
            raise RealtimeSettingsError("invalid real-time settings: " + "; ".join(lines)) from None
