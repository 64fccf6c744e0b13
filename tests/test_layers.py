"""Layers only point down and no `sma` module imports itself around a loop (DESIGN.md "Layout").

Every `import` and `from ... import` in a module counts, wherever it stands: at the top, inside a function
(a deferred import hides a cycle from Python, not from the design) and under `if TYPE_CHECKING:` (a type-only
edge still couples the two modules, the type checker follows it, and a cycle through it is one refactor away
from a runtime one). `from pkg import name` is an edge to `pkg.name` when that is a module, else to `pkg`.
An import by a computed name (`importlib.import_module`) is invisible to the walk, so it is refused too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sma

ROOT = Path(sma.__file__).parent

# Lowest first; a module may import its own layer and any lower one. The first matching prefix wins; a
# module named `config` anywhere is a capability's section of the settings and sits with the settings.
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("sma", "sma.models")),  # the contracts; `sma` is the package's own `__init__` (the version) only
    # configuration, process environment, observability
    (1, ("sma.settings", "sma.queues", "sma.environment", "sma.logging", "sma.metrics", "sma.tracing")),
    (2, ("sma.db",)),  # tables, queries, migrations
    (3, ("sma.services", "sma.temporal_client")),  # the logic; the one adapter that connects to Temporal
    (4, ("sma.activities",)),
    (5, ("sma.workflows",)),
    (6, ("sma.wiring", "sma.worker", "sma.runtime", "sma.supervisor")),  # build and run the worker processes
    (7, ("sma.client", "sma.schedules", "sma.demo")),  # the Temporal client side: runs, Schedules, the demo run
    (8, ("sma.bot", "sma.api")),  # interfaces
    (9, ("sma.dashboard", "sma.mcp")),  # interfaces that serve the API or are built on it
    (10, ("sma.cli",)),  # starts every other interface
]
CONFIG_RANK = 1

# Violations another piece of this redesign removes; each entry says which. The list may only shrink: an
# entry that no longer occurs fails `test_allowed_entries_still_occur`, so it is deleted with the fix.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}
ALLOWED_CYCLES: dict[frozenset[str], str] = {}
ALLOWED_BY_NAME: dict[str, str] = {}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every `sma` module that `name` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def owner(target: str) -> str:
        while target not in known and "." in target:
            target = target.rpartition(".")[0]
        return target

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {owner(alias.name) for alias in node.names if alias.name.split(".")[0] == "sma"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] != "sma":
                continue
            found |= {f"{source}.{a.name}" if f"{source}.{a.name}" in known else owner(source) for a in node.names}
    found.discard(name)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(paths)
    return {name: imports_of(name, path, known) for name, path in sorted(paths.items())}


def rank(module: str) -> int:
    if module.rpartition(".")[2] == "config":
        return CONFIG_RANK
    best = -1, -1  # (length of the matching prefix, rank)
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            inside = module == prefix or (prefix != "sma" and module.startswith(prefix + "."))
            if inside and len(prefix) > best[0]:
                best = len(prefix), layer
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS in tests/test_layers.py"
    return best[1]


def upward(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph.items() for b in targets if rank(b) > rank(a)}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in graph:
                    continue
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def _path_in(graph: dict[str, set[str]], component: frozenset[str]) -> str:
    """One loop through the component, to name in the failure."""
    first = min(component)
    trail, seen = [first], {first}
    while True:
        step = min(t for t in graph[trail[-1]] if t in component)
        if step in seen:
            return " -> ".join([*trail[trail.index(step):], step])
        trail.append(step)
        seen.add(step)


GRAPH = import_graph()


def test_no_import_cycle_between_sma_modules() -> None:
    found = [c for c in cycles(GRAPH) if c not in ALLOWED_CYCLES]
    assert not found, "import cycles (break them by moving the shared part down):\n" + "\n".join(
        _path_in(GRAPH, c) for c in found)


def test_no_module_imports_from_a_higher_layer() -> None:
    found = sorted(upward(GRAPH) - set(ALLOWED_UPWARD))
    assert not found, "upward imports (move the imported part down, or the importer up):\n" + "\n".join(
        f"{a} (layer {rank(a)}) -> {b} (layer {rank(b)})" for a, b in found)


def test_allowed_entries_still_occur() -> None:
    """An exception that no longer occurs is deleted, so the list only shrinks."""
    assert set(ALLOWED_UPWARD) <= upward(GRAPH), sorted(set(ALLOWED_UPWARD) - upward(GRAPH))
    assert set(ALLOWED_CYCLES) <= set(cycles(GRAPH)), sorted(map(sorted, set(ALLOWED_CYCLES) - set(cycles(GRAPH))))


def _imports_by_name() -> set[str]:
    """Modules that call `importlib.import_module` or `__import__`: edges this walk cannot see."""
    found = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and (getattr(node.func, "attr", None) == "import_module"
                                               or getattr(node.func, "id", None) in ("import_module", "__import__")):
                found.add(module_name(path))
    return found


def test_no_module_is_imported_by_a_computed_name() -> None:
    """An import by name hides an edge from this test (and from readers and type checkers)."""
    found = _imports_by_name()
    assert found <= set(ALLOWED_BY_NAME), sorted(found - set(ALLOWED_BY_NAME))
    assert set(ALLOWED_BY_NAME) <= found, sorted(set(ALLOWED_BY_NAME) - found)  # the list only shrinks


def test_cli_command_modules_import_only_common_from_the_package() -> None:
    """`sma.cli.main` assembles the groups; every other module of the package shares only `sma.cli.common`."""
    leaks = {(a, b) for a, targets in GRAPH.items() for b in targets
             if a.startswith("sma.cli.") and a not in ("sma.cli.main", "sma.cli.__main__")
             and (b == "sma.cli" or b.startswith("sma.cli.")) and b != "sma.cli.common"}
    assert not leaks, sorted(leaks)


def test_every_module_has_a_layer_and_a_new_top_level_module_must_get_one() -> None:
    assert {rank(m) for m in GRAPH} <= {layer for layer, _ in LAYERS}
    assert rank("sma.services.voice.config") == CONFIG_RANK and rank("sma.cli.common") == 10
    with pytest.raises(AssertionError, match="in no layer"):
        rank("sma.newcomer")


def test_the_walker_sees_imports_in_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    """The check is only as good as the walk: deferred and type-only imports are edges too."""
    package = tmp_path / "sma"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("")
    (package / "low" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sma.high import b\n")
    (package / "high.py").write_text("def f():\n    from .low import a\n    from sma.low.a import thing\n")
    graph = {name: set(targets) for name, targets in import_graph(package).items()}
    assert graph["sma.low.a"] == {"sma.high"} and graph["sma.high"] == {"sma.low.a"}
    assert cycles(graph) == [frozenset({"sma.low.a", "sma.high"})]
