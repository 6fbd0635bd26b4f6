"""The propensity model learns the generator's planted signal: on the held-out week it beats
a random ranking by a clear margin, and it is reported next to the intent_score rule
evaluated on the same people and labels. The same model trained on shuffled labels does not
beat random: the margin is the signal, not an artefact of the evaluation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
from ml_support import open_warehouse

from audiences.ml import propensity
from audiences.ml.command import evaluation_table
from audiences.ml.evaluation import evaluate
from audiences.ml.features import feature_frame, purchase_labels
from audiences.ml.settings import MlSettings

MARGIN = 0.10  # AUC above the random baseline's 0.5


def test_model_beats_random_and_is_reported_next_to_intent_score(
    warehouse_copy: Path, settings: MlSettings
):
    wh = open_warehouse(warehouse_copy)
    try:
        result = propensity.run(wh, settings)
    finally:
        wh.close()
    ev, rule = result.evaluation, result.baseline
    assert ev.auc > 0.5 + MARGIN, ev
    assert ev.top_decile_lift > 1.0
    # same held-out people and labels for both
    assert (rule.people, rule.positives) == (ev.people, ev.positives)
    assert rule.model == "intent_score" and not rule.calibration
    assert len(ev.calibration) == 10
    assert sum(b.people for b in ev.calibration) == ev.people
    report = evaluation_table(ev, rule)
    assert "intent_score" in report and "propensity_hgb" in report
    verdict = "beats" if ev.auc > rule.auc else "does NOT beat"
    assert f"the model {verdict} the intent_score rule" in report
    # scores: a probability and a decile per person, deciles of (nearly) equal size
    assert np.all((result.probability >= 0) & (result.probability <= 1))
    sizes = np.bincount(result.decile, minlength=11)[1:]
    assert sizes.max() - sizes.min() <= 1


def test_shuffled_labels_do_not_beat_random(warehouse_copy: Path, settings: MlSettings):
    h = int(settings.var("propensity_horizon_days"))
    train_cut = settings.as_of - timedelta(days=2 * h)
    eval_cut = settings.as_of - timedelta(days=h)
    wh = open_warehouse(warehouse_copy)
    try:
        train = feature_frame(wh, settings, train_cut)
        labels = purchase_labels(wh, settings, train.person_ids, train_cut, h)
        held = feature_frame(wh, settings, eval_cut)
        held_y = purchase_labels(wh, settings, held.person_ids, eval_cut, h)
    finally:
        wh.close()
    shuffled = np.random.default_rng(0).permutation(labels)
    model = propensity.fit(settings, train, shuffled)
    ev = evaluate("shuffled", held_y, propensity.predict(model, held), held.person_ids, True)
    assert ev.auc < 0.5 + MARGIN, ev
