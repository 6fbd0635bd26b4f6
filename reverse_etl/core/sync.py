"""One sync as declared in syncs.yml (pure data: loading the file is :mod:`reverse_etl.config`).

The destination name and its ``options`` are checked against the destination registry
through pydantic's validation context (``context={"catalog": ...}``), so this module
needs no import of the destinations: :mod:`reverse_etl.config` passes the registry in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CAMPAIGN_TEXT = r"[A-Za-z0-9_.\-]*"
_CAMPAIGN_RE = re.compile(rf"^{_CAMPAIGN_TEXT}(\{{segment_key\}})?{_CAMPAIGN_TEXT}$")
SEGMENT_PLACEHOLDER = "{segment_key}"
_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

FilterValue = str | list[str]  # (module level: the field "list" shadows the builtin)

#: default of ``max_size_change_pct`` (docs/match-rates.md)
DEFAULT_MAX_SIZE_CHANGE_PCT: float | None = None


class DestinationCatalog(Protocol):
    """What validation needs to know about the registered destinations."""

    def names(self) -> tuple[str, ...]: ...

    def options_model(self, name: str) -> type[BaseModel]: ...

    def mirror_needs_list(self, name: str) -> bool: ...


def context_catalog(info: ValidationInfo) -> Any:
    """The catalog the loader passed in the validation context (None when validated alone:
    the checks against the registry are then skipped)."""
    ctx = info.context
    return ctx.get("catalog") if isinstance(ctx, dict) else None


def _catalog(info: ValidationInfo) -> DestinationCatalog | None:
    return context_catalog(info)  # type: ignore[no-any-return]


def check_config_name(v: str) -> str:
    """A sync's or trigger's name: lower-case letters, digits and '_', starting with a letter."""
    if not _NAME_RE.match(v):
        raise ValueError("must be lower-case letters, digits and '_', starting with a letter")
    return v


def options_error_text(exc: ValidationError) -> str:
    """One line per problem, each naming the option (``events.on_unknown: ...``)."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


@dataclass(frozen=True)
class CampaignNaming:
    """How a sync's campaigns are named in ``utm_campaign`` (docs/measurement.md): the text
    before and after the segment key, or a fixed name (``has_segment_key`` false) whose
    segment is ``segment_key`` when the sync sends exactly one segment."""

    template: str
    prefix: str
    suffix: str
    has_segment_key: bool
    segment_key: str | None

    def matches(self, utm_campaign: str) -> bool:
        if not self.has_segment_key:
            return utm_campaign == self.prefix
        return (
            len(utm_campaign) > len(self.prefix) + len(self.suffix)
            and utm_campaign.startswith(self.prefix)
            and utm_campaign.endswith(self.suffix)
        )

    def overlaps(self, other: CampaignNaming) -> bool:
        """True when some utm_campaign value would name a campaign of both."""
        if not self.has_segment_key:
            return other.matches(self.prefix)
        if not other.has_segment_key:
            return self.matches(other.prefix)
        return (self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix)) and (
            self.suffix.endswith(other.suffix) or other.suffix.endswith(self.suffix)
        )


def check_campaign_template(v: str) -> str:
    if not _CAMPAIGN_RE.match(v) or v == "":
        raise ValueError(
            "must be letters, digits, '_', '-' or '.', with at most one '{segment_key}' "
            "(e.g. 'aud_{segment_key}_meta' or 'winback_2026_11')"
        )
    if v == SEGMENT_PLACEHOLDER:
        raise ValueError(
            "needs text besides '{segment_key}' (e.g. 'aud_{segment_key}'): a bare segment "
            "key would claim every campaign named like a segment"
        )
    return v


class RateLimit(BaseModel):
    """Client-side limit: at most ``requests`` in any rolling ``window_seconds``."""

    model_config = ConfigDict(extra="forbid")
    requests: int = Field(gt=0)
    window_seconds: float = Field(gt=0)


class SyncConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    model: str
    destination: str
    mode: Literal["upsert", "mirror"] = "upsert"
    identity: str
    mapping: dict[str, str] = Field(description="destination field -> model column")
    list: str | None = Field(default=None, description="list / audience name in the destination")
    max_removal_pct: float = Field(default=10.0, ge=0, le=100)
    max_size_change_pct: float | None = Field(
        default=DEFAULT_MAX_SIZE_CHANGE_PCT,
        ge=0,
        description="segment health brake: refuse when the audience grew or shrank by more "
        "than this share since the last run (null: off)",
    )
    min_audience_size: int | None = Field(
        default=None,
        ge=0,
        description="size floor: below it an ad audience is too small to serve (default: the "
        "platform's minimum, 100 for Meta and Google Customer Match, 0 elsewhere)",
    )
    below_min_size: Literal["warn", "refuse"] = Field(
        default="warn", description="what a sync below min_audience_size does"
    )
    schedule: str | None = Field(default=None, description="hint for the orchestrator, e.g. cron")
    rate_limit: RateLimit | Literal["off"] | None = Field(
        default=None, description="override of the destination's published rate; 'off' disables"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="destination specific")
    where: dict[str, FilterValue] | None = Field(
        default=None, description="only rows whose column equals the value (or one of them)"
    )
    utm_campaign: str | None = Field(
        default=None,
        description="how the campaigns sent to this audience are named in utm_campaign, with "
        "'{segment_key}' standing for the segment (docs/measurement.md); recorded by each run "
        "for the mart campaign_attribution",
    )

    @field_validator("utm_campaign")
    @classmethod
    def _utm_campaign(cls, v: str | None) -> str | None:
        return None if v is None else check_campaign_template(v)

    def campaign_naming(self) -> CampaignNaming | None:
        """The parsed ``utm_campaign`` (None when the sync declares none)."""
        if self.utm_campaign is None:
            return None
        prefix, placeholder, suffix = self.utm_campaign.partition(SEGMENT_PLACEHOLDER)
        fixed = (self.where or {}).get("segment_key")
        if isinstance(fixed, list):
            fixed = fixed[0] if len(fixed) == 1 else None
        return CampaignNaming(
            template=self.utm_campaign,
            prefix=prefix,
            suffix=suffix,
            has_segment_key=bool(placeholder),
            segment_key=None if placeholder else fixed,
        )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_config_name(v)

    @field_validator("destination")
    @classmethod
    def _destination(cls, v: str, info: ValidationInfo) -> str:
        catalog = _catalog(info)
        if catalog is not None and v not in catalog.names():
            known = ", ".join(repr(n) for n in catalog.names())
            raise ValueError(f"unknown destination {v!r}; known destinations: {known}")
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

    @field_validator("options")
    @classmethod
    def _options(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        catalog = _catalog(info)
        dest = info.data.get("destination")
        if catalog is None or not isinstance(dest, str) or dest not in catalog.names():
            return v
        try:
            catalog.options_model(dest).model_validate(v)
        except ValidationError as exc:
            raise ValueError(options_error_text(exc)) from None
        return v

    @model_validator(mode="after")
    def _mirror_needs_list(self, info: ValidationInfo) -> SyncConfig:
        catalog = _catalog(info)
        if (
            catalog is not None
            and self.mode == "mirror"
            and not self.list
            and catalog.mirror_needs_list(self.destination)
        ):
            raise ValueError("mode 'mirror' needs a 'list' (the list or audience to keep in step)")
        return self
