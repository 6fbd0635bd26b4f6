"""The diff as a rich table (terminal), a JSON document and a Markdown summary (PR comment).

Members are identified by person_id and user_id only: no email or other contact data is
ever read by the comparison, so none can appear here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from audiences.segment_diff.compare import SampleMember, SegmentChange

NOT_AFFECTED = "not_affected"
NO_DIFFERENCE = "no_difference"
CHANGED = "changed"


@dataclass
class DiffReport:
    status: str
    message: str
    production_relation: str
    pull_request_relation: str | None = None
    as_of: str | None = None
    selection: list[str] = field(default_factory=list)
    changed_vars: list[str] = field(default_factory=list)
    models_built: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    segments: list[SegmentChange] = field(default_factory=list)

    def by_status(self, status: str) -> list[str]:
        return [s.segment_key for s in self.segments if s.status == status]

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["segments"] = [
            {**asdict(s), "status": s.status, "change": s.members_after - s.members_before}
            for s in self.segments
        ]
        document["summary"] = {
            "segments_added": self.by_status("added"),
            "segments_removed": self.by_status("removed"),
            "segments_changed": self.by_status("changed"),
            "segments_unchanged": len(self.by_status("unchanged")),
        }
        return document


def _ids(samples: list[SampleMember]) -> str:
    return ", ".join(
        s.person_id if s.user_id in (None, s.person_id) else f"{s.person_id} (user {s.user_id})"
        for s in samples
    )


def _moved(report: DiffReport) -> list[SegmentChange]:
    return [s for s in report.segments if s.status != "unchanged"]


def _signed(sign: str, n: int) -> str:
    return f"{sign}{n}" if n else "0"


def print_table(report: DiffReport, console: Console) -> None:
    console.print(report.message)
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    moved = _moved(report)
    if not moved:
        return
    table = Table(title=f"Segment membership: production vs pull request (as_of {report.as_of})")
    table.add_column("segment", overflow="fold")
    table.add_column("family")
    table.add_column("status")
    for column in ("before", "after", "entering", "leaving"):
        table.add_column(column, justify="right")
    for s in moved:
        table.add_row(
            s.segment_key,
            s.segment_family,
            s.status,
            str(s.members_before),
            str(s.members_after),
            _signed("+", s.entering),
            _signed("-", s.leaving),
        )
    console.print(table)
    console.print(f"{len(report.segments) - len(moved)} other segment(s) unchanged.")
    for s in moved:
        if s.entering_samples:
            console.print(f"{s.segment_key} entering (sample): {_ids(s.entering_samples)}")
        if s.leaving_samples:
            console.print(f"{s.segment_key} leaving (sample): {_ids(s.leaving_samples)}")


def markdown(report: DiffReport) -> str:
    """The summary for the pull request (job summary or comment)."""
    lines = ["## Segment changes in this pull request", "", report.message, ""]
    lines += [f"> note: {note}" for note in report.notes]
    if report.notes:
        lines.append("")
    moved = _moved(report)
    if moved:
        lines += [
            "| segment | family | status | before | after | entering | leaving |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| `{s.segment_key}` | {s.segment_family} | {s.status} | {s.members_before} "
            f"| {s.members_after} | {_signed('+', s.entering)} | {_signed('-', s.leaving)} |"
            for s in moved
        ]
        lines.append("")
        unchanged = len(report.segments) - len(moved)
        lines += [f"{unchanged} other segment(s) unchanged. As of {report.as_of}.", ""]
        samples = [s for s in moved if s.entering_samples or s.leaving_samples]
        if samples:
            lines += ["<details><summary>Sample person_ids</summary>", ""]
            for s in samples:
                lines.append(
                    f"- `{s.segment_key}`: entering {_ids(s.entering_samples) or '-'}; "
                    f"leaving {_ids(s.leaving_samples) or '-'}"
                )
            lines += ["", "</details>", ""]
    if report.models_built and report.segments:
        built = ", ".join(f"`{uid.split('.')[-1]}`" for uid in report.models_built)
        lines += [f"Models built for the comparison: {built}.", ""]
    return "\n".join(lines)
