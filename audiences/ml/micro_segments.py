"""Micro-segments: a shallow decision tree inside one broad segment (var
micro_segment_parent) predicting an outcome (var micro_segment_outcome: a dim_users column,
outcome = value > 0), over dim_users columns (var micro_segment_features). Each leaf becomes
a micro-segment whose rule is written in the segment rule language (docs/segments.md):

    {all: [{in_segment: high_engagement}, {column: sessions_30d, op: '>', value: 4.5}, ...]}

Membership is the rule evaluated on the data (not the tree's prediction), so pasting the rule
into segments/custom_segments.yml gives the same members, and `audiences explain` shows why.
People with a missing value in a feature are in no micro-segment (a rule never matches null).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import yaml
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from audiences.ml.errors import MlError, NotEnoughDataError
from audiences.ml.settings import MlSettings
from audiences.ml.store import fetch, require_tables
from reverse_etl.warehouse.base import Warehouse

DECIMALS = 6


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # '<=' or '>'
    value: float

    def as_rule(self) -> dict[str, object]:
        return {"column": self.column, "op": self.op, "value": self.value}


@dataclass
class MicroSegment:
    key: str
    parent: str
    conditions: tuple[Condition, ...]
    size: int
    outcome_rate: float
    parent_outcome_rate: float

    def rule(self) -> dict[str, object]:
        return {"all": [{"in_segment": self.parent}, *(c.as_rule() for c in self.conditions)]}

    def rule_text(self) -> str:
        return yaml.safe_dump(
            self.rule(), default_flow_style=True, sort_keys=False, width=10**6
        ).strip()


@dataclass
class MicroResult:
    segments: list[MicroSegment]
    person_ids: list[str]
    keys: list[str]


def _check_identifier(kind: str, value: str) -> str:
    if not value.replace("_", "").isalnum():
        raise MlError(f"var {kind}={value!r}: expected a column or segment name")
    return value


def leaf_conditions(
    tree: DecisionTreeClassifier, features: list[str]
) -> dict[int, list[Condition]]:
    """The path of conditions to every leaf (node id -> conditions, root first)."""
    t = tree.tree_
    out: dict[int, list[Condition]] = {}

    def walk(node: int, path: list[Condition]) -> None:
        if t.children_left[node] == -1:
            out[node] = path
            return
        column = features[t.feature[node]]
        value = round(float(t.threshold[node]), DECIMALS)
        walk(t.children_left[node], [*path, Condition(column, "<=", value)])
        walk(t.children_right[node], [*path, Condition(column, ">", value)])

    walk(0, [])
    return out


def matches(
    conditions: tuple[Condition, ...] | list[Condition], x: np.ndarray, features: list[str]
) -> np.ndarray:
    """The rule's members among the rows of ``x`` (float64, the columns ``features``)."""
    mask = np.ones(len(x), dtype=bool)
    for c in conditions:
        col = x[:, features.index(c.column)]
        mask &= col <= c.value if c.op == "<=" else col > c.value
    return mask


def run(wh: Warehouse, settings: MlSettings) -> MicroResult:
    parent = _check_identifier("micro_segment_parent", str(settings.var("micro_segment_parent")))
    outcome = _check_identifier("micro_segment_outcome", str(settings.var("micro_segment_outcome")))
    features = [
        _check_identifier("micro_segment_features", str(f))
        for f in settings.var("micro_segment_features")
    ]
    if outcome in features:
        raise MlError(f"var micro_segment_outcome {outcome!r} is also in micro_segment_features")
    core, segments = settings.schema("core"), settings.schema("segments")
    require_tables(wh, core, ["dim_users"])
    require_tables(wh, segments, ["segment_memberships"])
    q = wh.quote
    cols = ", ".join(f"cast(users.{q(f)} as double precision)" for f in features)
    rows = fetch(
        wh,
        f"select users.person_id, {cols}, cast(users.{q(outcome)} as double precision) "
        f"from {q(core)}.{q('dim_users')} as users "
        f"inner join {q(segments)}.{q('segment_memberships')} as memberships "
        "on users.person_id = memberships.person_id and memberships.segment_key = ?",
        (parent,),
    )
    rows = [r for r in rows if all(v is not None for v in r[1:])]
    rows.sort(key=lambda r: str(r[0]))
    min_leaf = int(settings.var("micro_segment_min_size"))
    if len(rows) < 2 * min_leaf:
        raise NotEnoughDataError(
            f"micro-segments: {len(rows)} members of {parent} with every feature; need at "
            f"least {2 * min_leaf} (var micro_segment_min_size={min_leaf})"
        )
    x = np.round(np.array([r[1:-1] for r in rows], dtype=np.float64), DECIMALS)
    y = (np.array([r[-1] for r in rows], dtype=np.float64) > 0).astype(np.int8)
    tree = DecisionTreeClassifier(
        max_depth=int(settings.var("micro_segment_max_depth")),
        min_samples_leaf=min_leaf,
        random_state=settings.seed,
    )
    with threadpool_limits(1):
        tree.fit(x, y)
    person_ids = [str(r[0]) for r in rows]
    keys = [""] * len(rows)
    drafts = []
    for conditions in leaf_conditions(tree, features).values():
        members = matches(conditions, x, features)
        if members.any():
            drafts.append((float(y[members].mean()), tuple(conditions), members))
    # best outcome rate first; equal rates by their rule text
    drafts.sort(key=lambda d: (-d[0], str([c.as_rule() for c in d[1]])))
    result = []
    for n, (rate, conditions, members) in enumerate(drafts, start=1):
        key = f"micro_{parent}_{n}"
        for i in np.flatnonzero(members):
            keys[i] = key
        result.append(
            MicroSegment(
                key=key,
                parent=parent,
                conditions=conditions,
                size=int(members.sum()),
                outcome_rate=round(rate, DECIMALS),
                parent_outcome_rate=round(float(y.mean()), DECIMALS),
            )
        )
    return MicroResult(result, person_ids, keys)


def table(result: MicroResult) -> str:
    lines = []
    for s in result.segments:
        lines.append(
            f"{s.key}: {s.size} people, outcome {s.outcome_rate:.1%} "
            f"(all of {s.parent}: {s.parent_outcome_rate:.1%})"
        )
        lines.append(f"    rule: {s.rule_text()}")
    return "\n".join(lines)
