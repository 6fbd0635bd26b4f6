"""The tracker event model: the accepted event and page types come from dbt_project.yml
(one list for both paths), timestamps are normalised to UTC without an offset."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from audiences.realtime.events import (
    FIELDS,
    EventVocabularyError,
    InvalidBatchError,
    load_vocabulary,
    validate_batch,
)

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def one(**fields) -> dict:
    return {"event_id": "e1", "anonymous_id": "a1", "event_type": "page_view",
            "occurred_at": "2026-11-24T10:00:00", **fields}  # fmt: skip


def test_the_vocabulary_is_the_dbt_vars():
    project = yaml.safe_load((ROOT / "dbt_project.yml").read_text())["vars"]
    vocabulary = load_vocabulary(ROOT)
    assert vocabulary.event_types == frozenset(project["rule_event_types"])
    assert vocabulary.page_types == frozenset(project["rule_page_types"])


def test_the_vocabulary_follows_the_project_file(tmp_path):
    (tmp_path / "dbt_project.yml").write_text(
        "name: x\nvars:\n  rule_event_types: [page_view]\n  rule_page_types: [home]\n"
    )
    vocabulary = load_vocabulary(tmp_path)
    assert validate_batch({"events": [one(page_type="HOME")]}, vocabulary=vocabulary, now=NOW)
    with pytest.raises(InvalidBatchError) as raised:
        validate_batch({"events": [one(event_type="add_to_cart")]}, vocabulary=vocabulary, now=NOW)
    assert (raised.value.index, raised.value.field) == (0, "event_type")
    assert "accepted: page_view" in raised.value.message


def test_a_project_without_the_vars_is_a_clear_error(tmp_path):
    with pytest.raises(EventVocabularyError, match="AUDIENCES_PROJECT_DIR"):
        load_vocabulary(tmp_path)
    (tmp_path / "dbt_project.yml").write_text("name: x\nvars:\n  rule_event_types: [a]\n")
    with pytest.raises(EventVocabularyError, match="var 'rule_page_types'"):
        load_vocabulary(tmp_path)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-11-24T10:15:00", "2026-11-24T10:15:00"),
        ("2026-11-24 10:15:00", "2026-11-24T10:15:00"),
        ("2026-11-24T10:15:00Z", "2026-11-24T10:15:00"),
        ("2026-11-24T05:15:00-05:00", "2026-11-24T10:15:00"),
        ("2026-11-24T00:15:00.5+14:00", "2026-11-23T10:15:00.500000"),
        ("2026-11-24T10:15:00.123456", "2026-11-24T10:15:00.123456"),
    ],
)
def test_occurred_at_is_stored_in_utc_without_offset(given, stored):
    events = validate_batch(
        {"events": [one(occurred_at=given)]}, vocabulary=load_vocabulary(ROOT), now=NOW
    )
    assert events[0]["occurred_at"] == stored


def test_the_stream_dict_has_every_field_once():
    events = validate_batch({"events": [one()]}, vocabulary=load_vocabulary(ROOT), now=NOW)
    assert tuple(events[0]) == FIELDS
    assert "loaded_at" not in FIELDS


def test_validate_batch_reads_this_projects_vocabulary_by_default():
    assert validate_batch({"events": [one(event_type="cta_click")]}, now=NOW)[0]["event_type"] == (
        "cta_click"
    )
    with pytest.raises(InvalidBatchError) as raised:
        validate_batch({"events": [one(), one(page_type="landing")]}, now=NOW)
    assert (raised.value.index, raised.value.field) == (1, "page_type")
