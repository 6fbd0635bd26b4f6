"""`audiences ml`: fit personas, purchase propensity, micro-segments and recommendations on
the warehouse and write them into its `ml` schema (docs/ml.md). Run it after `dbt build`;
then `dbt build -s source:ml+` brings the results into segment_memberships and the marts."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import click
import yaml

from audiences.ml import drift, micro_segments, personas, propensity, recommendations, tables
from audiences.ml.errors import MlError
from audiences.ml.evaluation import Evaluation
from audiences.ml.settings import MlSettings, load_settings
from reverse_etl.core.errors import ConfigError, WarehouseError
from reverse_etl.warehouse import connect
from reverse_etl.warehouse.base import Warehouse

STEPS = ("personas", "propensity", "micro_segments", "recommendations")


def persona_table(result: personas.PersonaResult) -> str:
    lines = [f"{'persona':<52} {'size':>8} {'share':>7} {'buyers':>7}  top categories"]
    for p in result.personas:
        lines.append(
            f"{p.key:<52} {p.size:>8} {p.share:>7.1%} {p.buyer_share:>7.1%}  {p.top_categories}"
        )
        lines.append(f"    {p.label}; devices {p.top_devices}; channels {p.top_channels}")
    return "\n".join(lines)


def evaluation_table(model: Evaluation, rule: Evaluation) -> str:
    lines = [
        f"held-out window: {model.people} people, {model.positives} buyers",
        f"{'score':<16} {'AUC':>7} {'PR-AUC':>7} {'top-decile lift':>16}",
    ]
    for ev in (model, rule):
        lines.append(f"{ev.model:<16} {ev.auc:>7.3f} {ev.pr_auc:>7.3f} {ev.top_decile_lift:>16.2f}")
    if model.auc > rule.auc:
        lines.append(f"the model beats the intent_score rule (AUC +{model.auc - rule.auc:.3f})")
    else:
        lines.append(
            f"the model does NOT beat the intent_score rule (AUC {model.auc:.3f} <= "
            f"{rule.auc:.3f}): keep using the rule-based segments"
        )
    lines.append("calibration (decile of predicted probability: mean predicted / observed):")
    for b in model.calibration:
        lines.append(
            f"  {b.bin:>2}: {b.mean_predicted:.4f} / {b.observed_rate:.4f} ({b.people} people)"
        )
    return "\n".join(lines)


def run_steps(
    wh: Warehouse,
    settings: MlSettings,
    steps: tuple[str, ...],
    echo: Callable[[str], None] = click.echo,
) -> None:
    schema = settings.ml_schema
    if "personas" in steps:
        started = time.monotonic()
        result = personas.run(wh, settings)
        tables.write_personas(wh, schema, settings.as_of, result)
        echo(f"personas ({time.monotonic() - started:.1f} s):")
        echo(persona_table(result))
    if "propensity" in steps:
        started = time.monotonic()
        scored = propensity.run(wh, settings)
        tables.write_propensity(wh, schema, settings.as_of, scored)
        echo(f"propensity ({time.monotonic() - started:.1f} s):")
        echo(evaluation_table(scored.evaluation, scored.baseline))
    if "micro_segments" in steps:
        started = time.monotonic()
        micro = micro_segments.run(wh, settings)
        tables.write_micro_segments(wh, schema, settings.as_of, micro)
        echo(f"micro-segments ({time.monotonic() - started:.1f} s):")
        echo(micro_segments.table(micro))
    if "recommendations" in steps:
        started = time.monotonic()
        recs = recommendations.run(wh, settings)
        recommendations.write(wh, schema, settings.as_of, recs)
        echo(f"recommendations ({time.monotonic() - started:.1f} s):")
        echo(recommendations.evaluation_table(recs))
    warnings = drift.check(wh, settings)
    for warning in warnings:
        echo(f"WARNING drift since the previous build: {warning}")
    if not warnings:
        echo("drift: no metric moved beyond its threshold since the previous build")


@click.command("ml")
@click.option("--as-of", "as_of", required=True, help="The build's as_of (the dbt var).")
@click.option(
    "--target",
    type=click.Choice(["duckdb", "postgres"]),
    default="duckdb",
    show_default=True,
    help="Warehouse: AUDIENCES_DUCKDB_PATH or AUDIENCES_PG_DSN / PG* variables.",
)
@click.option(
    "--vars", "vars_text", default="", help="YAML dict of vars, like dbt's --vars (ml_seed: 7)."
)
@click.option(
    "--only",
    type=click.Choice(STEPS),
    multiple=True,
    help="Run only these steps (repeatable); default all.",
)
def ml_command(as_of: str, target: str, vars_text: str, only: tuple[str, ...]) -> None:
    """Fit personas, propensity, micro-segments and recommendations into the ml schema."""
    try:
        overrides = yaml.safe_load(vars_text) if vars_text else {}
        if overrides is not None and not isinstance(overrides, dict):
            raise MlError(f"--vars {vars_text!r}: expected a YAML dict such as '{{ml_seed: 7}}'")
        settings = load_settings(as_of, overrides=overrides or {})
        wh = connect(target)
    except (MlError, ConfigError, WarehouseError, yaml.YAMLError) as exc:
        click.echo(f"audiences ml: {exc}", err=True)
        sys.exit(2)
    try:
        run_steps(wh, settings, only or STEPS)
    except (MlError, WarehouseError) as exc:
        click.echo(f"audiences ml: {exc}", err=True)
        sys.exit(1)
    finally:
        wh.close()
