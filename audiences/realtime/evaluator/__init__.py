"""The streaming evaluator (`audiences stream`): memberships of every streamable custom
segment kept up to date from the event stream, equal to what `dbt build --vars "{as_of: T}"`
computes at the same instant T (docs/realtime.md, "The streaming evaluator")."""

from audiences.realtime.evaluator.engine import Evaluator
from audiences.realtime.evaluator.rules import RuleError, RuleSet, load_rules

__all__ = ["Evaluator", "RuleError", "RuleSet", "load_rules"]
