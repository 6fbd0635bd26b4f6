"""Human (rich) and machine (JSON) output of plans, runs and status."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reverse_etl.engine import Plan, SyncResult
from reverse_etl.match_rates import MatchRates
from reverse_etl.state import Rejection, RunRecord

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3  # synced, but some rows were rejected (see `audiences status`)
EXIT_REFUSED = 4  # nothing sent: dbt tests failed (gate) or the safety brake fired

STATUS_STYLE = {
    "success": "green",
    "partial": "yellow",
    "failed": "red",
    "refused": "red",
    "dry_run": "cyan",
    "running": "blue",
    "interrupted": "magenta",
}


def exit_code(results: list[SyncResult]) -> int:
    statuses = {r.status for r in results}
    if "failed" in statuses:
        return EXIT_FAILED
    if "refused" in statuses:
        return EXIT_REFUSED
    if "partial" in statuses:
        return EXIT_PARTIAL
    return EXIT_OK


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str, sort_keys=False)


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "sync": plan.sync.name,
        "model": plan.sync.model,
        "relation": plan.relation,
        "destination": plan.sync.destination,
        "mode": plan.sync.mode,
        "counts": plan.counts.__dict__,
        "current_members": plan.members,
        "samples": {
            a: [{"key": r.key, "fields": r.fields, "dest_id": r.dest_id} for r in recs]
            for a, recs in plan.samples.items()
        },
        "notes": plan.gate_notes,
        "match_rates": None if plan.match is None else plan.match.as_dict(),
        "min_audience_size": plan.min_audience_size,
        "warnings": plan.warnings,
    }


def print_plan(console: Console, plan: Plan) -> None:
    c = plan.counts
    console.print(
        f"[bold]{plan.sync.name}[/]  {plan.sync.model} ({plan.relation}) -> "
        f"{plan.sync.destination} ({plan.sync.mode}), {plan.members} members now"
    )
    t = Table("action", "rows", "samples")
    for action, n, key in (
        ("add", c.added, "add"),
        ("change", c.changed, "change"),
        ("remove", c.removed, "remove"),
        ("unchanged", c.unchanged, None),
    ):
        sample = ""
        if key:
            sample = "\n".join(
                r.key
                + (
                    "  " + ", ".join(f"{k}={v}" for k, v in list(r.fields.items())[:4])
                    if r.fields
                    else ""
                )
                for r in plan.samples.get(key, [])
            )
        t.add_row(action, str(n), escape(sample))
    console.print(t)
    if plan.match is not None:
        print_match_rates(console, plan.match)
    for w in plan.warnings:
        console.print(f"[yellow]warning: {escape(w)}[/]", soft_wrap=True)
    for note in plan.gate_notes:
        console.print(f"[dim]note: {note}[/]")


def print_match_rates(console: Console, m: MatchRates) -> None:
    t = Table(
        "identifier",
        "fields",
        "members with it",
        "coverage",
        "valid",
        "validity",
        title=f"match rates before sending ({m.members} members)",
    )
    for r in m.identifiers:
        t.add_row(
            r.identifier,
            " + ".join(r.fields),
            str(r.present),
            f"{100 * r.coverage:.1f} %",
            str(r.valid),
            f"{100 * r.validity:.1f} %",
        )
    console.print(t)
    console.print(
        f"expected match keys: {m.match_keys}; members with at least one usable identifier: "
        f"{m.matchable} ({100 * m.matchable_share:.1f} %)"
    )


def print_results(console: Console, results: list[SyncResult]) -> None:
    t = Table(
        "sync",
        "status",
        "added",
        "changed",
        "removed",
        "unchanged",
        "rejected",
        "reconciled",
        "requests",
        "retries",
        "seconds",
        title="sync summary",
    )
    for r in results:
        c = r.counts
        if r.status == "dry_run" and r.planned:
            p = r.planned
            c = {
                "added": p.added,
                "changed": p.changed,
                "removed": p.removed,
                "unchanged": p.unchanged,
            }
        style = STATUS_STYLE.get(r.status, "")
        t.add_row(
            r.sync_name,
            f"[{style}]{r.status}[/]",
            *(
                str(c.get(k, 0))
                for k in (
                    "added",
                    "changed",
                    "removed",
                    "unchanged",
                    "rejected",
                    "reconciled",
                    "requests",
                    "retries",
                )
            ),
            f"{r.seconds:.1f}",
        )
    console.print(t)
    for r in results:
        if r.error:
            console.print(f"[red]{r.sync_name}: {escape(r.error)}[/]", soft_wrap=True)
        for w in r.warnings:
            console.print(f"[yellow]warning: {escape(w)}[/]", soft_wrap=True)
        reported = platform_counts(r.metrics)
        if reported:
            console.print(f"{r.sync_name}: {escape(reported)}", soft_wrap=True)
        if r.dropped:
            by_id = dropped_counts(r.metrics)
            console.print(
                f"[yellow]{r.sync_name}: {len(r.dropped)} member(s) sent without a malformed "
                f"identifier ({by_id}); fix these values in the model:[/]",
                soft_wrap=True,
            )
            for key, names in r.dropped[:5]:
                console.print(f"  {escape(key)}: {', '.join(names)} malformed (value withheld)")
        if r.rejections:
            console.print(
                f"[yellow]{r.sync_name}: {len(r.rejections)} row(s) rejected "
                "(retried on the next run; `audiences status` lists them):[/]"
            )
            for key, err in r.rejections[:5]:
                console.print(f"  {escape(key)}: {escape(err)}", soft_wrap=True)


def dropped_counts(metrics: dict[str, int]) -> str:
    """``PHONE: 9, EMAIL: 1`` from a run's ``dropped_<identifier>`` metrics."""
    return ", ".join(
        f"{k.removeprefix('dropped_')}: {v}"
        for k, v in sorted(metrics.items())
        if k.startswith("dropped_")
    )


