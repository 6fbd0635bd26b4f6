"""syncs.yml: syncs as code, validated with errors that name the sync and the field.

The allowed ``destination:`` values and each sync's ``options`` come from the destination
registry (:mod:`reverse_etl.destinations.registry`): every sync is checked when the file is
loaded, not only when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from reverse_etl.core.errors import ConfigError
from reverse_etl.core.sync import RateLimit, SyncConfig
from reverse_etl.core.trigger import TriggerConfig
from reverse_etl.destinations.registry import REGISTRY

__all__ = ["Project", "RateLimit", "SyncConfig", "SyncsFile", "TriggerConfig", "load_project"]


class SyncsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    target: Literal["duckdb", "postgres"] = "duckdb"
    manifest: str | None = None
    run_results: str | None = None
    syncs: list[SyncConfig]
    #: real-time triggers: segment entries / exits from the stream, sent at once
    triggers: list[TriggerConfig] = []


class Project(BaseModel):
    """The loaded configuration plus where it came from."""

    path: Path
    file: SyncsFile

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def manifest_path(self) -> Path:
        return self._resolve(self.file.manifest or "target/manifest.json")

    @property
    def run_results_path(self) -> Path:
        return self._resolve(self.file.run_results or "target/run_results.json")

    def _resolve(self, p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else self.root / path

    def select_triggers(self, names: list[str] | tuple[str, ...]) -> list[TriggerConfig]:
        if not names:
            return list(self.file.triggers)
        known = {t.name: t for t in self.file.triggers}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(
                f"{self.path}: no trigger named {', '.join(map(repr, unknown))}; "
                f"known triggers: {', '.join(sorted(known)) or '(none)'}"
            )
        return [known[n] for n in names]

    def select(self, names: list[str] | tuple[str, ...]) -> list[SyncConfig]:
        if not names:
            return list(self.file.syncs)
        known = {s.name: s for s in self.file.syncs}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(
                f"{self.path}: no sync named {', '.join(map(repr, unknown))}; "
                f"known syncs: {', '.join(sorted(known)) or '(none)'}"
            )
        return [known[n] for n in names]


def _describe(err: ValidationError, raw: dict[str, Any], path: Path) -> str:
    lines = []
    syncs = raw.get("syncs") if isinstance(raw, dict) else None
    for e in err.errors():
        loc = list(e["loc"])
        where = "top level"
        if len(loc) >= 2 and loc[0] == "syncs" and isinstance(loc[1], int):
            idx = loc[1]
            name = None
            if isinstance(syncs, list) and idx < len(syncs) and isinstance(syncs[idx], dict):
                name = syncs[idx].get("name")
            where = f"sync {name!r}" if name else f"sync #{idx + 1}"
            loc = loc[2:]
        elif len(loc) >= 2 and loc[0] == "triggers" and isinstance(loc[1], int):
            idx = loc[1]
            trig = raw.get("triggers") if isinstance(raw, dict) else None
            name = None
            if isinstance(trig, list) and idx < len(trig) and isinstance(trig[idx], dict):
                name = trig[idx].get("name")
            where = f"trigger {name!r}" if name else f"trigger #{idx + 1}"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or "(whole entry)"
        msg = e["msg"]
        if e["type"] == "missing":
            msg = "is required"
        elif e["type"] == "extra_forbidden":
            msg = "is not a known field"
        lines.append(f"  {where}, field '{field}': {msg}")
    return f"{path}: invalid sync configuration:\n" + "\n".join(lines)


def _check_campaigns_apart(syncs: list[SyncConfig], path: Path) -> None:
    """Two syncs whose utm_campaign conventions could name the same campaign would make
    attribution guess which audience a visit came from: refuse the file instead."""
    named = [(s.name, n) for s in syncs if (n := s.campaign_naming()) is not None]
    for i, (name, naming) in enumerate(named):
        for other_name, other in named[i + 1 :]:
            if naming.overlaps(other):
                raise ConfigError(
                    f"{path}: syncs {name!r} and {other_name!r}: their utm_campaign "
                    f"conventions ({naming.template!r}, {other.template!r}) can name the same "
                    "campaign, so a visit could not be attributed to one audience; give each "
                    "sync its own, e.g. 'aud_{segment_key}_" + other_name + "'"
                )


def load_project(path: str | Path = "syncs.yml") -> Project:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (pass --config PATH)") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with a 'syncs' list at the top level")
    try:
        file = SyncsFile.model_validate(raw, context={"catalog": REGISTRY})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, raw, path)) from None
    seen: set[str] = set()
    for s in file.syncs:
        if s.name in seen:
            raise ConfigError(f"{path}: sync {s.name!r} is declared twice; names must be unique")
        seen.add(s.name)
    _check_campaigns_apart(file.syncs, path)
    names: set[str] = set()
    for t in file.triggers:
        if t.name in names:
            raise ConfigError(f"{path}: trigger {t.name!r} is declared twice; names must be unique")
        names.add(t.name)
    return Project(path=path.resolve(), file=file)
