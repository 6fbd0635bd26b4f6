"""Fixtures for the destination suite; helpers live in dest_support.py next to this file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dest_support import SECRETS, Env, make_env, target


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for k in (
        "AUDIENCES_TEST_CRASH_AT",
        "BRAZE_REST_ENDPOINT",
        "META_GRAPH_URL",
        "GOOGLE_DATA_MANAGER_URL",
        "GOOGLE_ADS_BASE_URL",
        "HUBSPOT_BASE_URL",
        "MARKETO_BASE_URL",
    ):
        monkeypatch.delenv(k, raising=False)
    os.environ.pop("AUDIENCES_TEST_CRASH_AT", None)
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def dest_env(tmp_path, monkeypatch):
    """``dest_env(name, n=..., rows=..., **sync_overrides)`` -> Env with a running emulator."""
    made: list[Env] = []

    def factory(name: str, **kw) -> Env:
        root = tmp_path / name
        root.mkdir()
        env = make_env(root, target(name), **kw)
        for k, v in env.target.env(env.emulator).items():
            monkeypatch.setenv(k, v)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.emulator.stop()
