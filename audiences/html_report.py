"""`audiences report --html PATH`: one static HTML file (no server, Plotly inlined) that shows
whether segments work: sizes over time, overlaps, lift with intervals, KPI trends, match rates
per destination, and persona / propensity results once those tables exist (docs/report.md).

Every section reads its own relations through the warehouse layer (DuckDB or PostgreSQL);
a relation that is missing or empty gives that section a "not built yet" note instead of a
chart, so the report works on any build. Only aggregates are read: the measurement marts are
small, and the ad marts are counted in SQL.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reverse_etl.core.errors import WarehouseError
from reverse_etl.warehouse.base import Warehouse

#: at most this many segments in one chart (the largest), so the charts stay readable
MAX_SEGMENTS = 12
#: rows shown of a persona / propensity table
MAX_TABLE_ROWS = 50
LIFT_METRICS = (
    "conversion_rate",
    "revenue_per_member",
    "orders_per_member",
    "sessions_per_member",
    "email_click_rate",
)
KPIS = (
    ("conversion_rate", "conversion rate"),
    ("average_order_value", "average order value"),
    ("repeat_rate", "repeat rate"),
    ("engagement_rate", "engagement rate"),
    ("clv_estimate", "customer lifetime value (estimate)"),
)
#: ad marts whose identifier coverage the match-rate section counts
AD_MARTS = ("aud_meta_custom_audience", "aud_google_customer_match")
SECTIONS = (
    ("sizes", "Segment sizes over time"),
    ("overlaps", "Overlap between segments"),
    ("lift", "Lift per segment (treated vs holdout, 95 % interval)"),
    ("kpis", "KPI trends"),
    ("match", "Match rates per destination"),
    ("personas", "Personas"),
    ("propensity", "Propensity models"),
)


@dataclass
class Section:
    key: str
    title: str
    figures: list[Any] = field(default_factory=list)  # plotly Figures
    tables: list[str] = field(default_factory=list)  # ready HTML
    notes: list[str] = field(default_factory=list)  # plain text
    missing: str | None = None  # "not built yet" text when there is nothing to show


class Relations:
    """Finds a model's relation: the schema dbt's manifest names, else any schema holding a
    table of that name (information_schema works on DuckDB and PostgreSQL alike)."""

    def __init__(self, wh: Warehouse, manifest_path: Path | None):
        self.wh = wh
        self.schemas: dict[str, str] = {}
        self.located: dict[str, tuple[str, str]] = {}
        if manifest_path is not None and manifest_path.exists():
            nodes = json.loads(manifest_path.read_text()).get("nodes", {})
            for node in nodes.values():
                if node.get("resource_type") in ("model", "seed", "snapshot"):
                    self.schemas[node.get("alias") or node["name"]] = node["schema"]

    def find(self, name: str) -> str | None:
        rows = self.wh.query(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = ? "
            "ORDER BY table_schema",
            (name,),
        )
        schemas = [r[0] for r in rows]
        if not schemas:
            return None
        schema = self.schemas.get(name)
        chosen = schema if schema in schemas else schemas[0]
        self.located[name] = (chosen, name)
        q = self.wh.quote
        return f"{q(chosen)}.{q(name)}"

    def rows(self, name: str, sql: str) -> list[tuple[Any, ...]] | None:
        """``sql`` with ``{rel}`` replaced by the relation, or None when it does not exist."""
        rel = self.find(name)
        if rel is None:
            return None
        return [tuple(r) for r in self.wh.query(sql.format(rel=rel))]


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _layout(fig: Any, title: str, height: int = 420) -> Any:
    # explicit colours instead of a named template: assigning a template deep-copies it into
    # every figure, which cost more than all the data of the report
    grid = {"gridcolor": "#e5e5e5", "zerolinecolor": "#cccccc"}
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
        paper_bgcolor="white",
        plot_bgcolor="white",
        xaxis=grid,
        yaxis=grid,
    )
    return fig


def _not_built(model: str) -> str:
    return (
        f"Not built yet: the model {model} is missing or empty. Run `dbt build` (or build the "
        "measurement models) and write the report again."
    )


def _largest(values: dict[str, float], n: int = MAX_SEGMENTS) -> list[str]:
    return [k for k, _ in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


# --- sections ---------------------------------------------------------------------------------
def sizes_section(rel: Relations) -> Section:
    s = Section("sizes", SECTIONS[0][1])
    rows = rel.rows(
        "segment_size_history",
        "SELECT built_at, segment_key, members, entries, exits FROM {rel} "
        "ORDER BY built_at, segment_key",
    )
    if not rows:
        s.missing = _not_built("segment_size_history")
        return s
    latest = max(r[0] for r in rows)
    keys = _largest({r[1]: float(r[2]) for r in rows if r[0] == latest})
    go = _go()
    fig = go.Figure()
    for key in keys:
        mine = [r for r in rows if r[1] == key]
        fig.add_trace(
            go.Scatter(
                x=[r[0] for r in mine],
                y=[int(r[2]) for r in mine],
                mode="lines+markers",
                name=key,
                customdata=[[int(r[3] or 0), int(r[4] or 0)] for r in mine],
                hovertemplate="%{x}<br>%{y} members<br>+%{customdata[0]} entries, "
                "-%{customdata[1]} exits<extra>" + key + "</extra>",
            )
        )
    _layout(fig, "Members per build").update_yaxes(title="members", rangemode="tozero")
    s.figures.append(fig)
    total = len({r[1] for r in rows})
    if total > len(keys):
        s.notes.append(f"The {len(keys)} largest of {total} segments at the latest build.")
    return s


def overlaps_section(rel: Relations) -> Section:
    s = Section("overlaps", SECTIONS[1][1])
    rows = rel.rows(
        "segment_overlaps",
        "SELECT segment_key_a, segment_key_b, members_a, members_b, members_both, jaccard "
        "FROM {rel}",
    )
    if not rows:
        s.missing = _not_built("segment_overlaps")
        return s
    size: dict[str, float] = {}
    for a, b, ma, mb, _, _ in rows:
        size[a], size[b] = float(ma), float(mb)
    keys = sorted(_largest(size))
    idx = {k: i for i, k in enumerate(keys)}
    z = [[1.0 if i == j else 0.0 for j in range(len(keys))] for i in range(len(keys))]
    both = [[0 for _ in keys] for _ in keys]
    for a, b, _, _, n, jac in rows:
        if a in idx and b in idx:
            i, j = idx[a], idx[b]
            z[i][j] = z[j][i] = float(jac or 0.0)
            both[i][j] = both[j][i] = int(n)
    go = _go()
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=keys,
            y=keys,
            customdata=both,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate="%{y} & %{x}<br>Jaccard %{z:.2f}<br>%{customdata} in both<extra></extra>",
        )
    )
    s.figures.append(_layout(fig, "Jaccard index (people in both / people in either)", 560))
    return s


def lift_section(rel: Relations) -> Section:
    s = Section("lift", SECTIONS[2][1])
    rows = rel.rows(
        "segment_lift",
        "SELECT segment_key, window_days, metric, treated_members, holdout_members, "
        "treated_value, holdout_value, absolute_lift, relative_lift, ci_low, ci_high, p_value, "
        "is_too_small_to_tell, destination FROM {rel} "
        "ORDER BY metric, segment_key, window_days, destination = 'all' DESC, destination",
    )
    if not rows:
        s.missing = _not_built("segment_lift")
        return s
    go = _go()
    for metric in [m for m in LIFT_METRICS if any(r[2] == m for r in rows)] + sorted(
        {r[2] for r in rows} - set(LIFT_METRICS)
    ):
        mine = [r for r in rows if r[2] == metric]
        windows = {r[1] for r in mine}
        labels = [
            (r[0] if len(windows) == 1 else f"{r[0]} ({r[1]} d)")
            + ("" if r[13] == "all" else f" · {r[13]}")
            for r in mine
        ]
        fig = go.Figure()
        for small, name, color in (
            (False, "measured", "#1f77b4"),
            (True, "too small to tell", "#aaaaaa"),
        ):
            part = [(lab, r) for lab, r in zip(labels, mine, strict=True) if bool(r[12]) == small]
            if not part:
                continue
            lift = [float(r[7] or 0.0) for _, r in part]
            fig.add_trace(
                go.Scatter(
                    x=lift,
                    y=[lab for lab, _ in part],
                    mode="markers",
                    name=name,
                    marker={"color": color, "size": 9},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [
                            float(r[10] or 0.0) - v for (_, r), v in zip(part, lift, strict=True)
                        ],
                        "arrayminus": [
                            v - float(r[9] or 0.0) for (_, r), v in zip(part, lift, strict=True)
                        ],
                    },
                    customdata=[[int(r[3]), int(r[4]), r[5], r[6], r[11]] for _, r in part],
                    hovertemplate="%{y}: lift %{x:.4g}<br>treated %{customdata[0]} "
                    "(%{customdata[2]:.4g}) vs holdout %{customdata[1]} (%{customdata[3]:.4g})"
                    "<br>p = %{customdata[4]:.3g}<extra></extra>",
                )
            )
        fig.add_vline(x=0, line_dash="dot", line_color="#666")
        _layout(fig, f"{metric}: absolute lift, treated - holdout", 120 + 28 * len(mine))
        s.figures.append(fig)
    s.notes.append(
        "Each segment's first row compares all its members; the rows marked · ads and "
        "· email compare only the members an ad platform or an email tool can receive "
        "(docs/measurement.md)."
    )
    small = sum(1 for r in rows if r[12])
    if small:
        s.notes.append(
            f"{small} of {len(rows)} results are flagged too small to tell (grey): the holdout "
            "is too small for the interval to mean anything yet."
        )
    return s


def kpis_section(rel: Relations) -> Section:
    s = Section("kpis", SECTIONS[3][1])
    cols = ", ".join(k for k, _ in KPIS)
    rows = rel.rows(
        "segment_kpis",
        f"SELECT segment_key, period_start, members, {cols} FROM {{rel}} "
        "ORDER BY segment_key, period_start",
    )
    if not rows:
        s.missing = _not_built("segment_kpis")
        return s
    latest = max(r[1] for r in rows)
    keys = _largest({r[0]: float(r[2] or 0) for r in rows if r[1] == latest})
    go = _go()
    for i, (_, label) in enumerate(KPIS):
        fig = go.Figure()
        for key in keys:
            mine = [r for r in rows if r[0] == key]
            fig.add_trace(
                go.Scatter(
                    x=[r[1] for r in mine],
                    y=[None if r[3 + i] is None else float(r[3 + i]) for r in mine],
                    mode="lines",
                    name=key,
                )
            )
        s.figures.append(_layout(fig, f"{label} per week", 360))
    return s


def _latest_runs(wh: Warehouse) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in wh.query(
            "SELECT r.sync_name, r.destination, r.status, r.started_at, r.added, r.changed, "
            "r.unchanged, r.rejected, r.run_id FROM reverse_etl.runs r "
            "WHERE r.status IN ('success', 'partial') AND r.started_at = ("
            "SELECT max(x.started_at) FROM reverse_etl.runs x WHERE x.sync_name = r.sync_name "
            "AND x.status IN ('success', 'partial')) ORDER BY r.sync_name"
        )
    ]


def match_section(rel: Relations) -> Section:
    s = Section("match", SECTIONS[4][1])
    go = _go()
    wh = rel.wh
    runs: list[tuple[Any, ...]] = []
    if wh.columns("reverse_etl", "runs") and wh.columns("reverse_etl", "run_metrics"):
        runs = _latest_runs(wh)
    if runs:
        ids = [r[8] for r in runs]
        marks = ", ".join("?" for _ in ids)
        metrics: dict[str, dict[str, int]] = {}
        for run_id, metric, value in wh.query(
            f"SELECT run_id, metric, value FROM reverse_etl.run_metrics WHERE run_id IN ({marks})",
            ids,
        ):
            metrics.setdefault(run_id, {})[metric] = int(value)
        head = (
            "sync", "destination", "last run", "audience", "in the destination", "rejected",
            "identifiers dropped (malformed)", "platform reported",
        )  # fmt: skip
        body = []
        names, held, rejected, dropped = [], [], [], []
        for name, dest, status, started, added, changed, unchanged, rej, run_id in runs:
            m = metrics.get(run_id, {})
            drops = {
                k.removeprefix("dropped_"): v for k, v in m.items() if k.startswith("dropped_")
            }
            own = {
                k: v for k, v in m.items() if k != "audience_size" and not k.startswith("dropped_")
            }
            in_dest = int(added) + int(changed) + int(unchanged)
            body.append(
                (
                    name,
                    dest,
                    f"{started:%Y-%m-%d %H:%M} ({status})",
                    str(m.get("audience_size", "")),
                    str(in_dest),
                    str(rej),
                    ", ".join(f"{k}: {v}" for k, v in sorted(drops.items())) or "0",
                    ", ".join(f"{k}: {v}" for k, v in sorted(own.items())) or "-",
                )
            )
            names.append(name)
            held.append(in_dest)
            rejected.append(int(rej))
            dropped.append(sum(drops.values()))
        s.tables.append(_table(head, body))
        fig = go.Figure(
            [
                go.Bar(name="in the destination", x=names, y=held),
                go.Bar(name="rejected", x=names, y=rejected),
                go.Bar(name="sent without a malformed identifier", x=names, y=dropped),
            ]
        )
        s.figures.append(_layout(fig.update_layout(barmode="group"), "Last run per sync"))
    coverage = []
    for mart in AD_MARTS:
        got = rel.rows(
            mart,
            "SELECT count(*), count(nullif(email, '')), count(nullif(phone, '')), "
            "count(CASE WHEN first_name <> '' AND last_name <> '' AND postal_code <> '' "
            "AND country <> '' THEN 1 END) FROM {rel}",
        )
        if got and int(got[0][0]):
            total, email, phone, address = (int(v) for v in got[0])
            coverage.append((mart, total, email / total, phone / total, address / total))
    if coverage:
        fig = go.Figure(
            [
                go.Bar(name=kind, x=[c[0] for c in coverage], y=[c[i] for c in coverage])
                for i, kind in ((2, "email"), (3, "phone"), (4, "full address"))
            ]
        )
        fig.update_yaxes(tickformat=".0%", range=[0, 1])
        s.figures.append(
            _layout(fig.update_layout(barmode="group"), "Identifier coverage of the ad marts")
        )
        s.notes.append(
            "Coverage is the share of audience rows carrying each identifier; validity after "
            "normalisation and the expected match keys per sync are in `audiences plan`."
        )
    if not runs and not coverage:
        s.missing = (
            "Not built yet: no sync has run (reverse_etl.runs) and the ad marts "
            f"({', '.join(AD_MARTS)}) are missing or empty."
        )
    return s


def _table(head: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    trs = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>" for row in body
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _generic_section(rel: Relations, key: str, model: str) -> Section:
    """A table the report does not know the columns of: its first rows, as a table."""
    s = Section(key, dict(SECTIONS)[key])
    found = rel.find(model)
    if found is None:
        s.missing = _not_built(model)
        return s
    cols = list(rel.wh.columns(*rel.located[model]))
    rows = [tuple(r) for r in rel.wh.query(f"SELECT * FROM {found} LIMIT {MAX_TABLE_ROWS + 1}")]
    if not rows:
        s.missing = _not_built(model)
        return s
    s.tables.append(_table(cols, rows[:MAX_TABLE_ROWS]))
    if len(rows) > MAX_TABLE_ROWS:
        s.notes.append(f"The first {MAX_TABLE_ROWS} rows of {model}.")
    return s


def personas_section(rel: Relations) -> Section:
    return _generic_section(rel, "personas", "personas")


#: the held-out evaluation figures of `audiences ml` shown side by side (ml.model_metrics)
EVALUATION_METRICS = ("people", "positives", "auc", "pr_auc", "top_decile_lift")


def propensity_section(rel: Relations) -> Section:
    """The latest `audiences ml` evaluation (ml.model_metrics): the propensity model next to
    the hand-weighted intent_score on the same held-out window, the recommender next to the
    most-popular baseline, the calibration curve and the drift since the previous build."""
    s = Section("propensity", dict(SECTIONS)["propensity"])
    metrics = rel.rows(
        "model_metrics",
        "SELECT as_of, model, metric, value FROM {rel} "
        "WHERE as_of = (SELECT max(as_of) FROM {rel}) ORDER BY model, metric",
    )
    if not metrics:
        s.missing = _not_built("ml.model_metrics (the `audiences ml` step)")
        return s
    as_of = metrics[0][0]
    found = {(str(m), str(k)): float(v) for _a, m, k, v in metrics}
    scored = [m for m in ("propensity_hgb", "intent_score") if (m, "auc") in found]
    if scored:
        s.tables.append(
            _table(
                ["score", *EVALUATION_METRICS],
                [[m, *(found.get((m, k)) for k in EVALUATION_METRICS)] for m in scored],
            )
        )
        if len(scored) == 2:
            gain = found[("propensity_hgb", "auc")] - found[("intent_score", "auc")]
            verdict = "beats" if gain > 0 else "does NOT beat"
            s.notes.append(
                f"On the held-out window of the build of {as_of}, the propensity model "
                f"{verdict} the intent_score rule (AUC {gain:+.3f})."
            )
    for model in sorted({m for m, k in found if k == "precision_at_n"}):
        s.tables.append(
            _table(
                ["recommender", "precision@N", "recall@N", "N"],
                [
                    [model, found.get((model, "precision_at_n")),
                     found.get((model, "recall_at_n")), found.get((model, "n"))],
                    ["most popular (baseline)", found.get((model, "popular_precision_at_n")),
                     found.get((model, "popular_recall_at_n")), found.get((model, "n"))],
                ],
            )
        )  # fmt: skip
    curve = rel.rows(
        "propensity_calibration",
        "SELECT bin, mean_predicted, observed_rate FROM {rel} "
        "WHERE as_of = (SELECT max(as_of) FROM {rel}) AND model = 'propensity_hgb' ORDER BY bin",
    )
    if curve:
        go = _go()
        fig = go.Figure()
        top = max(max(float(r[1]), float(r[2])) for r in curve) or 1.0
        fig.add_trace(
            go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfect calibration",
                       line={"dash": "dot", "color": "#999999"})
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=[float(r[1]) for r in curve],
                y=[float(r[2]) for r in curve],
                mode="lines+markers",
                name="propensity_hgb",
                text=[f"decile {r[0]}" for r in curve],
            )
        )
        fig.update_xaxes(title="mean predicted probability")
        fig.update_yaxes(title="observed purchase rate")
        s.figures.append(_layout(fig, "Calibration of the 7-day purchase probability"))
    s.notes += _ml_drift(rel, as_of, found)
    return s


def _ml_drift(rel: Relations, latest: Any, current: dict[tuple[str, str], float]) -> list[str]:
    """The drift warnings of `audiences ml` (its var thresholds) for the latest build, whose
    metrics are ``current``, against the build before it."""
    from audiences.ml.drift import compare
    from audiences.ml.settings import load_settings

    earlier = rel.rows(
        "model_metrics",
        "SELECT model, metric, value, as_of FROM {rel} "
        "WHERE as_of = (SELECT max(as_of) FROM {rel} WHERE as_of < "
        f"CAST('{latest}' AS TIMESTAMP))",
    )
    if not earlier:
        return []
    previous_as_of = earlier[0][3]
    previous = {(str(m), str(k)): float(v) for m, k, v, _a in earlier}
    warnings = compare(previous, current, load_settings(str(latest)))
    if not warnings:
        return [
            f"No model metric moved beyond its drift threshold since the build of {previous_as_of}."
        ]
    return [f"Drift since the build of {previous_as_of}: {w}" for w in warnings]


BUILDERS: tuple[Callable[[Relations], Section], ...] = (
    sizes_section,
    overlaps_section,
    lift_section,
    kpis_section,
    match_section,
    personas_section,
    propensity_section,
)


def collect(wh: Warehouse, manifest_path: Path | None) -> list[Section]:
    rel = Relations(wh, manifest_path)
    out = []
    for build in BUILDERS:
        try:
            out.append(build(rel))
        except WarehouseError as exc:  # a relation not matching the contract
            key = build.__name__.removesuffix("_section")
            s = Section(key, dict(SECTIONS)[key])
            s.missing = f"Could not be read: {exc}"
            out.append(s)
    return out


# --- HTML -------------------------------------------------------------------------------------
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:1rem 2rem;color:#222}h1{margin-bottom:.2rem}nav a{margin-right:1rem}
section{border-top:1px solid #ddd;margin-top:1.5rem;padding-top:.5rem}
.not-built{background:#fff6e0;border-left:4px solid #e0a800;padding:.6rem 1rem}
.note{color:#555}table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}th{background:#f4f4f4}
"""
# Records script errors and console.error calls on <html data-report-errors>, and counts the
# charts Plotly drew on <html data-report-plots>: a headless browser can read both.
_WATCH = """
(function(){var d=document.documentElement,n=0;function bad(m){n+=1;d.setAttribute(
'data-report-errors',String(n));d.setAttribute('data-report-last-error',String(m).slice(0,300));}
window.addEventListener('error',function(e){bad(e.message||'error');});
window.addEventListener('unhandledrejection',function(e){bad(e.reason||'rejection');});
var ce=console.error;console.error=function(){bad(Array.prototype.join.call(arguments,' '));
return ce.apply(console,arguments);};d.setAttribute('data-report-errors','0');})();
"""
_COUNT = """
window.addEventListener('load',function(){var n=0;document.querySelectorAll('.js-plotly-plot')
.forEach(function(p){if(p.querySelector('.main-svg')){n+=1;}});
document.documentElement.setAttribute('data-report-plots',String(n));});
"""


