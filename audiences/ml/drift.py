"""Drift between builds: this build's model metrics (ml.model_metrics) against those of the
previous build (the latest earlier as_of). A warning when the silhouette, a persona's size,
the propensity AUC or the recommender's precision moved beyond the var thresholds:

- ml_drift_max_silhouette_change (absolute change of the persona silhouette),
- ml_drift_max_size_change_percent (relative change of a persona's size, in %),
- ml_drift_max_auc_drop (drop of the propensity model's held-out AUC),
- ml_drift_max_precision_drop (drop of the recommender's precision@N).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from audiences.ml.settings import MlSettings
from audiences.ml.tables import MODEL_METRICS
from reverse_etl.warehouse.base import Warehouse


@dataclass(frozen=True)
class DriftWarning:
    model: str
    metric: str
    previous: float
    current: float
    threshold: str

    def __str__(self) -> str:
        return (
            f"{self.model} {self.metric}: {self.previous:g} -> {self.current:g} "
            f"(beyond {self.threshold})"
        )


Metrics = Mapping[tuple[str, str], float]


def compare(previous: Metrics, current: Metrics, settings: MlSettings) -> list[DriftWarning]:
    out: list[DriftWarning] = []
    max_sil = float(settings.var("ml_drift_max_silhouette_change"))
    max_size = float(settings.var("ml_drift_max_size_change_percent"))
    max_auc = float(settings.var("ml_drift_max_auc_drop"))
    max_precision = float(settings.var("ml_drift_max_precision_drop"))
    for (model, metric), now in sorted(current.items()):
        before = previous.get((model, metric))
        if before is None:
            continue
        if model == "personas" and metric == "silhouette" and abs(now - before) > max_sil:
            out.append(DriftWarning(model, metric, before, now, f"±{max_sil:g}"))
        elif model == "personas" and metric.startswith("size_") and before > 0:
            if abs(now - before) / before * 100.0 > max_size:
                out.append(DriftWarning(model, metric, before, now, f"±{max_size:g} %"))
        elif model == "propensity_hgb" and metric == "auc" and before - now > max_auc:
            out.append(DriftWarning(model, metric, before, now, f"a drop of {max_auc:g}"))
        elif metric == "precision_at_n" and before - now > max_precision:
            out.append(DriftWarning(model, metric, before, now, f"a drop of {max_precision:g}"))
    return out


def check(wh: Warehouse, settings: MlSettings) -> list[DriftWarning]:
    """Warnings for this build's as_of against the latest earlier one (none without one)."""
    table = f"{wh.quote(settings.ml_schema)}.{wh.quote(MODEL_METRICS.name)}"
    if not wh.columns(settings.ml_schema, MODEL_METRICS.name):
        return []
    earlier = wh.query(f"select max(as_of) from {table} where as_of < ?", (settings.as_of,))
    previous_as_of: datetime | None = earlier[0][0] if earlier else None
    if previous_as_of is None:
        return []

    def load(as_of: datetime) -> dict[tuple[str, str], float]:
        rows = wh.query(f"select model, metric, value from {table} where as_of = ?", (as_of,))
        return {(str(m), str(k)): float(v) for m, k, v in rows}

    return compare(load(previous_as_of), load(settings.as_of), settings)
