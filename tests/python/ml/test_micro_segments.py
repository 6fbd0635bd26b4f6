"""Micro-segments: each leaf's rule, written in the segment rule language, selects exactly
its members when evaluated independently in SQL over dim_users and segment_memberships; the
leaves split the parent's members with every feature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from ml_support import open_warehouse
from sklearn.tree import DecisionTreeClassifier

from audiences.ml import micro_segments
from audiences.ml.micro_segments import Condition, leaf_conditions, matches
from audiences.ml.settings import MlSettings

SQL_OPS = {"<=": "<=", ">": ">"}


def _rule_sql(rule: dict) -> tuple[str, list]:
    """The rule as SQL, written from its YAML text: only in_segment and column conditions."""
    where, params = [], []
    for condition in rule["all"]:
        if "in_segment" in condition:
            where.append(
                "person_id in (select person_id from analytics_segments.segment_memberships "
                "where segment_key = ?)"
            )
            params.append(condition["in_segment"])
        else:
            where.append(f"{condition['column']} {SQL_OPS[condition['op']]} ?")
            params.append(condition["value"])
    return "select person_id from analytics_core.dim_users where " + " and ".join(where), params


def test_each_rule_selects_exactly_its_members(warehouse_copy: Path, settings: MlSettings):
    wh = open_warehouse(warehouse_copy)
    try:
        result = micro_segments.run(wh, settings)
        assert len(result.segments) >= 2
        members = {}
        for person, key in zip(result.person_ids, result.keys, strict=True):
            members.setdefault(key, set()).add(person)
        for segment in result.segments:
            rule = yaml.safe_load(segment.rule_text())
            assert rule["all"][0] == {"in_segment": "high_engagement"}
            sql, params = _rule_sql(rule)
            selected = {r[0] for r in wh.query(sql, params)}
            assert selected == members[segment.key], segment.key
            assert segment.size == len(selected) >= settings.var("micro_segment_min_size")
        rates = [s.outcome_rate for s in result.segments]
        assert rates == sorted(rates, reverse=True)
        parent = wh.query(
            "select count(*) from analytics_segments.segment_memberships "
            "where segment_key = 'high_engagement'"
        )[0][0]
    finally:
        wh.close()
    # every parent member with all features is in exactly one micro-segment
    assert all(result.keys) and len(result.person_ids) <= parent


def test_leaf_paths_by_hand():
    # b <= 0.5 is all class 0 (weighted gini 0.222, better than a <= 1.5: 0.333); among
    # b > 0.5, a <= 1.5 is class 0 and a > 1.5 class 1
    x = np.array([[1, 0], [1, 1], [2, 0], [2, 1], [3, 0], [3, 1]], dtype=float)
    y = np.array([0, 0, 0, 1, 0, 1])
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y)
    paths = sorted(
        (tuple(c) for c in leaf_conditions(tree, ["a", "b"]).values()), key=lambda p: str(p)
    )
    assert paths == sorted(
        [
            (Condition("b", "<=", 0.5),),
            (Condition("b", ">", 0.5), Condition("a", "<=", 1.5)),
            (Condition("b", ">", 0.5), Condition("a", ">", 1.5)),
        ],
        key=lambda p: str(p),
    )
    members = matches((Condition("a", ">", 1.5), Condition("b", ">", 0.5)), x, ["a", "b"])
    assert members.tolist() == [False, False, False, True, False, True]
