"""Wall time and peak resident memory of one command, for the benchmark scripts."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss_mb: float


def measure(command: list[str], env: dict[str, str]) -> Measurement:
    """Runs a command from the project root, returning its wall time and the peak resident
    memory of its process; exits with the command's output tail when it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return Measurement(elapsed, usage.ru_maxrss / 1024)


def result_row(command: str, figures: str) -> str:
    """One row of benchmarks/RESULTS.md: date, machine, command, figures."""
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    return f"| {date.today().isoformat()} | {machine} | `{command}` | {figures} |"


def append_result(row: str) -> None:
    """Appends a row to benchmarks/RESULTS.md (created with its header if missing)."""
    results = PROJECT_DIR / "benchmarks" / "RESULTS.md"
    if not results.exists():
        results.write_text(
            "# Benchmark results\n\nAppended by the benchmark scripts; never rewritten.\n\n"
            "| date | machine | command | figures |\n|---|---|---|---|\n"
        )
    with results.open("a") as handle:
        handle.write(row + "\n")