def render_html(sections: list[Section], title: str, generated_at: datetime) -> str:
    from plotly.offline import get_plotlyjs

    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        f"<script>{_WATCH}</script>",
        f"<script>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">Written {generated_at:%Y-%m-%d %H:%M} UTC by `audiences report '
        "--html`; static file, no server.</p>",
        "<nav>"
        + "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
        + "</nav>",
    ]
    n = 0
    for s in sections:
        parts.append(f'<section id="{s.key}" data-state="{"missing" if s.missing else "shown"}">')
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.missing:
            parts.append(f'<p class="not-built">{html.escape(s.missing)}</p>')
        for t in s.tables:
            parts.append(t)
        for fig in s.figures:
            n += 1
            parts.append(
                fig.to_html(
                    full_html=False,
                    include_plotlyjs=False,
                    div_id=f"fig-{s.key}-{n}",
                    config={"displaylogo": False, "responsive": True},
                )
            )
        for note in s.notes:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
        parts.append("</section>")
    parts.append(f"<script>{_COUNT}</script>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    wh: Warehouse, path: Path, manifest_path: Path | None, title: str = "Audiences report"
) -> list[Section]:
    """Write the HTML report to ``path``; returns its sections (for the caller's summary)."""
    sections = collect(wh, manifest_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(sections, title, datetime.now(UTC)), encoding="utf-8")
    return sections
