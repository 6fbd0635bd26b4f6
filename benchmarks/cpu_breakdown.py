"""CPU time (user + system) of every process and thread of a command, for finding where the
wall time of a benchmark goes on a shared machine (docs/decisions/0018-sync-throughput.md).

    python benchmarks/cpu_breakdown.py -- python benchmarks/bench_destinations.py \\
        --rows 200000 --destination meta

Polls ``/proc`` for the command's process tree five times a second and keeps, for every
process and thread it saw, the last CPU times it read (a process's times are final when it
ends, so its last sample is short of them by at most one interval). Prints one line per
process (its command line, shortened) with its threads, then the sum over the tree and the
sum divided by the wall time (about the number of cores when the run is CPU-bound).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(stat_path: Path) -> float | None:
    try:
        text = stat_path.read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)"
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # (the thread or process has ended)
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _cmdline(pid: int) -> str:
    try:
        parts = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(p.decode(errors="replace") for p in parts if p)
    return text if len(text) < 110 else text[:107] + "..."


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise SystemExit(__doc__)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv)
    procs: dict[int, dict] = {}
    while proc.poll() is None:
        todo = [proc.pid]
        while todo:
            pid = todo.pop()
            todo += _children(pid)
            seen = procs.setdefault(pid, {"cmd": _cmdline(pid), "threads": {}})
            for task in Path(f"/proc/{pid}/task").glob("*"):
                cpu = _cpu_of(task / "stat")
                if cpu is not None:
                    seen["threads"][int(task.name)] = cpu
        time.sleep(0.2)
    wall = time.monotonic() - t0
    total = 0.0
    print(f"\nwall {wall:.1f} s")
    for pid, seen in procs.items():
        cpu = sum(seen["threads"].values())
        total += cpu
        threads = ", ".join(
            f"{'main' if tid == pid else tid}: {s:.1f}"
            for tid, s in sorted(seen["threads"].items(), key=lambda kv: -kv[1])
            if s >= 0.1
        )
        print(f"{pid:>8} {cpu:7.1f} s  {seen['cmd']}\n{'':>19}threads {threads}")
    print(f"total CPU {total:.1f} s, CPU / wall {total / wall:.2f}")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
