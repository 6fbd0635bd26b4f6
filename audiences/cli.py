"""The `audiences` command: demo data, summaries, reports and syncs."""

from __future__ import annotations

import click

from audiences import __version__
from audiences.explain import explain
from audiences.generator.cli import generate
from audiences.ml.command import ml_command
from audiences.realtime.demo import realtime_demo
from audiences.realtime.evaluator.cli import stream_command
from audiences.realtime.load_command import load_stream
from audiences.realtime.serve import serve
from audiences.realtime.triggers_command import triggers_command
from audiences.report import report
from audiences.segment_diff.command import diff_command
from audiences.summary import summary_command
from audiences.warehouse_copy import load_postgres, load_spark
from reverse_etl.cli import commands as sync_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audiences")
def cli() -> None:
    """Audiences: behavioural segments built with dbt, synced to marketing tools.

    The DuckDB warehouse is the file named by AUDIENCES_DUCKDB_PATH (default
    audiences.duckdb). Run `dbt build` from the project root to build the models.
    """


cli.add_command(generate)
cli.add_command(summary_command)
cli.add_command(report)
cli.add_command(explain)
cli.add_command(ml_command)
cli.add_command(diff_command)
cli.add_command(load_postgres)
cli.add_command(load_spark)
cli.add_command(serve)
cli.add_command(stream_command)
cli.add_command(load_stream)
cli.add_command(triggers_command)
cli.add_command(realtime_demo)
for command in sync_commands:
    cli.add_command(command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
