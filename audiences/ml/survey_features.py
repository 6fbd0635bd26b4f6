"""Survey features of personas: the psychographic answers of dim_user_interests (the
optional raw table survey_responses, docs/contracts/foundation-models.md) as 0/1 columns,
one per interest (`interest_<option>`) and one per primary value (`value_<option>`), the
options of the dbt var survey_questions.

Most people never answer: they get 0 (nothing stated). A warehouse without answers (no
dim_user_interests table, or an empty one) gets no survey columns at all, so its personas
are exactly those of the behavioural features alone. Survey columns weigh SURVEY_WEIGHT of
a behavioural column in the clustering (docs/decisions/0015-optional-survey-source.md): a
stated interest shapes a persona without splitting the population into answered / did not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audiences.ml.errors import MlError
from audiences.ml.settings import MlSettings
from audiences.ml.store import fetch
from reverse_etl.warehouse.base import Warehouse

TABLE = "dim_user_interests"
#: the weight of a survey column in the clustering, relative to a behavioural column
SURVEY_WEIGHT = 0.5


@dataclass(frozen=True)
class SurveyFeatures:
    """0/1 survey columns aligned to the person_ids they were loaded for."""

    names: list[str]
    values: np.ndarray  # (people, names) float64, 0 for people without answers


def feature_columns(settings: MlSettings) -> list[tuple[str, str]]:
    """(feature name, SQL giving 1.0 or 0.0 over a dim_user_interests row)."""
    questions = settings.var("survey_questions")
    for question in ("interests", "values"):
        for option in questions.get(question) or []:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", str(option)):
                raise MlError(
                    f"var survey_questions.{question}: option {option!r} must be snake_case "
                    "(lower-case letters, digits, underscores): it names a column"
                )
    columns = [
        (f"interest_{option}", f"case when interest_{option} then 1.0 else 0.0 end")
        for option in questions.get("interests") or []
    ]
    columns += [
        (f"value_{option}", f"case when survey_value_primary = '{option}' then 1.0 else 0.0 end")
        for option in questions.get("values") or []
    ]
    return columns


def load(wh: Warehouse, settings: MlSettings, person_ids: Sequence[str]) -> SurveyFeatures | None:
    """The survey features of `person_ids` (in that order), or None when the warehouse has no
    survey answers (no dim_user_interests table, or no row in it)."""
    core = settings.schema("core")
    if not wh.columns(core, TABLE):
        return None
    columns = feature_columns(settings)
    rows = fetch(
        wh,
        f"select person_id, {', '.join(sql for _, sql in columns)} "
        f"from {wh.quote(core)}.{wh.quote(TABLE)}",
    )
    if not rows:
        return None
    index = {p: i for i, p in enumerate(person_ids)}
    values = np.zeros((len(person_ids), len(columns)), dtype=np.float64)
    for row in rows:
        i = index.get(str(row[0]))
        if i is not None:  # only people of dim_users are clustered
            values[i] = [float(v) for v in row[1:]]
    return SurveyFeatures([name for name, _ in columns], values)
