"""The tables `audiences ml` writes into the `ml` schema (var ml_schema), read by dbt as the
source `ml` (models/staging/ml/_ml__sources.yml)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from audiences.ml.micro_segments import MicroResult
from audiences.ml.personas import FEATURES, PersonaResult
from audiences.ml.propensity import PropensityResult
from audiences.ml.store import Column, TableSpec, append_rows, replace_table
from reverse_etl.warehouse.base import Warehouse

_FEATURE_NAMES = [f[0] for f in FEATURES]


def personas_spec(feature_names: Sequence[str]) -> TableSpec:
    """The personas table: a mean_ and a difference_ column per feature clustered on (the
    survey features only when the warehouse has survey answers)."""
    return TableSpec(
        "personas",
        (
            Column("persona_key", "text"),
            Column("label", "text"),
            Column("size", "bigint"),
            Column("share", "double"),
            Column("is_top_value", "boolean"),
            Column("buyer_share", "double"),
            *(Column(f"mean_{n}", "double") for n in feature_names),
            *(Column(f"difference_{n}", "double") for n in feature_names),
            Column("top_categories", "text"),
            Column("top_channels", "text"),
            Column("top_devices", "text"),
            Column("as_of", "timestamp"),
        ),
    )


PERSONAS = personas_spec(_FEATURE_NAMES)
PERSONA_ASSIGNMENTS = TableSpec(
    "persona_assignments",
    (
        Column("person_id", "text"),
        Column("persona_key", "text"),
        Column("distance", "double"),
        Column("probability", "double"),
        Column("as_of", "timestamp"),
    ),
)
PROPENSITY_SCORES = TableSpec(
    "propensity_scores",
    (
        Column("person_id", "text"),
        Column("purchase_probability_7d", "double"),
        Column("decile", "bigint"),
        Column("as_of", "timestamp"),
    ),
)
PROPENSITY_CALIBRATION = TableSpec(
    "propensity_calibration",
    (
        Column("as_of", "timestamp"),
        Column("model", "text"),
        Column("bin", "bigint"),
        Column("people", "bigint"),
        Column("mean_predicted", "double"),
        Column("observed_rate", "double"),
    ),
)
MICRO_SEGMENTS = TableSpec(
    "micro_segments",
    (
        Column("micro_segment_key", "text"),
        Column("parent_segment_key", "text"),
        Column("rule", "text"),
        Column("size", "bigint"),
        Column("outcome_rate", "double"),
        Column("parent_outcome_rate", "double"),
        Column("as_of", "timestamp"),
    ),
)
MICRO_SEGMENT_ASSIGNMENTS = TableSpec(
    "micro_segment_assignments",
    (
        Column("person_id", "text"),
        Column("micro_segment_key", "text"),
        Column("as_of", "timestamp"),
    ),
)
#: one row per (build as_of, model, metric): the history the drift check reads
MODEL_METRICS = TableSpec(
    "model_metrics",
    (
        Column("as_of", "timestamp"),
        Column("model", "text"),
        Column("metric", "text"),
        Column("value", "double"),
    ),
)


def _num(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def write_personas(wh: Warehouse, schema: str, as_of: datetime, result: PersonaResult) -> None:
    rows: list[Sequence[Any]] = [
        (
            p.key,
            p.label,
            p.size,
            p.share,
            p.is_top_value,
            p.buyer_share,
            *(p.means[n] for n in result.feature_names),
            *(p.differences[n] for n in result.feature_names),
            p.top_categories,
            p.top_channels,
            p.top_devices,
            as_of,
        )
        for p in result.personas
    ]
    replace_table(wh, schema, personas_spec(result.feature_names), rows)
    assignments = [
        (person, key, _num(d), _num(pr), as_of)
        for person, key, d, pr in zip(
            result.person_ids,
            result.keys,
            result.distance.tolist(),
            result.probability.tolist(),
            strict=True,
        )
    ]
    replace_table(wh, schema, PERSONA_ASSIGNMENTS, assignments)
    write_metrics(wh, schema, as_of, "personas", result.metrics)


def write_propensity(wh: Warehouse, schema: str, as_of: datetime, result: PropensityResult) -> None:
    rows = [
        (person, p, d, as_of)
        for person, p, d in zip(
            result.person_ids, result.probability.tolist(), result.decile.tolist(), strict=True
        )
    ]
    replace_table(wh, schema, PROPENSITY_SCORES, rows)
    replace_table(
        wh,
        schema,
        PROPENSITY_CALIBRATION,
        [
            (as_of, ev.model, b.bin, b.people, b.mean_predicted, b.observed_rate)
            for ev in (result.evaluation, result.baseline)
            for b in ev.calibration
        ],
    )
    for ev in (result.evaluation, result.baseline):
        write_metrics(wh, schema, as_of, ev.model, ev.metrics())


def write_micro_segments(wh: Warehouse, schema: str, as_of: datetime, result: MicroResult) -> None:
    replace_table(
        wh,
        schema,
        MICRO_SEGMENTS,
        [
            (s.key, s.parent, s.rule_text(), s.size, s.outcome_rate, s.parent_outcome_rate, as_of)
            for s in result.segments
        ],
    )
    replace_table(
        wh,
        schema,
        MICRO_SEGMENT_ASSIGNMENTS,
        [(p, k, as_of) for p, k in zip(result.person_ids, result.keys, strict=True) if k],
    )
    write_metrics(
        wh,
        schema,
        as_of,
        "micro_segments",
        {
            "micro_segments": float(len(result.segments)),
            **{f"size_{s.key}": float(s.size) for s in result.segments},
        },
    )


def write_metrics(
    wh: Warehouse, schema: str, as_of: datetime, model: str, metrics: dict[str, float]
) -> None:
    rows = [(as_of, model, name, float(v)) for name, v in sorted(metrics.items())]
    # one build's metrics per (as_of, model): delete them, then append
    append_rows(wh, schema, MODEL_METRICS, rows, replace_where=("as_of", as_of), model=model)
