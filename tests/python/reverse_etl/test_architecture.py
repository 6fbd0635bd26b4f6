"""The sync engine's architecture, checked on its source (docs/architecture.md).

Walks every import of every module of ``reverse_etl`` (module level and inside functions)
and fails on an import cycle, on a function-level import of the project's own modules (the
way cycles used to be hidden), on a core module that imports anything of the project or
does I/O, on a destination module missing from the registry, and on a status ladder
(HTTP 429 / 5xx handling) written outside the one response classifier. Runs in `make lint`.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

PKG = Path(__file__).resolve().parents[3] / "reverse_etl"
# The emulators are a separate program (the sandbox); they are not part of the engine.
EXCLUDED: tuple[str, ...] = ()
# Function-level imports that are allowed: optional database drivers loaded only when that
# warehouse is used. Never a module of the engine's layers.
LAZY_OK = {
    ("reverse_etl.warehouse", "reverse_etl.warehouse.duckdb"),
    ("reverse_etl.warehouse", "reverse_etl.warehouse.postgres"),
}
IO_MODULES = {"os", "requests", "duckdb", "psycopg2", "socket", "subprocess", "pathlib", "io"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        name = _module_name(path)
        if not name.startswith(EXCLUDED):
            out[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return out


MODULES = _modules()


def _resolve(current: str, node: ast.ImportFrom, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".") if is_pkg else current.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(name: str, tree: ast.Module) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import of the project."""
    is_pkg = (PKG.parent / Path(*name.split(".")) / "__init__.py").exists()
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                mod = _resolve(name, child, is_pkg)
                # "from pkg import module" imports the module
                targets = [
                    f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in child.names
                ]
            for t in targets:
                found.append((t, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, tree in MODULES.items():
        for target, _, _ in _imports(name, tree):
            # importing reverse_etl.a.b also runs reverse_etl.a
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                mod = ".".join(parts[:i])
                if mod in MODULES and mod != name and not name.startswith(mod + "."):
                    graph[name].add(mod)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_walker_sees_function_level_imports_and_cycles():
    tree = ast.parse("import os\ndef f():\n    from reverse_etl.state import StateStore\n")
    assert ("reverse_etl.state", 3, True) in _imports("reverse_etl.core.clock", tree)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_no_function_level_import_of_the_project():
    bad = [
        f"{name}:{line} imports {target} inside a function"
        for name, tree in MODULES.items()
        for target, line, in_function in _imports(name, tree)
        if in_function
        and target.startswith("reverse_etl")
        and not target.startswith(EXCLUDED)
        and (name, target) not in LAZY_OK
    ]
    assert bad == []


def test_core_imports_nothing_of_the_project_and_does_no_io():
    core = {n: t for n, t in MODULES.items() if n.startswith("reverse_etl.core")}
    assert set(core) >= {"reverse_etl.core", "reverse_etl.core.records", "reverse_etl.core.errors"}
    bad = [
        f"{name} imports {target}"
        for name, tree in core.items()
        for target, _, _ in _imports(name, tree)
        if (target.startswith("reverse_etl") and not target.startswith("reverse_etl.core"))
        or target.split(".")[0] in IO_MODULES
    ]
    assert bad == []


def test_every_destination_module_is_registered_once():
    from reverse_etl.destinations.registry import REGISTRY

    # the destination's name is its SPEC's (a module may be named otherwise: redis_cache.py
    # declares the destination "redis", whose module name would shadow the redis client)
    declared = {
        importlib.import_module(name).SPEC.name
        for name, tree in MODULES.items()
        if name.startswith("reverse_etl.destinations.")
        and any(
            isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "SPEC" for t in n.targets)
            for n in tree.body
        )
    }
    assert declared and declared == set(REGISTRY.names())


def test_only_settings_reads_the_environment():
    """Environment variables are read in reverse_etl.settings only (one pydantic-settings
    model for the engine, declared variables for the destinations)."""
    bad = []
    for name, tree in MODULES.items():
        if name == "reverse_etl.settings":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                bad.append(f"{name}:{node.lineno} os.{node.attr}")
    # the CLI's sandbox command exports the emulators' addresses for the syncs it runs
    assert [b for b in bad if not b.startswith("reverse_etl.cli:")] == []


def test_one_status_ladder():
    """HTTP 429 / 5xx are classified in reverse_etl.http.classify only."""
    bad = []
    for name, tree in MODULES.items():
        if name == "reverse_etl.http.classify":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                consts = [c.value for c in node.comparators if isinstance(c, ast.Constant)]
                if any(v in (429, 500, 502, 503) for v in consts):
                    bad.append(f"{name}:{node.lineno}")
    assert bad == []


def test_the_engine_finds_capabilities_by_protocol_not_getattr():
    """Optional capabilities are typing.Protocols checked with isinstance (capabilities.py)."""
    calls = [
        f"{name}:{node.lineno}"
        for name in ("reverse_etl.engine", "reverse_etl.event_outbox")
        for node in ast.walk(MODULES[name])
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "hasattr")
    ]
    assert calls == []
