"""What to build for a pull request: dbt's `state:modified+`, plus the models that read a
project var whose value the pull request changed (dbt's state comparison does not see var
changes), narrowed to the ancestors of the one model the diff reads; plus the few models
that read other nodes' declarations through `graph` (models_reading_graph)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from audiences.segment_diff.errors import DiffUsageError
from audiences.segment_diff.manifest import MEMBERSHIPS_MODEL


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


def _macros_reading(
    manifest: dict[str, Any], pattern: re.Pattern[str], package: str | None
) -> set[str]:
    """Macros (of `package`, or of any package when None) whose SQL matches `pattern`, and
    the macros that call them, transitively."""
    macros = {
        uid: macro
        for uid, macro in manifest.get("macros", {}).items()
        if package is None or macro.get("package_name") == package
    }
    reading = {uid for uid, m in macros.items() if pattern.search(m.get("macro_sql") or "")}
    grew = True
    while grew:
        grew = False
        for uid, macro in macros.items():
            calls = (macro.get("depends_on") or {}).get("macros") or []
            if uid not in reading and reading.intersection(calls):
                reading.add(uid)
                grew = True
    return reading


def _models_matching(
    manifest: dict[str, Any], pattern: re.Pattern[str], macros: set[str]
) -> list[str]:
    models = set()
    for node in manifest["nodes"].values():
        if node.get("resource_type") != "model":
            continue
        text = (node.get("raw_code") or "") + json.dumps(node.get("unrendered_config") or {})
        calls = (node.get("depends_on") or {}).get("macros") or []
        if pattern.search(text) or macros.intersection(calls):
            models.add(node["name"])
    return sorted(models)


def models_reading_vars(manifest: dict[str, Any], names: list[str]) -> list[str]:
    """The models whose SQL, config or macros (directly or through other macros) read one of
    the vars `names`."""
    if not names:
        return []
    alternatives = "|".join(re.escape(name) for name in names)
    pattern = re.compile(r"\bvar\(\s*['\"](?:" + alternatives + r")['\"]")
    return _models_matching(manifest, pattern, _macros_reading(manifest, pattern, None))


def models_reading_graph(manifest: dict[str, Any]) -> list[str]:
    """Models of this project that are not ancestors of segment_memberships and whose SQL
    depends on other nodes' declarations through the `graph` variable (segment_definitions
    reads the custom segments from the meta of custom_segments). dbt's state comparison
    cannot tell when their output changes, and the data tests comparing them with
    segment_memberships would otherwise compare the pull request with production's copy."""
    project = (manifest.get("metadata") or {}).get("project_name")
    pattern = re.compile(r"\bgraph\.(?:nodes|sources)\b")
    readers = _models_matching(manifest, pattern, _macros_reading(manifest, pattern, project))
    ancestors = _ancestors(manifest, f"model.{project}.{MEMBERSHIPS_MODEL}")
    return [name for name in readers if f"model.{project}.{name}" not in ancestors]


def _ancestors(manifest: dict[str, Any], unique_id: str) -> set[str]:
    seen = {unique_id}
    stack = [unique_id]
    while stack:
        node = manifest["nodes"].get(stack.pop()) or {}
        for parent in (node.get("depends_on") or {}).get("nodes") or []:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def build_selection(var_models: list[str], graph_models: list[str]) -> list[str]:
    """dbt `--select` arguments: (modified or reading a changed var, and their children)
    intersected with the ancestors of segment_memberships, so nothing else is built; plus
    the models that read the graph (see models_reading_graph), which are small."""
    items = ["state:modified+", *(f"{model}+" for model in var_models)]
    return [f"{item},+{MEMBERSHIPS_MODEL}" for item in items] + list(graph_models)
