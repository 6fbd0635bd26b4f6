"""The local sandbox: the HubSpot, Braze, Meta, Google and Marketo emulators and the webhook
receiver as detached background processes.

The emulators live in their own package, :mod:`audiences_emulators`, outside the sync
engine's import path: this module starts them as child processes (``python -m``) and loads an
emulator module only to ask it for its sandbox environment (:func:`env_exports`), so that
importing the engine or the CLI never imports an emulator.

State lives in ``.sandbox/`` (pid, port, log). The credentials the emulators accept are fixed,
documented, sandbox-only values: they open nothing but the local emulators.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

EMULATORS = "audiences_emulators"
DEFAULT_PORT = 8765  # HubSpot's
# emulator module -> its port (each module has DEFAULT_PORT, sandbox_env() and a `python -m`
# entry point; tests/python/reverse_etl/test_import_boundaries.py checks the ports agree)
OTHERS = {"braze": 8766, "meta": 8767, "google": 8768, "marketo": 8769, "webhook": 8771}
# Marketo: the custom fields a sync writes must exist in the instance; the sandbox accepts any.
EXTRA_ARGS = {"marketo": ["--any-field"]}
HOST = "127.0.0.1"


def emulator_module(name: str) -> ModuleType:
    """The emulator module ``name`` (imported on demand: only sandbox commands need it)."""
    return importlib.import_module(f"{EMULATORS}.{name}")


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


def _spawn(root: Path, name: str, port: int, cmd: list[str]) -> subprocess.Popen[bytes]:
    """Starts one emulator process, waits until it listens (10 s at most), writes its pid."""
    d = _dir(root)
    log = open(d / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
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
                f"the {name} emulator did not start on port {port}; see {d / (name + '.log')}"
            )
        time.sleep(0.05)
    (d / f"{name}.pid").write_text(str(proc.pid))
    return proc


def _start_others(root: Path) -> None:
    """Start the Braze, Meta, Google and Marketo emulators that are not running yet."""
    d = _dir(root)
    d.mkdir(exist_ok=True)
    for name, port in OTHERS.items():
        if _listening(port):  # ours (see the pid file) or an emulator started by hand
            continue
        _spawn(
            root,
            name,
            port,
            [
                sys.executable,
                "-m",
                f"{EMULATORS}.{name}",
                "--host",
                HOST,
                "--port",
                str(port),
                *EXTRA_ARGS.get(name, []),
            ],
        )


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
        EMULATORS,
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
    proc = _spawn(root, "hubspot", port, cmd)
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
    out = {
        "HUBSPOT_BASE_URL": f"http://{HOST}:{port}",
        "HUBSPOT_ACCESS_TOKEN": emulator_module("hubspot").SANDBOX_TOKEN,
    }
    for name, other_port in OTHERS.items():
        out.update(emulator_module(name).sandbox_env(other_port, HOST))
    return out
