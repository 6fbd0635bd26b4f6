"""The custom segment rules as typed objects, and which of them the stream can evaluate.

Reads the same declarations dbt compiles (the meta ``custom_segments`` of the model
custom_segments in segments/custom_segments.yml) and the dbt vars they depend on
(dbt_project.yml). dbt validates the rules at compile time; this module parses the subset
of the grammar the evaluator reproduces and marks everything else batch-only, with the
reason, so a rule is never evaluated approximately (docs/realtime.md, "What is streamable").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SEGMENTS_FILE = Path("segments") / "custom_segments.yml"
PROJECT_FILE = Path("dbt_project.yml")
DEFAULT_MAX_WINDOW_SECONDS = 7 * 86400

# event filter columns the stream reproduces exactly (local-time columns need the session's
# time zone from its geography: batch-only)
STREAM_FILTER_COLUMNS = {
    "event_type",
    "page_type",
    "product_id",
    "product_category",
    "page_url",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "device_type",
    "country",
    "browser",
}
BATCH_ONLY_FILTER_COLUMNS = {"hour_of_day", "day_of_week"}
STREAM_MEASURES = {
    "count",
    "distinct_products",
    "distinct_categories",
    "distinct_days",
    "distinct_sessions",
}
BATCH_ONLY_MEASURES = {"sum_dwell", "max_dwell"}
PER_COLUMNS = {
    "product_id",
    "product_category",
    "page_type",
    "page_url",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "session_id",
}
COMPARISONS = ("more_than", "at_least", "less_than", "at_most", "exactly", "none")
_DURATION = re.compile(r"^([1-9][0-9]*)(m|h|d)$")


class RuleError(ValueError):
    """A segment declaration the evaluator cannot read; the message names file and segment."""


# --- rule objects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """One filter of a ``where``: ``op`` is eq, in, not_in, like, between or a comparison."""

    column: str
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Comparison:
    op: str  # more_than | at_least | less_than | at_most | exactly | none
    number: float

    def holds(self, value: float) -> bool:
        n = self.number
        return {
            "none": value == 0,
            "more_than": value > n,
            "at_least": value >= n,
            "less_than": value < n,
            "at_most": value <= n,
            "exactly": value == n,
        }[self.op]


@dataclass(frozen=True)
class EventsLeaf:
    where: tuple[Filter, ...]
    within_s: int
    measure: str
    per: str | None
    comparison: Comparison


@dataclass(frozen=True)
class Step:
    where: tuple[Filter, ...]
    within_s: int  # 0 for the first step
    window_s: int | None
    same: tuple[str, ...]
    absent: bool


@dataclass(frozen=True)
class SequenceLeaf:
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class ReferenceLeaf:
    key: str
    negate: bool
    custom: bool  # another custom segment of the file (else a built-in key)


@dataclass(frozen=True)
class BatchOnlyLeaf:
    """A condition the stream does not reproduce (column, sessions, dwell, local time)."""

    reason: str


@dataclass(frozen=True)
class Group:
    kind: str  # all | any | not
    children: tuple[Rule, ...]


Rule = Group | EventsLeaf | SequenceLeaf | ReferenceLeaf | BatchOnlyLeaf


@dataclass(frozen=True)
class Segment:
    name: str
    rule: Rule
    streamable: bool
    reason: str | None  # why batch-only
    references: tuple[str, ...]  # custom segments it reads
    batch_references: tuple[str, ...]  # keys it reads from the batch cache


@dataclass(frozen=True)
class RuleSet:
    """Every declared custom segment, in dependency order, and the vars evaluation needs."""

    segments: tuple[Segment, ...]
    session_inactivity_seconds: int
    holdout_percent: float
    max_window_s: int
    durations_s: tuple[int, ...] = field(default=())  # every window / within of streamable rules
    global_holdout_percent: float = 0.0  # var global_holdout_percent; 0 = off

    @property
    def streamable(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.streamable)

    @property
    def retention_s(self) -> int:
        """How far back the evaluator keeps events: the longest look-back of any
        streamable rule (a sequence reaches back its window plus its steps' within), never
        more than the max window setting (a longer rule is batch-only)."""
        return max(self.durations_s, default=0)


# --- parsing -------------------------------------------------------------------------------


def duration_seconds(token: Any, where: str) -> int:
    match = _DURATION.match(str(token).strip()) if not isinstance(token, bool) else None
    if match is None or isinstance(token, (int, float)):
        raise RuleError(f"{where}: '{token}' is not a duration such as 30m, 24h or 7d")
    return int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)]


class _Parser:
    def __init__(self, path: Path, segment: str, custom_names: set[str], max_window_s: int):
        self.path = path
        self.segment = segment
        self.custom_names = custom_names
        self.max_window_s = max_window_s
        self.reasons: list[str] = []
        self.references: list[str] = []
        self.batch_references: list[str] = []
        self.durations: list[int] = []

    def error(self, message: str) -> RuleError:
        return RuleError(f"Custom segment '{self.segment}' in {self.path}: {message}")

    def rule(self, rule: Any) -> Rule:
        if not isinstance(rule, dict) or not rule:
            raise self.error(f"a rule must be a mapping, got {rule!r}")
        if "column" in rule:
            return self.batch_only(f"column condition on '{rule['column']}'")
        kind = next(iter(rule))
        body = rule[kind]
        if kind in ("all", "any"):
            if not isinstance(body, list) or not body:
                raise self.error(f"'{kind}' needs a non-empty list of rules")
            return Group(kind, tuple(self.rule(child) for child in body))
        if kind == "not":
            return Group("not", (self.rule(body),))
        if kind == "events":
            return self.events(body)
        if kind == "sessions":
            return self.batch_only("sessions condition (sessions are built by the batch)")
        if kind == "sequence":
            return self.sequence(body)
        if kind in ("in_segment", "not_in_segment"):
            key = str(body)
            custom = key in self.custom_names
            if custom:
                self.references.append(key)
            else:
                self.batch_references.append(key)
            return ReferenceLeaf(key, kind == "not_in_segment", custom)
        raise self.error(f"unknown rule key '{kind}'")

    def batch_only(self, reason: str) -> BatchOnlyLeaf:
        self.reasons.append(reason)
        return BatchOnlyLeaf(reason)

    def window(self, token: Any, what: str) -> int:
        seconds = duration_seconds(token, f"Custom segment '{self.segment}' in {self.path}: {what}")
        self.durations.append(seconds)
        return seconds

    def filters(self, where: Any) -> tuple[Filter, ...] | None:
        """The filters, or None when one of them is batch-only (reason recorded)."""
        if where is None:
            return ()
        if not isinstance(where, dict):
            raise self.error(f"'where' must be a mapping, got {where!r}")
        out: list[Filter] = []
        for column, value in where.items():
            if column in BATCH_ONLY_FILTER_COLUMNS:
                self.reasons.append(f"local-time filter '{column}'")
                return None
            if column not in STREAM_FILTER_COLUMNS:
                raise self.error(f"unknown event filter column '{column}'")
            if isinstance(value, dict):
                (op, operand), *_ = value.items()
                if op == "not":
                    items = operand if isinstance(operand, list) else [operand]
                    out.append(Filter(column, "not_in", tuple(str(v) for v in items)))
                elif op == "like":
                    out.append(Filter(column, "like", (str(operand),)))
                else:
                    raise self.error(f"filter '{op}' on text column '{column}'")
            elif isinstance(value, list):
                out.append(Filter(column, "in", tuple(str(v) for v in value)))
            else:
                out.append(Filter(column, "in", (str(value),)))
        return tuple(out)

    def events(self, body: dict[str, Any]) -> Rule:
        measure = body.get("measure", "count")
        if measure in BATCH_ONLY_MEASURES:
            return self.batch_only(f"measure '{measure}' (dwell is computed by the batch)")
        if measure not in STREAM_MEASURES:
            raise self.error(f"unknown measure '{measure}'")
        within = self.window(body.get("within"), "window")
        if within > self.max_window_s:
            return self.batch_only(f"window {body['within']} longer than the stream's max window")
        where = self.filters(body.get("where"))
        if where is None:
            return BatchOnlyLeaf(self.reasons[-1])
        per = body.get("per")
        if per is not None and per not in PER_COLUMNS:
            raise self.error(f"unknown 'per' column '{per}'")
        found = [op for op in COMPARISONS if op in body]
        if len(found) != 1:
            raise self.error("an events condition needs exactly one comparison")
        op = found[0]
        number = 0.0 if op == "none" else float(body[op])
        return EventsLeaf(where, within, measure, per, Comparison(op, number))

    def sequence(self, body: dict[str, Any]) -> Rule:
        raw_steps = body.get("steps") if isinstance(body, dict) else None
        if not isinstance(raw_steps, list) or len(raw_steps) < 2:
            raise self.error("a sequence needs 'steps': a list of at least two steps")
        steps: list[Step] = []
        reach = 0
        lookback = 0
        for index, raw in enumerate(raw_steps, start=1):
            where = self.filters(raw.get("where"))
            if where is None:
                return BatchOnlyLeaf(self.reasons[-1])
            within = self.window(raw["within"], f"'within' of step {index}") if index > 1 else 0
            reach += within
            window = raw.get("window")
            window_s = self.window(window, f"'window' of step {index}") if window else None
            if window_s is not None:
                lookback = max(lookback, window_s + reach)
            same = raw.get("same", [])
            same = (same,) if isinstance(same, str) else tuple(same)
            steps.append(Step(where, within, window_s, same, bool(raw.get("absent", False))))
        self.durations.append(lookback)
        if lookback > self.max_window_s:
            return self.batch_only("sequence window longer than the stream's max window")
        return SequenceLeaf(tuple(steps))


def _declared(path: Path) -> list[dict[str, Any]]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(f"{path}: cannot read the custom segments ({exc})") from exc
    for model in (document or {}).get("models", []) or []:
        if model.get("name") == "custom_segments":
            meta = (model.get("config") or {}).get("meta") or model.get("meta") or {}
            declared = meta.get("custom_segments") or []
            if not isinstance(declared, list):
                raise RuleError(f"{path}: custom_segments must be a list of segments")
            return declared
    raise RuleError(f"{path}: no model 'custom_segments' with meta custom_segments")


def _vars(project_dir: Path) -> dict[str, Any]:
    path = project_dir / PROJECT_FILE
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(f"{path}: cannot read the dbt vars ({exc})") from exc
    return document.get("vars") or {}


def load_rules(
    project_dir: Path,
    segments_file: Path | None = None,
    max_window_s: int = DEFAULT_MAX_WINDOW_SECONDS,
    overrides: dict[str, Any] | None = None,
) -> RuleSet:
    """Parses the declared custom segments and classifies each as streamable or batch-only.

    A segment is streamable when every leaf is an events condition, a sequence or a segment
    reference (to a built-in or batch-only key, read from the batch cache, or to another
    streamable custom segment) that the evaluator reproduces exactly."""
    dbt_vars = {**_vars(project_dir), **(overrides or {})}
    path = segments_file or (project_dir / SEGMENTS_FILE)
    declared = _declared(path)
    names = {str(s.get("name")) for s in declared if isinstance(s, dict)}
    parsed: dict[str, tuple[Rule, _Parser]] = {}
    for segment in declared:
        if not isinstance(segment, dict) or "name" not in segment or "rule" not in segment:
            raise RuleError(f"{path}: each segment needs a name and a rule, got {segment!r}")
        parser = _Parser(path, str(segment["name"]), names, max_window_s)
        parsed[parser.segment] = (parser.rule(segment["rule"]), parser)

    # dependency order; a segment is streamable only if the custom segments it reads are
    ordered: list[str] = []
    while len(ordered) < len(parsed):
        ready = [
            n
            for n, (_, p) in parsed.items()
            if n not in ordered and all(r in ordered for r in p.references)
        ]
        if not ready:
            stuck = sorted(set(parsed) - set(ordered))
            raise RuleError(f"{path}: segment reference cycle among {', '.join(stuck)}")
        ordered.extend(ready)
    segments: dict[str, Segment] = {}
    durations: set[int] = set()
    for name in ordered:
        rule, parser = parsed[name]
        reason = parser.reasons[0] if parser.reasons else None
        batch_refs = list(parser.batch_references)
        for ref in parser.references:
            if not segments[ref].streamable:
                batch_refs.append(ref)  # read from the batch cache like a built-in key
        segments[name] = Segment(
            name=name,
            rule=_demote(rule, {r for r in parser.references if not segments[r].streamable}),
            streamable=reason is None,
            reason=reason,
            references=tuple(r for r in parser.references if segments[r].streamable),
            batch_references=tuple(batch_refs),
        )
        if reason is None:
            durations.update(parser.durations)
    return RuleSet(
        segments=tuple(segments[n] for n in ordered),
        session_inactivity_seconds=int(dbt_vars.get("session_inactivity_seconds", 1800)),
        holdout_percent=float(dbt_vars.get("holdout_percent", 10)),
        max_window_s=max_window_s,
        durations_s=tuple(sorted(durations)),
        global_holdout_percent=float(dbt_vars.get("global_holdout_percent", 0) or 0),
    )


def _demote(rule: Rule, batch_custom: set[str]) -> Rule:
    """References to batch-only custom segments read the batch cache (custom=False)."""
    if isinstance(rule, Group):
        return Group(rule.kind, tuple(_demote(c, batch_custom) for c in rule.children))
    if isinstance(rule, ReferenceLeaf) and rule.key in batch_custom:
        return ReferenceLeaf(rule.key, rule.negate, custom=False)
    return rule
