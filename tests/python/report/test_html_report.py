"""`audiences report --html`: written from a real DuckDB file holding tables shaped like the
measurement marts' contract (docs/report.md), then opened in a real headless Chromium
(Debian `chromium`, installed by scripts/chromium_up.sh): it must render without script or
console errors, draw every chart, and say "not built yet" for each missing mart."""

from __future__ import annotations

import subprocess
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from audiences.report import report
from reverse_etl.state import StateStore
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[3]
SEGMENTS = ["champions", "high_value", "potential_buyer"]
SECTION_IDS = ["sizes", "overlaps", "lift", "kpis", "match", "personas", "propensity"]


def _marts(db: Path) -> None:
    """Contract-shaped marts in schema main_measurement (3 segments, 4 builds / weeks)."""
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA main_measurement")
    s = "main_measurement"
    con.execute(
        f"CREATE TABLE {s}.segment_size_history (built_at TIMESTAMP, segment_key VARCHAR, "
        "members BIGINT, entries BIGINT, exits BIGINT)"
    )
    con.execute(
        f"CREATE TABLE {s}.segment_overlaps (segment_key_a VARCHAR, segment_key_b VARCHAR, "
        "members_a BIGINT, members_b BIGINT, members_both BIGINT, jaccard DOUBLE)"
    )
    con.execute(
        f"CREATE TABLE {s}.segment_lift (segment_key VARCHAR, destination VARCHAR, "
        "window_days INTEGER, metric VARCHAR, treated_members BIGINT, holdout_members BIGINT, "
        "treated_value DOUBLE, holdout_value DOUBLE, absolute_lift DOUBLE, relative_lift DOUBLE, "
        "ci_low DOUBLE, ci_high DOUBLE, p_value DOUBLE, is_too_small_to_tell BOOLEAN)"
    )
    con.execute(
        f"CREATE TABLE {s}.segment_kpis (segment_key VARCHAR, period_start DATE, members BIGINT, "
        "conversion_rate DOUBLE, average_order_value DOUBLE, repeat_rate DOUBLE, "
        "engagement_rate DOUBLE, clv_estimate DOUBLE)"
    )
    for week in range(4):
        built = datetime(2026, 11, 3) + timedelta(days=7 * week)
        for i, seg in enumerate(SEGMENTS):
            con.execute(
                f"INSERT INTO {s}.segment_size_history VALUES (?, ?, ?, ?, ?)",
                (built, seg, 100 * (i + 1) + week, 5, 4),
            )
            con.execute(
                f"INSERT INTO {s}.segment_kpis VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seg,
                    date(2026, 11, 2) + timedelta(days=7 * week),
                    100,
                    0.05,
                    60.0,
                    0.2,
                    0.4,
                    180.0,
                ),
            )
    con.execute(
        f"INSERT INTO {s}.segment_overlaps VALUES ('champions', 'high_value', 100, 200, 60, "
        "0.25), ('high_value', 'potential_buyer', 200, 300, 50, 0.1111)"
    )
    for seg, small in (("champions", True), ("high_value", False)):
        for metric in ("conversion_rate", "revenue_per_member"):
            con.execute(
                f"INSERT INTO {s}.segment_lift VALUES (?, 'all', 14, ?, 900, 100, 0.06, 0.04, "
                "0.02, 0.5, 0.001, 0.039, 0.04, ?)",
                (seg, metric, small),
            )
    con.execute(
        f"INSERT INTO {s}.segment_lift VALUES ('high_value', 'ads', 14, 'conversion_rate', 400, "
        "45, 0.07, 0.03, 0.04, 1.3333, 0.002, 0.078, 0.04, false)"
    )
    con.execute(f"CREATE TABLE {s}.personas (persona VARCHAR, members BIGINT)")
    con.execute(f"INSERT INTO {s}.personas VALUES ('bargain <hunter>', 42)")
    con.close()


