"""What the sync benchmarks share: the syncs shipped in syncs.yml, an emulator in its own
process on a free port, and the measured sync in a child process that prints its figures as
one JSON line (so its peak RSS is the sync's alone)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from process_measure import PeakTreePss

from reverse_etl.config import SyncConfig, load_project

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def shipped_sync(destination: str) -> SyncConfig:
    """The first sync of ``destination`` in the project's syncs.yml."""
    syncs = load_project(ROOT / "syncs.yml").file.syncs
    return next(s for s in syncs if s.destination == destination)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextmanager
def running_emulator(module_args: list[str], env: dict[str, str]) -> Iterator[str]:
    """Start ``python <module_args> --port P`` and yield its base URL once it accepts
    connections; stop it on exit."""
    port = free_port()
    emu = subprocess.Popen(
        [sys.executable, *module_args, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex((HOST, port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://{HOST}:{port}"
    finally:
        emu.terminate()
        emu.wait()


def run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``python <args>``; return the JSON object on the last line of its output."""
    proc = subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sampler = PeakTreePss(proc.pid)
    out, err = proc.communicate()
    peak_pss = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(err[-3000:])
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_tree_pss_mb"] = peak_pss  # the sync and its worker processes together
    return result
