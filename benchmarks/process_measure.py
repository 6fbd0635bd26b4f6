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


def describe_machine() -> str:
    """CPU model, cores, RAM and Python version: the machine column of RESULTS.md."""
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GB RAM, Python {platform.python_version()}"


def result_row(command: str, figures: str) -> str:
    """One row of benchmarks/RESULTS.md: date, machine, command, figures."""
    return f"| {date.today().isoformat()} | {describe_machine()} | `{command}` | {figures} |"


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