def _runs(db: Path) -> None:
    """A finished sync run with its metrics, written by the real state store."""
    wh = DuckDBWarehouse(str(db))
    st = StateStore(wh)
    st.ensure()
    run_id = st.start_run("meta_high_value", "meta", "mirror")
    st.record_metrics(
        run_id,
        "meta_high_value",
        {"audience_size": 242, "dropped_phone": 9, "meta_num_received": 242},
    )
    st.finish_run(run_id, "success", counts={"added": 242})
    wh.close()
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA main_audiences")
    con.execute(
        "CREATE TABLE main_audiences.aud_meta_custom_audience (user_id VARCHAR, email VARCHAR, "
        "phone VARCHAR, first_name VARCHAR, last_name VARCHAR, postal_code VARCHAR, "
        "country VARCHAR)"
    )
    con.execute(
        "INSERT INTO main_audiences.aud_meta_custom_audience VALUES "
        "('u1', 'a@x.com', '+4915112345678', 'Ana', 'Lopez', '10115', 'DE'), "
        "('u2', 'b@x.com', NULL, 'Ben', 'Ode', NULL, 'DE')"
    )
    con.close()


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root: dict[str, str | None] = {}
        self.sections: dict[str, str | None] = {}
        self.not_built = 0

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "html":
            self.root = a
        if tag == "section":
            self.sections[str(a["id"])] = a.get("data-state")
        if a.get("class") == "not-built":
            self.not_built += 1


def _open(chromium: str, path: Path, profile: Path) -> tuple[_Page, str]:
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    page = _Page()
    page.feed(done.stdout)
    return page, done.stderr


