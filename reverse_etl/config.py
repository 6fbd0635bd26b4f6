"""syncs.yml: syncs as code, validated with errors that name the sync and the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reverse_etl.errors import ConfigError

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


FilterValue = str | list[str]  # (module level: the field "list" shadows the builtin)


class RateLimit(BaseModel):
    """Client-side limit: at most ``requests`` in any rolling ``window_seconds``."""

    model_config = ConfigDict(extra="forbid")
    requests: int = Field(gt=0)
    window_seconds: float = Field(gt=0)


class SyncConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    model: str
    destination: Literal["hubspot", "braze", "meta", "google_data_manager", "google_ads", "marketo"]
    mode: Literal["upsert", "mirror"] = "upsert"
    identity: str
    mapping: dict[str, str] = Field(description="destination field -> model column")
    list: str | None = Field(default=None, description="list / audience name in the destination")
    max_removal_pct: float = Field(default=10.0, ge=0, le=100)
    schedule: str | None = Field(default=None, description="hint for the orchestrator, e.g. cron")
    rate_limit: RateLimit | Literal["off"] | None = Field(
        default=None, description="override of the destination's published rate; 'off' disables"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="destination specific")
    where: dict[str, FilterValue] | None = Field(
        default=None, description="only rows whose column equals the value (or one of them)"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("must be lower-case letters, digits and '_', starting with a letter")
        return v

    @field_validator("identity")
    @classmethod
    def _identity(cls, v: str) -> str:
        if not _COLUMN_RE.match(v):
            raise ValueError(f"'{v}' is not a plain column name")
        return v

    @field_validator("mapping")
    @classmethod
    def _mapping(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("map at least one destination field to a model column")
        for dest, col in v.items():
            if not isinstance(col, str) or not _COLUMN_RE.match(col):
                raise ValueError(f"'{dest}' maps to '{col}', which is not a plain column name")
        return v

    @model_validator(mode="after")
    def _mirror_needs_list(self) -> SyncConfig:
        if (
            self.mode == "mirror"
            and not self.list
            and self.destination in ("hubspot", "meta", "google_ads")
        ):
            raise ValueError("mode 'mirror' needs a 'list' (the list or audience to keep in step)")
        return self


class SyncsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    target: Literal["duckdb", "postgres"] = "duckdb"
    manifest: str | None = None
    run_results: str | None = None
    syncs: list[SyncConfig]


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
        field = ".".join(str(p) for p in loc) or "(whole entry)"
        msg = e["msg"]
        if e["type"] == "missing":
            msg = "is required"
        elif e["type"] == "extra_forbidden":
            msg = "is not a known field"
        lines.append(f"  {where}, field '{field}': {msg}")
    return f"{path}: invalid sync configuration:\n" + "\n".join(lines)


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
        file = SyncsFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, raw, path)) from None
    seen: set[str] = set()
    for s in file.syncs:
        if s.name in seen:
            raise ConfigError(f"{path}: sync {s.name!r} is declared twice; names must be unique")
        seen.add(s.name)
    return Project(path=path.resolve(), file=file)
