"""Settings from the environment: one validated model, secrets never printed."""

from __future__ import annotations

import pytest

from reverse_etl import settings
from reverse_etl.core.errors import ConfigError
from reverse_etl.destinations.registry import REGISTRY
from reverse_etl.http.transport import RetryPolicy


def test_defaults_and_values_from_the_environment(monkeypatch):
    for name in ("AUDIENCES_SYNC_PAGE_ROWS", "AUDIENCES_RETRY_MAX_ATTEMPTS", "AUDIENCES_PG_DSN"):
        monkeypatch.delenv(name, raising=False)
    s = settings.load()
    assert (s.sync_page_rows, s.retry_max_attempts, s.pg_dsn.get_secret_value()) == (5000, 8, "")
    monkeypatch.setenv("AUDIENCES_RETRY_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("AUDIENCES_HTTP_TIMEOUT", "2.5")
    assert RetryPolicy.from_env() == RetryPolicy(max_attempts=3, timeout_seconds=2.5)


def test_an_invalid_variable_is_named(monkeypatch):
    monkeypatch.setenv("AUDIENCES_SYNC_PAGE_ROWS", "many")
    with pytest.raises(ConfigError, match="AUDIENCES_SYNC_PAGE_ROWS: Input should be a valid"):
        settings.load()
    monkeypatch.setenv("AUDIENCES_SYNC_PAGE_ROWS", "0")
    with pytest.raises(ConfigError, match="AUDIENCES_SYNC_PAGE_ROWS: Input should be greater"):
        settings.load()


def test_secrets_are_secretstr_and_redacted(monkeypatch):
    dsn = "host=db user=u password=hunter22"
    monkeypatch.setenv("AUDIENCES_PG_DSN", dsn)
    monkeypatch.setenv("META_ACCESS_TOKEN", "EAAB-secret-token")
    s = settings.load()
    assert "hunter22" not in repr(s) and "hunter22" not in str(s.model_dump())
    assert s.pg_dsn.get_secret_value() == dsn
    token = settings.secret("META_ACCESS_TOKEN")
    assert token is not None and "EAAB" not in repr(token)
    assert settings.secret("NOT_SET_ANYWHERE_X") is None
    assert settings.value("NOT_SET_ANYWHERE_X", "d") == "d"
    # every destination's declared secrets are redacted
    assert set(REGISTRY.secret_env()) <= settings.secret_env_names()
    text = f"failed: {dsn} / token EAAB-secret-token"
    assert settings.redact(text) == "failed: *** / token ***"
