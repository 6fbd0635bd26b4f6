"""The `audiences diff` command: build a pull request's segments beside production and show
who enters and leaves each segment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import yaml
from rich.console import Console

from audiences.segment_diff.build import BuildRequest, run_build
from audiences.segment_diff.compare import (
    compare,
    open_warehouse,
    production_as_of,
    relation_exists,
)
from audiences.segment_diff.errors import DiffBuildError, DiffUsageError
from audiences.segment_diff.manifest import MEMBERSHIPS_MODEL, load_manifest, model_relation
from audiences.segment_diff.render import (
    CHANGED,
    NO_DIFFERENCE,
    NOT_AFFECTED,
    DiffReport,
    markdown,
    print_table,
)
from audiences.segment_diff.selection import (
    build_selection,
    changed_vars,
    models_reading_graph,
    models_reading_vars,
)

DEFAULT_SCHEMA = "analytics"  # profiles.yml's default for AUDIENCES_SCHEMA


def _dbt_vars(text: str, production: str | None) -> str:
    """The --vars for dbt: the user's, with as_of defaulting to production's so both sides
    measure every window from the same instant."""
    try:
        parsed = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise DiffUsageError(f"--vars is not a YAML mapping: {exc}") from exc
    if not isinstance(parsed, dict):
        raise DiffUsageError("--vars must be a YAML mapping, e.g. \"{as_of: '2026-11-24'}\".")
    if parsed.get("as_of") is None and production is not None:
        parsed["as_of"] = production
    return json.dumps(parsed, default=str)


def _check_isolated(pr_schema: str, production_schema: str) -> None:
    if production_schema == pr_schema or production_schema.startswith(f"{pr_schema}_"):
        raise DiffUsageError(
            f"--pr-schema {pr_schema!r} is production's schema ({production_schema}): the pull "
            "request's build would overwrite production. Choose another --pr-schema."
        )


def _base_project(option: Path | None, state_dir: Path) -> Path | None:
    if option is not None:
        if not option.is_file():
            raise DiffUsageError(f"--base-project {option} not found.")
        return option
    candidate = state_dir / "dbt_project.yml"
    return candidate if candidate.is_file() else None


@click.command("diff")
@click.option(
    "--state",
    "state_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory with production's manifest.json (the artefact of its dbt build).",
)
@click.option(
    "--target",
    type=click.Choice(["duckdb", "postgres"]),
    default=lambda: os.environ.get("AUDIENCES_TARGET", "duckdb"),
    show_default="AUDIENCES_TARGET or duckdb",
    help="dbt target: the production warehouse the pull request is compared with.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Sample person_ids listed per segment, entering and leaving.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of a table.")
@click.option(
    "--markdown",
    "markdown_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write a Markdown summary to this file (for the pull-request comment).",
)
@click.option(
    "--project-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="The pull request's dbt project.",
)
@click.option(
    "--target-path",
    type=click.Path(path_type=Path, file_okay=False),
    help="dbt target path for the pull request's build [default: <project-dir>/target/diff].",
)
@click.option(
    "--pr-schema",
    help="Target schema of the pull request's build; every model lands in "
    "<pr-schema>_<custom schema> [default: $AUDIENCES_SCHEMA (or analytics) + _pr].",
)
@click.option(
    "--base-project",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Production's dbt_project.yml, to detect changed vars "
    "[default: <state>/dbt_project.yml when present].",
)
@click.option(
    "--vars",
    "dbt_vars",
    default="",
    help="dbt --vars (YAML); as_of defaults to the as_of of production's segment_memberships.",
)
def diff_command(
    state_dir: Path,
    target: str,
    samples: int,
    as_json: bool,
    markdown_file: Path | None,
    project_dir: Path,
    target_path: Path | None,
    pr_schema: str | None,
    base_project: Path | None,
    dbt_vars: str,
) -> None:
    """Show how a pull request changes segment membership, before it is merged.

    Builds the changed segment models (dbt build --select state:modified+ --defer --state
    STATE, narrowed to what segment_memberships needs) into schemas of their own, then
    compares the pull request's segment_memberships with production's in the warehouse:
    members before and after, entering, leaving and sample ids per segment.

    Exit codes: 0 done (also when nothing segment-related changed), 2 bad usage (missing
    artefact or flag), 1 the build failed.
    """
    project_dir = project_dir.resolve()
    if not (project_dir / "dbt_project.yml").is_file():
        raise DiffUsageError(f"{project_dir} is not a dbt project (no dbt_project.yml).")
    state_dir = state_dir.resolve()
    production_manifest = state_dir / "manifest.json"
    manifest = load_manifest(production_manifest)
    production = model_relation(manifest, MEMBERSHIPS_MODEL, production_manifest)
    pr_schema = pr_schema or f"{os.environ.get('AUDIENCES_SCHEMA') or DEFAULT_SCHEMA}_pr"
    _check_isolated(pr_schema, production.schema)
    target_path = (target_path or project_dir / "target" / "diff").resolve()

    notes: list[str] = []
    base = _base_project(base_project, state_dir)
    project_name = manifest.get("metadata", {}).get("project_name") or "audiences"
    if base is None:
        notes.append(
            "production's dbt_project.yml not given (--base-project): changed vars are not "
            "detected, only changed models, seeds and segment files."
        )
        var_names: list[str] = []
    else:
        var_names = changed_vars(base, project_dir / "dbt_project.yml", project_name)

    with open_warehouse(target) as warehouse:
        if not relation_exists(warehouse, production.relation_name):
            raise DiffUsageError(
                f"production's {MEMBERSHIPS_MODEL} ({production.relation_name}, from "
                f"{production_manifest}) is not in the {target} warehouse: build production "
                "first or point AUDIENCES_DUCKDB_PATH / PGDATABASE at it."
            )
        as_of = production_as_of(warehouse, production.relation_name)

    selection = build_selection(
        models_reading_vars(manifest, var_names), models_reading_graph(manifest)
    )
    outcome = run_build(
        BuildRequest(
            project_dir=project_dir,
            state_dir=state_dir,
            target=target,
            target_path=target_path,
            pr_schema=pr_schema,
            selection=selection,
            dbt_vars=_dbt_vars(dbt_vars, as_of),
        )
    )
    report = DiffReport(
        status=NOT_AFFECTED,
        message="No segment-related change: nothing segment_memberships depends on was modified.",
        production_relation=production.relation_name,
        as_of=as_of,
        selection=selection,
        changed_vars=var_names,
        models_built=outcome.nodes_built,
        notes=notes,
    )
    if outcome.built_memberships:
        pull_request = model_relation(
            load_manifest(target_path / "manifest.json"),
            MEMBERSHIPS_MODEL,
            target_path / "manifest.json",
        )
        if pull_request.relation_name == production.relation_name:
            raise DiffBuildError(
                f"the pull request's build wrote {pull_request.relation_name}, production's "
                "relation: check generate_schema_name and --pr-schema."
            )
        with open_warehouse(target) as warehouse:
            report.segments = compare(
                warehouse, production.relation_name, pull_request.relation_name, samples
            )
        report.pull_request_relation = pull_request.relation_name
        moved = [s for s in report.segments if s.status != "unchanged"]
        report.status = CHANGED if moved else NO_DIFFERENCE
        report.message = (
            f"{len(moved)} segment(s) change membership."
            if moved
            else "Segment models changed, but no segment gains or loses a member."
        )

    if markdown_file is not None:
        markdown_file.write_text(markdown(report))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, default=str))
    else:
        print_table(report, Console())
