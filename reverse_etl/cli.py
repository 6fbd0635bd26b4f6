"""Click commands `sync`, `plan`, `status` and the `sandbox` group.

The lead registers them into the `audiences` group (audiences/cli.py). Exit codes:
0 success, 1 failure, 3 partial (some rows rejected), 4 refused (dbt tests failed or the
safety brake fired; nothing was sent). Credentials come only from environment variables.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from reverse_etl import report, settings
from reverse_etl import sandbox as sandbox_proc
from reverse_etl.config import Project, load_project
from reverse_etl.core.errors import ReverseEtlError
from reverse_etl.engine import SyncEngine, SyncResult
from reverse_etl.settings import redact
from reverse_etl.state import StateStore
from reverse_etl.warehouse import connect

TARGET_ENV = "AUDIENCES_TARGET"

config_option = click.option(
    "--config",
    "config_path",
    default="syncs.yml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="syncs.yml to read",
)
target_option = click.option(
    "--target",
    type=click.Choice(["duckdb", "postgres"]),
    default=None,
    help="warehouse (default: syncs.yml 'target', $AUDIENCES_TARGET, duckdb)",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="machine-readable output on stdout"
)
ignore_option = click.option(
    "--ignore-tests", is_flag=True, help="sync even if the model's last dbt build failed a test"
)


def _console(stderr: bool = False) -> Console:
    """Rich console; wide enough for the tables when output is not a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 150)


def _fail(message: str, as_json: bool, code: int = report.EXIT_FAILED) -> None:
    message = redact(message)
    if as_json:
        click.echo(report.dumps({"error": message}))
    else:
        _console(stderr=True).print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(code)


def _open(config_path: str, target: str | None):
    project = load_project(config_path)
    tgt = target or settings.load().target or project.file.target
    return project, connect(tgt)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


@click.command("sync")
@click.argument("names", nargs=-1)
@config_option
@target_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="show what would be sent: the gate, the safety brake and the platform's own "
    "validation (Google validateOnly) run; nothing else is sent",
)
@click.option(
    "--new-account",
    is_flag=True,
    help="the sync now points at another destination account on purpose: forget the state "
    "of the previous account and send every row to the new one",
)
@click.option(
    "--full-resync",
    is_flag=True,
    help="re-send every row, ignoring fingerprints (a Meta sync with options.upload: replace "
    "swaps the whole audience in one replace session)",
)
@ignore_option
@json_option
@click.option("-v", "--verbose", is_flag=True, help="log retries and throttling")
def sync(
    names, config_path, target, dry_run, new_account, full_resync, ignore_tests, as_json, verbose
):
    """Sync audience models to their destinations (all syncs, or NAMES)."""
    _setup_logging(verbose)
    try:
        project, wh = _open(config_path, target)
        selected = project.select(names)
    except ReverseEtlError as exc:
        _fail(str(exc), as_json)
    console = _console(stderr=True)
    results: list[SyncResult] = []
    try:
        if dry_run:
            engine = SyncEngine(project, wh)
            for s in selected:
                res = engine.run(
                    s, dry_run=True, full_resync=full_resync, ignore_tests=ignore_tests
                )
                results.append(res)
                if res.plan is not None and not as_json:
                    report.print_plan(_console(), res.plan)
        else:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                disable=as_json,
                transient=True,
            ) as prog:
                tasks: dict[str, int] = {}

                def on_progress(name: str, done: int, total: int) -> None:
                    if name not in tasks:
                        tasks[name] = prog.add_task(name, total=total)
                    prog.update(tasks[name], completed=done, total=total)

                engine = SyncEngine(project, wh, on_progress=on_progress)
                for s in selected:
                    results.append(
                        engine.run(
                            s,
                            full_resync=full_resync,
                            ignore_tests=ignore_tests,
                            new_account=new_account,
                        )
                    )
    finally:
        wh.close()
    if as_json:
        click.echo(report.dumps({"results": [r.as_dict() for r in results]}))
    else:
        report.print_results(_console(), results)
    sys.exit(report.exit_code(results))


