"""The dbt layout rules (docs/contracts/segment-families.md), checked on the parsed manifest:
no intermediate model reads a mart, one model decides who is erased, each built-in segment
family is one `<family>_segments` model, the ad-platform marts share one members model, and
every relative link in the project's docs resolves inside the repository."""

from __future__ import annotations

import json
import re

import pytest
from dbt_support import PROJECT_DIR, run_dbt_command

FAMILY_MODELS = [
    "purchase_intent_segments",
    "multi_criteria_segments",
    "engagement_segments",
    "content_engagement_segments",
    "rfm_segments",
    "lifecycle_segments",
    "persona_segments",
    "predicted_buyer_segments",
]
MEMBERSHIP_COLUMNS = {"person_id", "segment_key", "segment_family", "score", "member_since"}
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, dict]:
    """Every model of the parsed project, by unique id."""
    work_dir = tmp_path_factory.mktemp("layout")
    db = work_dir / "layout.duckdb"
    run_dbt_command("parse", db=db, work_dir=work_dir)
    manifest = json.loads((work_dir / f"target-{db.stem}" / "manifest.json").read_text())
    return {
        node["unique_id"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


def _by_name(models: dict[str, dict]) -> dict[str, dict]:
    return {node["name"]: node for node in models.values()}


def _parents(node: dict, models: dict[str, dict]) -> set[str]:
    return {models[parent]["name"] for parent in node["depends_on"]["nodes"] if parent in models}


def test_no_intermediate_model_reads_a_mart(models):
    offenders = [
        f"{node['name']} reads {models[parent]['name']}"
        for node in models.values()
        if node["original_file_path"].startswith("models/intermediate/")
        for parent in node["depends_on"]["nodes"]
        if parent in models and models[parent]["original_file_path"].startswith("models/marts/")
    ]
    assert offenders == []


def test_only_the_erasure_model_reads_the_erasure_flag(models):
    readers = sorted(
        node["name"]
        for node in models.values()
        if re.search(r"\bis_erased\b", node["raw_code"])
        and not node["original_file_path"].startswith("models/staging/")
    )
    assert readers == ["int_privacy__erased_users"]


def test_each_family_is_one_segments_model_in_marts(models):
    by_name = _by_name(models)
    for name in FAMILY_MODELS:
        node = by_name[name]
        assert node["original_file_path"] == f"models/marts/segments/{name}.sql"
        assert set(node["columns"]) >= MEMBERSHIP_COLUMNS, name
    memberships = by_name["segment_memberships"]
    assert _parents(memberships, models) >= {*FAMILY_MODELS, "custom_segments"}
    macro = (PROJECT_DIR / "macros" / "segments" / "families.sql").read_text()
    listed = re.findall(r"'(\w+_segments)'", macro.split("builtin_segment_family_models")[1])
    assert listed == FAMILY_MODELS


def test_ad_platform_marts_read_one_shared_members_model(models):
    by_name = _by_name(models)
    for name in ["aud_meta_custom_audience", "aud_google_customer_match"]:
        assert _parents(by_name[name], models) == {"audience_ads_members"}, name


def test_every_relative_link_in_the_docs_resolves_inside_the_repository():
    documents = [
        *PROJECT_DIR.joinpath("docs").rglob("*.md"),
        *PROJECT_DIR.joinpath("models").rglob("*.md"),
    ]
    broken = []
    for document in documents:
        for target in LINK.findall(document.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue
            resolved = (document.parent / target).resolve()
            if not resolved.exists() or PROJECT_DIR.resolve() not in resolved.parents:
                broken.append(f"{document.relative_to(PROJECT_DIR)} -> {target}")
    assert broken == []
