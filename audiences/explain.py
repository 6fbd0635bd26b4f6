"""`audiences explain PERSON [SEGMENT...]`: why a person is in or out of each segment.

The evaluation runs inside the warehouse through dbt (`dbt run-operation explain_person`, see
macros/segments/rules/explain.sql), with the same compiled SQL as the build and at the as_of
the memberships were built for, so it works on every engine the project runs on. This module
only invokes it and presents the answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

MARKER = "AUDIENCES_EXPLAIN "


class ExplainError(click.ClickException):
    """A problem the user can fix (unknown person or segment, dbt not built)."""

    exit_code = 2


@dataclass(frozen=True)
class ExplainRequest:
    person: str | None
    segments: tuple[str, ...]
    member_of: str | None
    project_dir: Path
    target: str | None
    target_path: Path


def _dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_explain(request: ExplainRequest) -> dict[str, Any]:
    """Runs the explain_person operation and returns its JSON answer."""
    args = {
        "person": request.person,
        "segments": list(request.segments),
        "member_of": request.member_of,
    }
    command = [
        _dbt_executable(),
        "run-operation",
        "explain_person",
        "--args",
        json.dumps(args),
        "--project-dir",
        str(request.project_dir),
        "--target-path",
        str(request.target_path),
        "--vars",
        "{check_raw_contract: false}",
        "--quiet",
    ]
    if request.target:
        command += ["--target", request.target]
    env = {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(request.project_dir),
        **os.environ,
    }
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    output = (done.stdout + done.stderr).strip()
    raise click.ClickException(
        "dbt could not explain: "
        + (output[-3000:] or f"exit code {done.returncode}")
        + "\nHas the project been built (`dbt build`) on this target?"
    )


def _value(condition: dict[str, Any]) -> str:
    value = condition.get("value")
    if value is None:
        return "null" if condition["kind"] == "column" else "0 (no matching rows)"
    return value


def _filters(where: dict[str, Any] | None) -> str:
    if not where:
        return "any"
    return ", ".join(f"{column}={json.dumps(value)}" for column, value in where.items())


def describe(condition: dict[str, Any]) -> str:
    """One line a marketer can read for one leaf condition of a rule."""
    kind, body = next(iter(condition.items())) if "column" not in condition else ("column", None)
    if kind == "column":
        value = condition.get("value")
        return f"{condition['column']} {condition['op']}" + (
            f" {json.dumps(value)}" if value is not None else ""
        )
    if kind in ("in_segment", "not_in_segment"):
        return ("in segment " if kind == "in_segment" else "not in segment ") + body
    if kind in ("events", "sessions"):
        per = f", per {body['per']}" if body.get("per") else ""
        return f"{kind} where {_filters(body.get('where'))} in the last {body['within']}{per}"
    steps = []
    for step in body["steps"]:
        text = ("no " if step.get("absent") else "") + _filters(step["where"])
        if step.get("within"):
            text += f" within {step['within']}"
        if step.get("same"):
            text += f" (same {step['same']})"
        if step.get("window"):
            text += f" [in the last {step['window']}]"
        steps.append(text)
    return " -> ".join(steps)


def formula(rule: Any, counter: list[int] | None = None) -> str:
    """The rule's shape with its conditions numbered as the compiler numbers them."""
    counter = counter if counter is not None else [0]
    if isinstance(rule, dict) and len(rule) == 1 and next(iter(rule)) in ("all", "any"):
        key = next(iter(rule))
        return f"{key}(" + ", ".join(formula(child, counter) for child in rule[key]) + ")"
    if isinstance(rule, dict) and len(rule) == 1 and "not" in rule:
        return "not " + formula(rule["not"], counter)
    counter[0] += 1
    return str(counter[0])


def render(answer: dict[str, Any], console: Console) -> None:
    console.print(
        f"[bold]{answer['person_id']}[/bold] (user_id {answer.get('user_id') or '-'}, "
        f"found by {answer['matched_by']}), memberships as built for as_of {answer['as_of']}"
    )
    for segment in answer["segments"]:
        if segment["member"]:
            status = "[green]member[/green]" + (" (holdout)" if segment["is_holdout"] else "")
        else:
            status = "[red]not a member[/red]"
        console.print(f"\n[bold]{segment['segment_key']}[/bold] ({segment['family']}): {status}")
        if segment.get("description"):
            console.print(f"  {segment['description']}", style="dim")
        if "evaluated_member" in segment and segment["evaluated_member"] != segment["member"]:
            console.print(
                "  [yellow]the rule evaluates to "
                + ("member" if segment["evaluated_member"] else "not a member")
                + " now: the data changed since the build; run `dbt build` again[/yellow]"
            )
        if not segment["conditions"]:
            continue
        console.print(f"  rule: {formula(segment['formula'])}")
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
        for column in ("#", "condition", "threshold", "value", "result"):
            table.add_column(column)
        for condition in segment["conditions"]:
            table.add_row(
                str(condition["number"]),
                escape(describe(condition["condition"])),
                escape(condition["threshold"]),
                escape(_value(condition)),
                "[green]pass[/green]" if condition["passed"] else "[red]fail[/red]",
            )
        console.print(table)


@click.command("explain")
@click.argument("person", required=False)
@click.argument("segments", nargs=-1)
@click.option(
    "--member-of",
    metavar="SEGMENT",
    default=None,
    help="explain an example member of SEGMENT (the first person_id) instead of PERSON",
)
@click.option("--json", "as_json", is_flag=True, help="print the answer as JSON")
@click.option("--target", default=None, help="dbt target (default: the profile's default)")
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="the dbt project",
)
def explain(
    person: str | None,
    segments: tuple[str, ...],
    member_of: str | None,
    as_json: bool,
    target: str | None,
    project_dir: Path,
) -> None:
    """Why PERSON (a person_id, user_id or email) is in or out of each segment.

    For every SEGMENT given (default: every segment): member or not as built, and for a custom
    segment each condition of its rule with the person's value, the threshold and pass / fail.
    """
    if member_of is not None and person is not None:
        # with --member-of, every argument is a segment to explain
        person, segments = None, (person, *segments)
    if person is None and member_of is None:
        raise click.UsageError("give PERSON, or --member-of SEGMENT")
    request = ExplainRequest(
        person=person,
        segments=segments,
        member_of=member_of,
        project_dir=project_dir.resolve(),
        target=target,
        target_path=project_dir.resolve() / "target" / "explain",
    )
    answer = run_explain(request)
    if answer.get("error") == "unknown_person":
        raise ExplainError(
            f"no person with person_id, user_id or email {person!r} in dim_users "
            f"(built for as_of {answer['as_of']})"
        )
    if answer.get("error") == "no_member":
        raise ExplainError(f"segment {member_of!r} has no members in this build")
    if answer.get("error") == "unknown_segment":
        raise ExplainError(
            "unknown segment key(s): "
            + ", ".join(answer["segments"])
            + " (see `audiences report` or segment_definitions)"
        )
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    else:
        render(answer, Console())