@click.command("plan")
@click.argument("names", nargs=-1)
@config_option
@target_option
@click.option("--full-resync", is_flag=True, help="plan a full re-send")
@click.option("--samples", default=5, show_default=True, help="sample rows per action")
@click.option(
    "--match-rates/--no-match-rates",
    default=True,
    show_default=True,
    help="normalise every member's identifiers to show coverage, validity and expected match "
    "keys (docs/match-rates.md); reads the whole model",
)
@ignore_option
@json_option
def plan(names, config_path, target, full_resync, samples, match_rates, ignore_tests, as_json):
    """Show what a sync would send: counts and sample rows per action. Sends nothing."""
    try:
        project, wh = _open(config_path, target)
        selected = project.select(names)
    except ReverseEtlError as exc:
        _fail(str(exc), as_json)
    plans, errors = [], []
    try:
        engine = SyncEngine(project, wh)
        for s in selected:
            try:
                plans.append(
                    engine.plan(
                        s,
                        ignore_tests=ignore_tests,
                        full_resync=full_resync,
                        samples=samples,
                        match=match_rates,
                    )
                )
            except ReverseEtlError as exc:
                errors.append((s.name, redact(str(exc)), exc.exit_code))
    finally:
        wh.close()
    if as_json:
        click.echo(
            report.dumps(
                {
                    "plans": [report.plan_dict(p) for p in plans],
                    "errors": [{"sync": n, "error": e} for n, e, _ in errors],
                }
            )
        )
    else:
        console = _console()
        for p in plans:
            report.print_plan(console, p)
        for n, e, _ in errors:
            console.print(f"[red]{n}: {e}[/]")
    sys.exit(max((c for _, _, c in errors), default=0))


@click.command("status")
@config_option
@target_option
@click.option("--limit", default=10, show_default=True, help="runs to show")
@json_option
def status(config_path, target, limit, as_json):
    """Last sync runs and rows currently rejected by destinations."""
    try:
        _, wh = _open(config_path, target)
    except ReverseEtlError as exc:
        _fail(str(exc), as_json)
    try:
        st = StateStore(wh)
        st.ensure()
        runs, rejections = st.runs(limit=limit), st.rejections()
        metrics = st.metrics([r.run_id for r in runs])
    except ReverseEtlError as exc:
        _fail(str(exc), as_json)
    finally:
        wh.close()
    if as_json:
        click.echo(report.dumps(report.status_dict(runs, rejections, metrics)))
    else:
        report.print_status(_console(), runs, rejections, metrics)


@click.group("sandbox")
def sandbox():
    """Local emulators of the five destination APIs (HubSpot, Braze, Meta, Google, Marketo),
    for demos and manual testing."""


def _sandbox_properties(config_path: str) -> list[str] | None:
    try:
        project: Project = load_project(config_path)
    except ReverseEtlError:
        return None
    props = {f for s in project.file.syncs if s.destination == "hubspot" for f in s.mapping}
    return sorted(props) or None


def _sandbox_urls(port: int) -> str:
    env = sandbox_proc.env_exports(port)
    return ", ".join(
        f"{name} {env[var]}"
        for name, var in (
            ("HubSpot", "HUBSPOT_BASE_URL"),
            ("Braze", "BRAZE_REST_ENDPOINT"),
            ("Meta", "META_GRAPH_URL"),
            ("Google", "GOOGLE_DATA_MANAGER_URL"),
            ("Marketo", "MARKETO_BASE_URL"),
        )
        if var in env
    )


@sandbox.command("start")
@click.option("--port", default=sandbox_proc.DEFAULT_PORT, show_default=True)
@config_option
def sandbox_start(port, config_path):
    """Start the emulators in the background (idempotent)."""
    info = sandbox_proc.start(Path.cwd(), port, _sandbox_properties(config_path))
    state = "already running" if info.already_running else "started"
    click.echo(f"sandbox emulators {state}: {_sandbox_urls(info.port)}")
    click.echo('point syncs at them with: eval "$(audiences sandbox env)"')


@sandbox.command("stop")
def sandbox_stop():
    """Stop the background emulators."""
    click.echo("stopped" if sandbox_proc.stop(Path.cwd()) else "not running")


@sandbox.command("env")
def sandbox_env():
    """Print the shell exports that point syncs at the sandbox (sandbox-only token)."""
    info = sandbox_proc.running(Path.cwd())
    port = info.port if info else sandbox_proc.DEFAULT_PORT
    for k, v in sandbox_proc.env_exports(port).items():
        click.echo(f"export {k}={v}")


@sandbox.command("demo")
@config_option
@target_option
@click.option("--ignore-tests", is_flag=True)
def sandbox_demo(config_path, target, ignore_tests):
    """Start the sandbox and run every sync against it, printing what changed.

    Run it twice: the second run sends nothing. A freshly started emulator is empty, so
    when the sandbox was not running the syncs are fully re-sent to it."""
    info = sandbox_proc.start(
        Path.cwd(), sandbox_proc.DEFAULT_PORT, _sandbox_properties(config_path)
    )
    os.environ.update(sandbox_proc.env_exports(info.port))
    click.echo(
        f"sandbox emulators: {_sandbox_urls(info.port)}"
        + (" (already running)" if info.already_running else " (fresh: full resync)")
    )
    click.get_current_context().invoke(
        sync,
        names=(),
        config_path=config_path,
        target=target,
        dry_run=False,
        full_resync=not info.already_running,
        ignore_tests=ignore_tests,
        as_json=False,
        verbose=False,
    )


commands = [sync, plan, status, sandbox]
