"""Resolve a dbt model name to its relation through target/manifest.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reverse_etl.core.errors import ManifestError


@dataclass(frozen=True)
class Relation:
    database: str | None
    schema: str
    identifier: str
    unique_id: str

    def sql(self, quote: Callable[[str], str]) -> str:
        """Fully qualified name quoted with the warehouse's ``quote`` function."""
        parts = [self.schema, self.identifier]
        return ".".join(quote(p) for p in parts)


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
            return data
    except FileNotFoundError:
        raise ManifestError(
            f"{path} not found: run `dbt build` (or `dbt parse`) first so models can be resolved"
        ) from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON ({exc}); re-run dbt") from None


def resolve_model(
    manifest: dict[str, Any], name: str, path: Path | str = "manifest.json"
) -> Relation:
    matches = [
        node
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model" and node.get("name") == name
    ]
    if not matches:
        raise ManifestError(
            f"model {name!r} is not in {path}: check the sync's 'model' field or re-run dbt"
        )
    if len(matches) > 1:
        # Several packages define the same name: prefer the root project.
        root = manifest.get("metadata", {}).get("project_name")
        own = [m for m in matches if m.get("package_name") == root]
        if len(own) != 1:
            ids = ", ".join(m.get("unique_id", "?") for m in matches)
            raise ManifestError(f"model name {name!r} is ambiguous in {path}: {ids}")
        matches = own
    node = matches[0]
    return Relation(
        database=node.get("database"),
        schema=node["schema"],
        identifier=node.get("alias") or node["name"],
        unique_id=node["unique_id"],
    )
