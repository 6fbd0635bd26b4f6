"""Survey answers in personas (audiences/ml/survey_features.py): a warehouse without answers
gets exactly the personas of the behavioural features; a warehouse with answers adds one 0/1
column per interest and per primary value, 0 for the people who never answered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ml_support import open_warehouse

from audiences.ml import personas, survey_features, tables
from audiences.ml.settings import MlSettings

BEHAVIOURAL = [name for name, _, _ in personas.FEATURES]
SURVEY = [
    "interest_outdoors",
    "interest_cooking",
    "interest_tech",
    "interest_fashion",
    "interest_fitness",
    "interest_travel",
    "value_sustainability",
    "value_price",
    "value_quality",
    "value_convenience",
]


def _signature(result: personas.PersonaResult) -> tuple:
    return (
        [(p.key, p.label, p.size, p.means, p.differences) for p in result.personas],
        result.person_ids,
        result.keys,
        # NaN (the top-value persona has no centroid) is not equal to itself: None instead
        [None if np.isnan(d) else d for d in result.distance.tolist()],
        result.metrics,
    )


def test_without_answers_the_personas_are_those_of_the_behavioural_features(
    warehouse_copy: Path, settings: MlSettings, monkeypatch
):
    wh = open_warehouse(warehouse_copy)
    try:
        # the reference: the survey loader switched off entirely
        with monkeypatch.context() as patch:
            patch.setattr(survey_features, "load", lambda *_: None)
            reference = personas.run(wh, settings)
        # a warehouse whose survey table is empty (dbt builds it empty without raw answers)
        wh.execute("delete from analytics_core.dim_user_interests")
        empty = personas.run(wh, settings)
        assert empty.feature_names == BEHAVIOURAL
        # a warehouse built before the survey models existed
        wh.execute("drop table analytics_core.dim_user_interests")
        absent = personas.run(wh, settings)
        tables.write_personas(wh, "ml", settings.as_of, absent)
        written = [c.lower() for c in wh.columns("ml", "personas")]
    finally:
        wh.close()
    assert _signature(empty) == _signature(reference)
    assert _signature(absent) == _signature(reference)
    assert not any(c.startswith(("mean_interest", "mean_value_")) for c in written)
    assert "mean_sessions_30d" in written


def test_with_answers_the_survey_flags_join_the_features_imputed_zero(
    warehouse_copy: Path, settings: MlSettings
):
    wh = open_warehouse(warehouse_copy)
    try:
        answered = {
            str(r[0]): r[1:]
            for r in wh.query(
                "select person_id, interest_outdoors, interest_tech, survey_value_primary "
                "from analytics_core.dim_user_interests"
            )
        }
        data = personas.load_people(wh, settings)
        result = personas.run(wh, settings)
        tables.write_personas(wh, "ml", settings.as_of, result)
        written = [c.lower() for c in wh.columns("ml", "personas")]
    finally:
        wh.close()
    assert answered, "the test warehouse has survey answers (audiences generate writes them)"
    assert data.names == BEHAVIOURAL + SURVEY
    assert data.log_scaled == [f[2] for f in personas.FEATURES] + [False] * len(SURVEY)
    assert data.weights == [1.0] * len(BEHAVIOURAL) + [survey_features.SURVEY_WEIGHT] * len(SURVEY)
    column = {name: j for j, name in enumerate(data.names)}
    for i, person in enumerate(data.person_ids):
        row = data.raw[i]
        if person not in answered:
            assert not row[len(BEHAVIOURAL) :].any(), person
            continue
        outdoors, tech, value = answered[person]
        assert row[column["interest_outdoors"]] == float(outdoors)
        assert row[column["interest_tech"]] == float(tech)
        stated = [name for name in SURVEY if name.startswith("value_") and row[column[name]]]
        assert stated == ([f"value_{value}"] if value else [])
    # most people never answer: every survey column is 0 for them
    assert len(answered) < len(data.person_ids) / 2
    assert result.feature_names == BEHAVIOURAL + SURVEY
    assert {"mean_interest_outdoors", "difference_value_price"} <= set(written)
    survey_share = np.array([p.means["interest_outdoors"] for p in result.personas])
    assert ((survey_share >= 0) & (survey_share <= 1)).all()
