"""The local sandbox: the HubSpot, Braze, Meta and Google emulators as detached background
processes.

State lives in ``.sandbox/`` (pid, port, log). The token below is a fixed, documented,
sandbox-only value: it opens nothing but the local emulator.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from reverse_etl.emulators import braze as braze_emulator
from reverse_etl.emulators import google as google_emulator
from reverse_etl.emulators import meta as meta_emulator
from reverse_etl.emulators.hubspot import SANDBOX_TOKEN

DEFAULT_PORT = 8765
# module -> its emulator (each has DEFAULT_PORT, sandbox_env() and a `python -m` entry point)
OTHERS = {"braze": braze_emulator, "meta": meta_emulator, "google": google_emulator}
HOST = "127.0.0.1"


@dataclass(frozen=True)
class SandboxInfo:
    pid: int
    port: int
    already_running: bool

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _dir(root: Path) -> Path:
    return root / ".sandbox"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child still answers kill(0)
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def running(root: Path) -> SandboxInfo | None:
    d = _dir(root)
    try:
        pid = int((d / "hubspot.pid").read_text())
        port = int((d / "hubspot.port").read_text())
    except (OSError, ValueError):
        return None
    if _alive(pid) and _listening(port):
        return SandboxInfo(pid, port, True)
    return None


def _start_others(root: Path) -> None:
    """Start the Braze, Meta and Google emulators that are not running yet."""
    d = _dir(root)
    d.mkdir(exist_ok=True)
    for name, module in OTHERS.items():
        port = module.DEFAULT_PORT
        if _listening(port):  # ours (see the pid file) or an emulator started by hand
            continue
        log = open(d / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                f"reverse_etl.emulators.{name}",
                "--host",
                HOST,
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=root,
        )
        log.close()
        deadline = time.monotonic() + 10
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the {name} emulator did not start on port {port}; see {d / (name + '.log')}"
                )
            time.sleep(0.05)
        (d / f"{name}.pid").write_text(str(proc.pid))


def start(root: Path, port: int = DEFAULT_PORT, properties: list[str] | None = None) -> SandboxInfo:
    _start_others(root)
    info = running(root)
    if info:
        return info
    d = _dir(root)
    d.mkdir(exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "reverse_etl.emulators",
        "hubspot",
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    if properties:
        for p in properties:
            cmd += ["--property", p]
    else:
        cmd.append("--any-property")
    log = open(d / "hubspot.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=root,
    )
    log.close()
    deadline = time.monotonic() + 10
    while not _listening(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"the HubSpot emulator did not start on port {port}; see {d / 'hubspot.log'}"
            )
        time.sleep(0.05)
    (d / "hubspot.pid").write_text(str(proc.pid))
    (d / "hubspot.port").write_text(str(port))
    return SandboxInfo(proc.pid, port, False)


def stop(root: Path) -> bool:
    d = _dir(root)
    for name in OTHERS:
        try:
            pid = int((d / f"{name}.pid").read_text())
        except (OSError, ValueError):
            continue
        (d / f"{name}.pid").unlink(missing_ok=True)
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
    info = running(root)
    for f in ("hubspot.pid", "hubspot.port"):
        (d / f).unlink(missing_ok=True)
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    for _ in range(50):
        if not _alive(info.pid):
            break
        time.sleep(0.05)
    return True


def env_exports(port: int) -> dict[str, str]:
    out = {"HUBSPOT_BASE_URL": f"http://{HOST}:{port}", "HUBSPOT_ACCESS_TOKEN": SANDBOX_TOKEN}
    for module in OTHERS.values():
        out.update(module.sandbox_env(module.DEFAULT_PORT, HOST))
    return out