def _write(db: Path, out: Path) -> str:
    result = CliRunner().invoke(
        report,
        ["--database", str(db), "--target-path", str(db.parent / "no-target"), "--html", str(out)],
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_the_report_renders_every_section_without_errors(chromium, tmp_path):
    db = tmp_path / "w.duckdb"
    _marts(db)
    _runs(db)
    out = tmp_path / "report.html"
    printed = _write(db, out)
    assert printed == (
        f"HTML report written to {out.resolve()}\nnot built yet: Propensity models\n"
    )
    text = out.read_text()
    assert "bargain &lt;hunter&gt;" in text  # table cells are escaped
    page, stderr = _open(chromium, out, tmp_path / "profile")
    assert page.root.get("data-report-errors") == "0", page.root.get("data-report-last-error")
    assert "Uncaught" not in stderr
    # sizes 1 + overlaps 1 + lift 2 metrics + 5 KPIs + match (last runs, coverage) 2
    assert page.root.get("data-report-plots") == "11"
    assert page.sections == {
        "sizes": "shown",
        "overlaps": "shown",
        "lift": "shown",
        "kpis": "shown",
        "match": "shown",
        "personas": "shown",
        "propensity": "missing",
    }
    assert page.not_built == 1
    assert "dropped_phone" not in text and "phone: 9" in text  # the run's dropped identifiers
    assert "meta_num_received: 242" in text
    # the per-destination lift row is its own line of the conversion chart
    assert '"high_value \\u00b7 ads"' in text or '"high_value · ads"' in text


def test_without_any_mart_every_section_says_not_built_yet(chromium, tmp_path):
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    out = tmp_path / "r.html"
    printed = _write(db, out)
    assert printed.splitlines()[1] == (
        "not built yet: Segment sizes over time; Overlap between segments; Lift per segment "
        "(treated vs holdout, 95 % interval); KPI trends; Match rates per destination; "
        "Personas; Propensity models"
    )
    page, stderr = _open(chromium, out, tmp_path / "profile")
    assert page.root.get("data-report-errors") == "0", page.root.get("data-report-last-error")
    assert "Uncaught" not in stderr
    assert page.root.get("data-report-plots") == "0"
    assert list(page.sections) == SECTION_IDS
    assert set(page.sections.values()) == {"missing"} and page.not_built == 7
    assert "Not built yet: the model segment_lift is missing or empty." in out.read_text()


# --- DuckDB and PostgreSQL give the same report --------------------------------------------------
def _pg_or_skip():
    import os

    from reverse_etl.core.errors import WarehouseError
    from reverse_etl.warehouse.postgres import PostgresWarehouse

    dsn = os.environ.get("AUDIENCES_PG_DSN")
    if dsn is None and not os.environ.get("PGHOST"):
        pytest.skip(
            "no PostgreSQL configured: set AUDIENCES_PG_DSN or PGHOST/PGUSER/PGPASSWORD/PGDATABASE"
        )
    try:
        return PostgresWarehouse(dsn or "")
    except WarehouseError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")


def _portable_marts(wh, schema: str) -> None:
    """The same contract-shaped rows as _marts, in SQL both engines run."""
    wh.execute(f"CREATE SCHEMA {schema}")
    wh.execute(
        f"CREATE TABLE {schema}.segment_size_history (built_at TIMESTAMP, segment_key VARCHAR, "
        "members BIGINT, entries BIGINT, exits BIGINT)"
    )
    wh.execute(
        f"CREATE TABLE {schema}.segment_lift (segment_key VARCHAR, destination VARCHAR, "
        "window_days INTEGER, metric VARCHAR, treated_members BIGINT, holdout_members BIGINT, "
        "treated_value DOUBLE PRECISION, holdout_value DOUBLE PRECISION, "
        "absolute_lift DOUBLE PRECISION, relative_lift DOUBLE PRECISION, "
        "ci_low DOUBLE PRECISION, ci_high DOUBLE PRECISION, p_value DOUBLE PRECISION, "
        "is_too_small_to_tell BOOLEAN)"
    )
    wh.execute(
        f"CREATE TABLE {schema}.aud_meta_custom_audience (user_id VARCHAR, email VARCHAR, "
        "phone VARCHAR, first_name VARCHAR, last_name VARCHAR, postal_code VARCHAR, "
        "country VARCHAR)"
    )
    for week in range(3):
        for i, seg in enumerate(SEGMENTS):
            wh.execute(
                f"INSERT INTO {schema}.segment_size_history VALUES (?, ?, ?, ?, ?)",
                (datetime(2026, 11, 3) + timedelta(days=7 * week), seg, 10 * i + week, 2, 1),
            )
    wh.execute(
        f"INSERT INTO {schema}.segment_lift VALUES ('high_value', 'all', 14, "
        "'conversion_rate', 900, 100, 0.06, 0.04, 0.02, 0.5, 0.001, 0.039, 0.04, false)"
    )
    wh.execute(
        f"INSERT INTO {schema}.aud_meta_custom_audience VALUES "
        "('u1', 'a@x.com', '+4915112345678', 'Ana', 'Lopez', '10115', 'DE'), "
        "('u2', '', NULL, 'Ben', 'Ode', NULL, 'DE')"
    )


def _summary(sections) -> list:
    return [
        (
            s.key,
            s.missing,
            [fig.to_plotly_json()["data"] for fig in s.figures],
            s.tables,
            s.notes,
        )
        for s in sections
    ]


def test_duckdb_and_postgres_give_the_same_report(tmp_path):
    import json
    import uuid

    from audiences.html_report import collect

    schema = f"r_{uuid.uuid4().hex[:10]}"
    manifest = tmp_path / "manifest.json"
    nodes = {
        f"model.audiences.{name}": {"resource_type": "model", "name": name, "schema": schema}
        for name in ("segment_size_history", "segment_lift", "aud_meta_custom_audience")
    }
    manifest.write_text(json.dumps({"nodes": nodes}))
    duck = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    pg = _pg_or_skip()
    try:
        got = []
        for wh in (duck, pg):
            _portable_marts(wh, schema)
            got.append(_summary(collect(wh, manifest)))
        assert got[0] == got[1]
        shown = {key: missing is None for key, missing, *_ in got[0]}
        assert shown == {
            "sizes": True,
            "overlaps": False,
            "lift": True,
            "kpis": False,
            "match": True,
            "personas": False,
            "propensity": False,
        }
        coverage = got[0][4][2][-1]  # the ad mart's coverage: email 1 of 2, phone 1, address 1
        assert [(t["name"], list(t["y"])) for t in coverage] == [
            ("email", [0.5]),
            ("phone", [0.5]),
            ("full address", [0.5]),
        ]
    finally:
        pg.execute(f"DROP SCHEMA {schema} CASCADE")
        pg.close()
        duck.close()
