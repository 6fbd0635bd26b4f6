"""`audiences ml` from the command line: the persona table and the propensity evaluation are
printed; a warehouse without `dbt build` gets an error naming the missing table."""

from __future__ import annotations

from pathlib import Path

import duckdb
from click.testing import CliRunner
from ml_support import AS_OF, REPO

from audiences.cli import cli


def test_prints_personas_and_the_evaluation(warehouse_copy: Path, monkeypatch):
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(warehouse_copy))
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["ml", "--as-of", AS_OF, "--only", "personas"])
    assert result.exit_code == 0, result.output
    assert "persona_top_value" in result.output
    assert "top 10% lifetime value customer" in result.output
    result = CliRunner().invoke(
        cli, ["ml", "--as-of", AS_OF, "--only", "propensity", "--vars", "{propensity_max_iter: 20}"]
    )
    assert result.exit_code == 0, result.output
    assert "propensity_hgb" in result.output and "intent_score" in result.output
    con = duckdb.connect(str(warehouse_copy), read_only=True)
    try:
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'ml'"
            ).fetchall()
        }
    finally:
        con.close()
    assert {"personas", "persona_assignments", "propensity_scores", "model_metrics"} <= tables


def test_an_unbuilt_warehouse_names_the_missing_table(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(tmp_path / "empty.duckdb"))
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["ml", "--as-of", AS_OF, "--only", "personas"])
    assert result.exit_code == 1
    assert "table analytics_core.dim_users not found: run `dbt build`" in result.output


def test_a_bad_as_of_is_a_usage_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(tmp_path / "empty.duckdb"))
    result = CliRunner().invoke(cli, ["ml", "--as-of", "yesterday"])
    assert result.exit_code == 2
    assert "--as-of 'yesterday' is not an ISO timestamp" in result.output
