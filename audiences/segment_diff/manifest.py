"""Production's and the pull request's dbt manifests: where segment_memberships lives."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiences.segment_diff.errors import DiffUsageError

MEMBERSHIPS_MODEL = "segment_memberships"
# dbt quotes every part of a relation name; anything else in a manifest is refused.
_PART = r'(?:"[A-Za-z0-9_\- ]+"|[A-Za-z0-9_]+)'
_RELATION = re.compile(rf"^{_PART}(?:\.{_PART}){{1,2}}$")


@dataclass(frozen=True)
class ModelRelation:
    """Where dbt built (or would build) a model, as recorded in a manifest."""

    database: str | None
    schema: str
    relation_name: str


def load_manifest(path: Path) -> dict[str, Any]:
    """A dbt manifest.json, or a usage error naming the file."""
    if not path.is_file():
        raise DiffUsageError(
            f"{path} not found: --state must be a directory holding production's "
            "manifest.json (the artefact of the production `dbt build`)."
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DiffUsageError(f"{path} is not a readable dbt manifest: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("nodes"), dict):
        raise DiffUsageError(f"{path} is not a dbt manifest (no 'nodes').")
    return manifest


def model_node(manifest: dict[str, Any], name: str) -> dict[str, Any] | None:
    for node in manifest["nodes"].values():
        if node.get("resource_type") == "model" and node.get("name") == name:
            return node
    return None


def model_relation(manifest: dict[str, Any], name: str, source: Path) -> ModelRelation:
    """The relation of model `name` in the manifest read from `source`."""
    node = model_node(manifest, name)
    if node is None:
        raise DiffUsageError(f"model {name!r} is not in {source}.")
    relation = node.get("relation_name") or f'"{node["schema"]}"."{node.get("alias") or name}"'
    if not _RELATION.match(relation):
        raise DiffUsageError(f"{source}: unexpected relation name {relation!r} for {name!r}.")
    return ModelRelation(node.get("database"), node["schema"], relation)
