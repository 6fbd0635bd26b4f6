"""The local API emulators stay out of the sync engine's import path: importing the CLI (what
every `audiences` command does) loads no module of ``audiences_emulators``; only the sandbox
commands, the tests and the benchmarks import them."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def test_importing_the_cli_imports_no_emulator():
    loaded = _modules_after("import reverse_etl.cli")
    assert "reverse_etl.cli" in loaded and "reverse_etl.sandbox" in loaded
    assert [m for m in loaded if "emulator" in m] == []
    assert "werkzeug" not in loaded


def test_the_sandbox_environment_loads_the_emulators_on_demand():
    loaded = _modules_after(
        "import reverse_etl.sandbox as s\nassert s.env_exports(8765)['HUBSPOT_BASE_URL']"
    )
    assert "audiences_emulators.hubspot" in loaded and "audiences_emulators.braze" in loaded


def test_sandbox_ports_are_the_emulators_defaults():
    from reverse_etl import sandbox

    for name, port in sandbox.OTHERS.items():
        assert port == sandbox.emulator_module(name).DEFAULT_PORT, name
