"""Evaluation of a score against purchase labels: AUC, PR-AUC, top-decile lift and a
calibration curve. The same functions evaluate the propensity model and the intent_score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from audiences.ml.errors import NotEnoughDataError

CALIBRATION_BINS = 10


@dataclass(frozen=True)
class CalibrationBin:
    bin: int
    people: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class Evaluation:
    model: str
    people: int
    positives: int
    auc: float
    pr_auc: float
    top_decile_lift: float
    calibration: tuple[CalibrationBin, ...]  # empty for a score that is not a probability

    def metrics(self) -> dict[str, float]:
        return {
            "auc": self.auc,
            "pr_auc": self.pr_auc,
            "top_decile_lift": self.top_decile_lift,
            "people": float(self.people),
            "positives": float(self.positives),
        }


def deciles(scores: np.ndarray, person_ids: list[str]) -> np.ndarray:
    """Decile 1 = the highest tenth of scores ... 10 = the lowest. Ties in score are ordered
    by person_id, so the cut is deterministic."""
    n = len(scores)
    order = np.lexsort((np.array(person_ids, dtype=object), -scores))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return (rank * 10 // max(n, 1) + 1).astype(np.int64)


def evaluate(
    model: str,
    labels: np.ndarray,
    scores: np.ndarray,
    person_ids: list[str],
    probability: bool,
) -> Evaluation:
    positives = int(labels.sum())
    if positives == 0 or positives == len(labels):
        raise NotEnoughDataError(
            f"{model}: the evaluation window has {positives} buyers among {len(labels)} "
            "people; need both buyers and non-buyers (generate more events or move as_of)"
        )
    decile = deciles(scores, person_ids)
    top = decile == 1
    base_rate = labels.mean()
    lift = float(labels[top].mean() / base_rate) if top.any() else 0.0
    calibration: tuple[CalibrationBin, ...] = ()
    if probability:
        bins = []
        for d in range(10, 0, -1):  # lowest scores first
            inside = decile == d
            if inside.any():
                bins.append(
                    CalibrationBin(
                        bin=11 - d,
                        people=int(inside.sum()),
                        mean_predicted=round(float(scores[inside].mean()), 6),
                        observed_rate=round(float(labels[inside].mean()), 6),
                    )
                )
        calibration = tuple(bins)
    return Evaluation(
        model=model,
        people=len(labels),
        positives=positives,
        auc=round(float(roc_auc_score(labels, scores)), 6),
        pr_auc=round(float(average_precision_score(labels, scores)), 6),
        top_decile_lift=round(lift, 6),
        calibration=calibration,
    )
