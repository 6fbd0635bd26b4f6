"""A rebuild on the same data gives the same personas, scores and recommendations: the step
runs twice on the test warehouse and every table it writes is compared row for row."""

from __future__ import annotations

from pathlib import Path

from ml_support import ML_TABLES, open_warehouse

from audiences.ml.command import STEPS, run_steps
from audiences.ml.settings import MlSettings

TABLES = ML_TABLES


def _snapshot(path: Path) -> dict[str, list[tuple]]:
    wh = open_warehouse(path)
    try:
        return {t: wh.query(f"select * from ml.{t} order by {o}") for t, o in TABLES.items()}
    finally:
        wh.close()


def _run(path: Path, settings: MlSettings) -> list[str]:
    out: list[str] = []
    wh = open_warehouse(path)
    try:
        run_steps(wh, settings, STEPS, out.append)
    finally:
        wh.close()
    return out


def test_two_runs_write_identical_tables(warehouse_copy: Path, settings: MlSettings):
    _run(warehouse_copy, settings)
    first = _snapshot(warehouse_copy)
    _run(warehouse_copy, settings)
    second = _snapshot(warehouse_copy)
    assert all(first[t] for t in TABLES), {t: len(first[t]) for t in TABLES}
    for table in TABLES:
        assert second[table] == first[table], table
    # one person, one persona; the metric history holds one entry per (as_of, model, metric)
    people = {r[0] for r in first["persona_assignments"]}
    assert len(people) == len(first["persona_assignments"])
    assert len(first["model_metrics"]) == len({r[:3] for r in first["model_metrics"]})


def test_another_seed_still_writes_one_persona_and_score_per_person(
    warehouse_copy: Path, settings: MlSettings
):
    """With another var ml_seed the step still writes one persona per person, and a
    probability in [0, 1] with a decile 1-10 per scored person."""
    seeded = MlSettings(settings.as_of, settings.schema_prefix, {**settings.vars, "ml_seed": 7})
    _run(warehouse_copy, seeded)
    snap = _snapshot(warehouse_copy)
    scores = snap["propensity_scores"]
    assert all(0.0 <= r[1] <= 1.0 and 1 <= r[2] <= 10 for r in scores)
    assert len({r[0] for r in snap["persona_assignments"]}) == len(snap["persona_assignments"])
