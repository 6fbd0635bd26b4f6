"""Settings of the `audiences ml` step: the dbt vars it shares with the models, read from
dbt_project.yml (overridable with --vars like dbt), and the schemas it reads and writes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from audiences.ml.errors import MlError

#: vars of dbt_project.yml the step reads, with the value used when a var is missing
VAR_DEFAULTS: dict[str, Any] = {
    "ml_schema": "ml",
    "ml_seed": 42,
    "persona_algorithm": "kmeans",
    "persona_k_min": 3,
    "persona_k_max": 8,
    "persona_top_value_percent": 10,
    "persona_fit_sample": 200000,
    "persona_silhouette_sample": 5000,
    "propensity_horizon_days": 7,
    "propensity_max_iter": 100,
    "propensity_fit_sample": 200000,
    "micro_segment_parent": "high_engagement",
    "micro_segment_outcome": "orders_30d",
    "micro_segment_features": [
        "sessions_30d",
        "page_views_30d",
        "product_views_30d",
        "add_to_carts_30d",
        "time_on_site_seconds_30d",
        "email_opens_30d",
        "evening_session_share",
        "days_since_last_visit",
    ],
    "micro_segment_max_depth": 3,
    "micro_segment_min_size": 30,
    "recommendation_lookback_days": 90,
    "recommendation_count": 10,
    "recommendation_include_purchased": False,
    "ml_drift_max_silhouette_change": 0.1,
    "ml_drift_max_size_change_percent": 25,
    "ml_drift_max_auc_drop": 0.05,
    "ml_drift_max_precision_drop": 0.02,
    "intent_lookback_days": 30,
    "intent_half_life_days": 7,
    "survey_questions": {
        "interests": ["outdoors", "cooking", "tech", "fashion", "fitness", "travel"],
        "values": ["sustainability", "price", "quality", "convenience"],
        "shopping_for": ["self", "family", "gift"],
    },
}


@dataclass(frozen=True)
class MlSettings:
    as_of: datetime
    schema_prefix: str = "analytics"
    vars: dict[str, Any] = field(default_factory=lambda: dict(VAR_DEFAULTS))

    def var(self, name: str) -> Any:
        return self.vars[name]

    @property
    def seed(self) -> int:
        return int(self.vars["ml_seed"])

    @property
    def ml_schema(self) -> str:
        return str(self.vars["ml_schema"])

    def schema(self, custom: str) -> str:
        """The schema dbt builds a folder into (generate_schema_name: <target>_<custom>)."""
        return f"{self.schema_prefix}_{custom}"


def parse_as_of(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MlError(
            f"--as-of {value!r} is not an ISO timestamp (e.g. 2026-11-24T00:00:00)"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def load_settings(
    as_of: str,
    project_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
    schema_prefix: str | None = None,
) -> MlSettings:
    """Vars from dbt_project.yml in ``project_dir`` (default: the working directory), then
    ``overrides`` (the --vars of the command)."""
    values = dict(VAR_DEFAULTS)
    path = (project_dir or Path.cwd()) / "dbt_project.yml"
    if path.exists():
        try:
            project = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise MlError(f"{path}: not valid YAML ({exc})") from None
        project_vars = project.get("vars") or {}
        values.update({k: v for k, v in project_vars.items() if k in VAR_DEFAULTS})
    for name, value in (overrides or {}).items():
        if name in VAR_DEFAULTS:
            values[name] = value
    k_min, k_max = int(values["persona_k_min"]), int(values["persona_k_max"])
    if not 2 <= k_min <= k_max:
        raise MlError(f"vars persona_k_min={k_min} / persona_k_max={k_max}: need 2 <= min <= max")
    prefix = schema_prefix or os.environ.get("AUDIENCES_SCHEMA", "analytics")
    return MlSettings(as_of=parse_as_of(as_of), schema_prefix=prefix, vars=values)
