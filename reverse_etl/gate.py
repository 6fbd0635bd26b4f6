"""Refuse to sync a model whose last `dbt build` errored or failed one of its tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reverse_etl.core.errors import GateError

_BAD_MODEL = {"error", "skipped", "runtime error"}
_BAD_TEST = {"fail", "error", "runtime error"}


@dataclass
class GateResult:
    model_unique_id: str
    model_status: str | None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _tests_of(manifest: dict[str, Any], uid: str) -> set[str]:
    out = set()
    for section in ("nodes", "unit_tests"):
        for tid, node in manifest.get(section, {}).items():
            if node.get("resource_type") not in ("test", "unit_test"):
                continue
            deps = node.get("depends_on", {}).get("nodes", [])
            if uid in deps or node.get("attached_node") == uid:
                out.add(tid)
    return out


def evaluate(manifest: dict[str, Any], run_results_path: Path, model_uid: str) -> GateResult:
    try:
        with open(run_results_path, encoding="utf-8") as fh:
            run_results = json.load(fh)
    except FileNotFoundError:
        return GateResult(
            model_uid,
            None,
            failures=[
                f"{run_results_path} not found: run `dbt build` first "
                "(or pass --ignore-tests to sync without this check)"
            ],
        )
    except json.JSONDecodeError as exc:
        return GateResult(
            model_uid, None, failures=[f"{run_results_path} is not valid JSON: {exc}"]
        )

    by_id = {r.get("unique_id"): r for r in run_results.get("results", [])}
    result = GateResult(model_uid, None)
    model_run = by_id.get(model_uid)
    if model_run is None:
        result.notes.append(
            "model was not part of the last dbt run; its previous build is synced as is"
        )
    else:
        result.model_status = str(model_run.get("status"))
        if result.model_status in _BAD_MODEL:
            msg = model_run.get("message") or ""
            result.failures.append(f"model {result.model_status}: {msg}".strip())
    for tid in sorted(_tests_of(manifest, model_uid)):
        r = by_id.get(tid)
        if r is None:
            continue
        status = str(r.get("status"))
        if status in _BAD_TEST:
            short = tid.split(".")[-2] if tid.count(".") >= 3 else tid
            detail = r.get("message") or ""
            failures = r.get("failures")
            extra = f" ({failures} failing rows)" if failures else ""
            result.failures.append(f"test {short} {status}{extra} {detail}".rstrip())
    return result


def check(
    manifest: dict[str, Any], run_results_path: Path, model_uid: str, sync_name: str
) -> GateResult:
    """Raise :class:`GateError` when the model must not be synced."""
    result = evaluate(manifest, run_results_path, model_uid)
    if not result.ok:
        lines = "\n  ".join(result.failures)
        raise GateError(
            f"sync {sync_name!r} refused: the last dbt build of {model_uid} "
            f"is not clean:\n  {lines}\n"
            "Fix the model or its data and re-run `dbt build`, or pass --ignore-tests."
        )
    return result