def platform_counts(metrics: dict[str, int]) -> str:
    """What the platform itself reported for a run (Meta ``num_received`` ...), one line."""
    own = {
        k: v
        for k, v in sorted(metrics.items())
        if k != "audience_size" and not k.startswith("dropped_")
    }
    if not own:
        return ""
    return "platform reported " + ", ".join(f"{k} {v}" for k, v in own.items())


def status_dict(
    runs: list[RunRecord],
    rejections: list[Rejection],
    metrics: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    metrics = metrics or {}
    return {
        "runs": [
            {
                "run_id": r.run_id,
                "sync": r.sync_name,
                "destination": r.destination,
                "mode": r.mode,
                "status": r.status,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "counts": r.counts,
                "metrics": metrics.get(r.run_id, {}),
                "error": r.error,
            }
            for r in runs
        ],
        "rejections": [
            {
                "sync": j.sync_name,
                "key": j.key,
                "action": j.action,
                "error": j.error,
                "attempts": j.attempts,
                "first_seen_at": j.first_seen_at,
                "last_seen_at": j.last_seen_at,
            }
            for j in rejections
        ],
    }


def print_status(
    console: Console,
    runs: list[RunRecord],
    rejections: list[Rejection],
    metrics: dict[str, dict[str, int]] | None = None,
) -> None:
    t = Table(
        "sync",
        "run",
        "started",
        "mode",
        "status",
        "added",
        "changed",
        "removed",
        "unchanged",
        "rejected",
        "requests",
        title="last runs",
    )
    for r in runs:
        style = STATUS_STYLE.get(r.status, "")
        t.add_row(
            r.sync_name,
            r.run_id,
            f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            r.mode,
            f"[{style}]{r.status}[/]",
            *(
                str(r.counts[k])
                for k in ("added", "changed", "removed", "unchanged", "rejected", "requests")
            ),
        )
    console.print(t)
    for r in runs:
        if r.error and r.status in ("failed", "refused", "interrupted"):
            console.print(f"[dim]{r.run_id}: {escape(r.error)}[/]", soft_wrap=True)
        m = (metrics or {}).get(r.run_id, {})
        line = platform_counts(m)
        dropped = dropped_counts(m)
        if dropped:
            line = (line + "; " if line else "") + f"identifiers dropped as malformed: {dropped}"
        if line:
            console.print(f"[dim]{r.run_id}: {escape(line)}[/]", soft_wrap=True)
    if rejections:
        t = Table("sync", "key", "action", "attempts", "last seen", "error", title="rejected rows")
        for j in rejections:
            t.add_row(
                j.sync_name,
                j.key,
                j.action,
                str(j.attempts),
                f"{j.last_seen_at:%Y-%m-%d %H:%M}",
                escape(j.error),
            )
        console.print(t)
    else:
        console.print("no rejected rows")
