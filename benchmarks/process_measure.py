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


def tree_pss_mb(pid: int) -> float:
    """Proportional set size of a process and all its descendants, in MB (Linux): shared
    pages (a forked worker's copy-on-write memory) are split between the processes that
    share them instead of being counted once per process as RSS does."""
    total_kb = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                total_kb += next(int(ln.split()[1]) for ln in fh if ln.startswith("Pss:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, StopIteration, ValueError):
            continue  # the process ended meanwhile
    return total_kb / 1024


class PeakTreePss:
    """Samples :func:`tree_pss_mb` of ``pid`` every ``interval`` seconds in a thread; ``peak``
    holds the largest sum seen."""

    def __init__(self, pid: int, interval: float = 0.2):
        import threading

        self.pid, self.interval, self.peak = pid, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_pss_mb(self.pid))
            self._stop.wait(self.interval)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak
