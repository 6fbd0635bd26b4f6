"""Metrics on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from audiences.ml.errors import NotEnoughDataError
from audiences.ml.evaluation import deciles, evaluate
from audiences.ml.propensity import training_sample


def test_deciles_put_the_highest_tenth_first_and_break_ties_by_person_id():
    scores = np.array([0.1 * i for i in range(20)])
    ids = [f"p{i:02d}" for i in range(20)]
    d = deciles(scores, ids)
    assert d.tolist() == [10, 10, 9, 9, 8, 8, 7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    tied = deciles(np.zeros(10), [f"p{i}" for i in range(9, -1, -1)])
    # all equal: p0 (last in the input) ranks first
    assert tied.tolist() == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]


def test_auc_pr_auc_and_lift_by_hand():
    # 10 people, scores 0.9 .. 0.0; buyers at ranks 1, 2 and 6
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    labels = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    ids = [str(i) for i in range(10)]
    ev = evaluate("m", labels, scores, ids, probability=True)
    # pairs (buyer, non-buyer) ordered right: 7 + 7 + 4 of 3 * 7 = 21
    assert ev.auc == pytest.approx(18 / 21, abs=1e-6)
    # average precision: (1/1 + 2/2 + 3/6) / 3
    assert ev.pr_auc == pytest.approx((1 + 1 + 0.5) / 3, abs=1e-6)
    # top decile = the first person, a buyer: rate 1 against a base rate of 0.3
    assert ev.top_decile_lift == pytest.approx(1 / 0.3, abs=1e-6)
    assert [b.observed_rate for b in ev.calibration] == [0, 0, 0, 0, 1, 0, 0, 0, 1, 1]
    assert ev.calibration[-1].mean_predicted == 0.9


def test_no_buyer_in_the_window_is_a_clear_error():
    with pytest.raises(NotEnoughDataError, match="0 buyers among 3 people"):
        evaluate("m", np.zeros(3, dtype=int), np.array([0.1, 0.2, 0.3]), ["a", "b", "c"], True)


def test_training_sample_keeps_every_buyer_and_weights_the_others():
    labels = np.array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    rows, weights = training_sample(labels, size=6, seed=1)
    assert len(rows) == 6 and {0, 5} <= set(rows.tolist())
    # 8 non-buyers represented by 4 rows of weight 2: the total weight is the population's
    assert weights.tolist().count(2.0) == 4 and weights.sum() == 10
    same, _ = training_sample(labels, size=6, seed=1)
    assert same.tolist() == rows.tolist()
    everyone, ones = training_sample(labels, size=10, seed=1)
    assert everyone.tolist() == list(range(10)) and ones.sum() == 10
