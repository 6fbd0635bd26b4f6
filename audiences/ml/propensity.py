"""Purchase propensity: P(completed order in the next var propensity_horizon_days days).

Windows (h = the horizon, as_of = the build's as_of):
- train: features as of as_of - 2h, labels in [as_of - 2h, as_of - h);
- evaluate: features as of as_of - h, labels in [as_of - h, as_of), next to the intent_score
  recomputed as of as_of - h on the same people (audiences/ml/intent_baseline.py);
- score: a model refitted on the evaluation window scores everyone as of as_of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from audiences.ml.errors import NotEnoughDataError
from audiences.ml.evaluation import Evaluation, deciles, evaluate
from audiences.ml.features import FeatureFrame, feature_frame, purchase_labels
from audiences.ml.intent_baseline import intent_scores
from audiences.ml.settings import MlSettings
from reverse_etl.warehouse.base import Warehouse

MODEL = "propensity_hgb"
BASELINE = "intent_score"


@dataclass
class PropensityResult:
    person_ids: list[str]
    probability: np.ndarray
    decile: np.ndarray
    evaluation: Evaluation
    baseline: Evaluation


def fit(
    settings: MlSettings, frame: FeatureFrame, labels: np.ndarray
) -> HistGradientBoostingClassifier:
    if labels.sum() < 5:
        raise NotEnoughDataError(
            f"propensity: only {int(labels.sum())} buyers in the training window before "
            f"{frame.cutoff:%Y-%m-%d}; need at least 5 (generate more events)"
        )
    model = HistGradientBoostingClassifier(
        max_iter=int(settings.var("propensity_max_iter")),
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=settings.seed,
    )
    rows, weights = training_sample(
        labels, int(settings.var("propensity_fit_sample")), settings.seed
    )
    with threadpool_limits(1):
        model.fit(frame.values[rows], labels[rows], sample_weight=weights)
    return model


def training_sample(labels: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every buyer and a seeded sample of the non-buyers, ``size`` rows in all (everyone when
    there are fewer), the sampled non-buyers weighted up so the probabilities stay calibrated."""
    if len(labels) <= size:
        return np.arange(len(labels)), np.ones(len(labels))
    buyers = np.flatnonzero(labels == 1)
    others = np.flatnonzero(labels == 0)
    keep = max(size - len(buyers), 1)
    if keep >= len(others):
        return np.arange(len(labels)), np.ones(len(labels))
    sampled = np.sort(np.random.default_rng(seed).choice(others, size=keep, replace=False))
    rows = np.sort(np.concatenate([buyers, sampled]))
    weights = np.where(labels[rows] == 1, 1.0, len(others) / keep)
    return rows, weights


def predict(model: HistGradientBoostingClassifier, frame: FeatureFrame) -> np.ndarray:
    with threadpool_limits(1):
        return np.round(model.predict_proba(frame.values)[:, 1], 6)


def run(wh: Warehouse, settings: MlSettings) -> PropensityResult:
    h = int(settings.var("propensity_horizon_days"))
    train_cut = settings.as_of - timedelta(days=2 * h)
    eval_cut = settings.as_of - timedelta(days=h)

    train = feature_frame(wh, settings, train_cut)
    train_y = purchase_labels(wh, settings, train.person_ids, train_cut, h)
    model = fit(settings, train, train_y)

    held_out = feature_frame(wh, settings, eval_cut)
    held_y = purchase_labels(wh, settings, held_out.person_ids, eval_cut, h)
    evaluation = evaluate(MODEL, held_y, predict(model, held_out), held_out.person_ids, True)
    rule = intent_scores(wh, settings, held_out.person_ids, eval_cut)
    baseline = evaluate(BASELINE, held_y, rule, held_out.person_ids, False)

    final_model = fit(settings, held_out, held_y)
    current = feature_frame(wh, settings, settings.as_of)
    if not current.person_ids:
        raise NotEnoughDataError("propensity: nobody to score before as_of")
    probability = predict(final_model, current)
    return PropensityResult(
        person_ids=current.person_ids,
        probability=probability,
        decile=deciles(probability, current.person_ids),
        evaluation=evaluation,
        baseline=baseline,
    )
