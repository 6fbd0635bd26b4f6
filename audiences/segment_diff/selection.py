"""What to build for a pull request: dbt's `state:modified+`, plus the models that read a
project var whose value the pull request changed (dbt's state comparison does not see var
changes), always narrowed to the ancestors of the one model the diff reads."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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


def _flat_vars(project_file: Path, project_name: str) -> dict[str, Any]:
    try:
        project = yaml.safe_load(project_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DiffUsageError(f"{project_file} is not a readable dbt_project.yml: {exc}") from exc
    raw = project.get("vars") or {}
    if not isinstance(raw, dict):
        raise DiffUsageError(f"{project_file}: 'vars' must be a mapping.")
    flat = {k: v for k, v in raw.items() if k != project_name}
    scoped = raw.get(project_name)
    if isinstance(scoped, dict):
        flat.update(scoped)
    return flat


def changed_vars(base_project: Path, pr_project: Path, project_name: str) -> list[str]:
    """Names of the project vars added, removed or given another value by the pull request."""
    before = _flat_vars(base_project, project_name)
    after = _flat_vars(pr_project, project_name)
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _uses_var(text: str, name: str) -> bool:
    return re.search(r"\bvar\(\s*['\"]" + re.escape(name) + r"['\"]", text) is not None


def models_reading_vars(manifest: dict[str, Any], names: list[str]) -> list[str]:
    """The models whose SQL, config or macros (directly or through other macros) read one of
    the vars `names`."""
    if not names:
        return []
    macros = manifest.get("macros", {})

    def reads(text: str) -> bool:
        return any(_uses_var(text, name) for name in names)

    reading = {uid for uid, macro in macros.items() if reads(macro.get("macro_sql") or "")}
    grew = True
    while grew:  # macros that call a macro that reads one of the vars
        grew = False
        for uid, macro in macros.items():
            calls = (macro.get("depends_on") or {}).get("macros") or []
            if uid not in reading and reading.intersection(calls):
                reading.add(uid)
                grew = True
    models = set()
    for node in manifest["nodes"].values():
        if node.get("resource_type") != "model":
            continue
        text = (node.get("raw_code") or "") + json.dumps(node.get("unrendered_config") or {})
        calls = (node.get("depends_on") or {}).get("macros") or []
        if reads(text) or reading.intersection(calls):
            models.add(node["name"])
    return sorted(models)


def build_selection(var_models: list[str]) -> list[str]:
    """dbt `--select` arguments: (modified or reading a changed var, and their children)
    intersected with the ancestors of segment_memberships, so nothing else is built."""
    items = ["state:modified+", *(f"{model}+" for model in var_models)]
    return [f"{item},+{MEMBERSHIPS_MODEL}" for item in items]
