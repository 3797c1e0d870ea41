"""The house's layering (DESIGN §6): data flows one way, core -> adapters / graphs -> runs.

Every import of every module is read from its source (imports inside functions included,
imports under ``if TYPE_CHECKING:`` excluded), resolved to the module it loads, and checked:
the core imports no adapter, graph or run module; adapters and graphs import neither each
other nor the runs; no module reaches a cycle of imports; the run application lives in
``captum_interactions/runs/`` only. The walker is checked on a small tree of its own first.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Source folder -> the package it installs as (pyproject.toml's package-dir).
PACKAGES = {
    ROOT / "captum_interactions": "captum_interactions",
    ROOT / "adapters": "captum_interactions.adapters",
    ROOT / "graphs": "captum_interactions.graphs",
}
#: The program's entry point (``python -m captum_interactions``): it starts the command line
#: and nothing imports it.
ENTRY_POINTS = {"captum_interactions.__main__"}
#: Which layers each layer may import.
ALLOWED = {
    "core": {"core"},
    "adapters": {"core", "adapters"},
    "graphs": {"core", "graphs"},
    "runs": {"core", "adapters", "graphs", "runs"},
}


def modules(packages: dict[Path, str]) -> dict[str, Path]:
    """Module name -> source file, for every ``.py`` file under the package folders."""
    found = {}
    for folder, package in packages.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def edges(known: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports (a ``from X import y`` of a submodule ``y``
    counts as an import of ``X.y``)."""
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in known else base)
        graph[name] = {target for target in targets if target in known and target != name}
    return graph


def layer(name: str) -> str:
    for sub in ("runs", "adapters", "graphs"):
        if name == f"captum_interactions.{sub}" or name.startswith(f"captum_interactions.{sub}."):
            return sub
    return "core"


def violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{source} ({layer(source)}) imports {target} ({layer(target)})"
        for source, targets in graph.items() if source not in ENTRY_POINTS
        for target in targets if layer(target) not in ALLOWED[layer(source)]
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# ------------------------------------------------------------------------ the walker itself
def test_the_walker_finds_violations_and_cycles(tmp_path):
    core, adapters = tmp_path / "core", tmp_path / "adapters"
    core.mkdir()
    adapters.mkdir()
    (core / "__init__.py").write_text("from .a import f\n")
    (core / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from captum_interactions.adapters import x  # allowed\n"
        "def f():\n    from . import b\n    return b\n"
    )
    (core / "b.py").write_text("def g():\n    import captum_interactions.adapters.x\n"
                               "    from .a import f\n")
    (adapters / "__init__.py").write_text("")
    (adapters / "x.py").write_text("from captum_interactions import a\n")
    known = modules({core: "captum_interactions", adapters: "captum_interactions.adapters"})
    graph = edges(known)
    assert graph["captum_interactions.a"] == {"captum_interactions.b"}  # lazy, not TYPE_CHECKING
    assert violations(graph) == [
        "captum_interactions.b (core) imports captum_interactions.adapters.x (adapters)"]
    assert cycles(graph) == [["captum_interactions.a", "captum_interactions.adapters.x",
                              "captum_interactions.b"]]


# ----------------------------------------------------------------------------- the house
@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return edges(modules(PACKAGES))


def test_every_layer_imports_only_the_layers_below_it(graph):
    assert violations(graph) == []
    # the walker sees the real imports (a layering test that reads nothing would pass too)
    assert "captum_interactions.extraction" in graph["captum_interactions.attribution"]
    assert "captum_interactions.adapters" in graph["captum_interactions.runs.specs"]
    assert "captum_interactions.graphs" in graph["captum_interactions.runs.analysis"]


def test_no_import_cycles_lazy_imports_included(graph):
    assert cycles(graph) == []


def test_lazy_names_of_packages_follow_the_layers():
    """Package ``__init__`` files that load names on first use (``_LAZY``, ``_SUBMODULES``)
    import through importlib, out of the walker's sight: their targets obey the same rule."""
    import importlib

    for package in ("captum_interactions", "captum_interactions.runs"):
        module = importlib.import_module(package)
        targets = [importlib.util.resolve_name(target, package) if target.startswith(".")
                   else target for target in getattr(module, "_LAZY", {}).values()]
        targets += [f"{package}.{name}" for name in getattr(module, "_SUBMODULES", ())]
        assert targets, package
        graph = {package: set(targets)}
        assert violations(graph) == [], package


def test_no_public_name_is_shadowed_by_a_submodule():
    """Importing ``package.x`` sets the attribute ``x`` of the package to the module, so a
    lazily loaded public name ``x`` defined in module ``package.x`` would turn into that
    module once anything imported it (``from captum_interactions.runs import screen`` gave
    the module after a run had screened). Import every submodule, then look."""
    import importlib
    import pkgutil
    from types import ModuleType

    for name in ("captum_interactions", "captum_interactions.runs"):
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(info.name)
        shadowed = [n for n in package.__all__
                    if isinstance(getattr(package, n), ModuleType)
                    and n not in getattr(package, "_SUBMODULES", ())]
        assert shadowed == [], name


def test_the_run_application_lives_in_runs(graph):
    direct = {name.split(".")[1] for name in graph
              if name.count(".") == 1 and layer(name) == "core"}
    assert not direct & {"pipeline", "report", "specs", "cli", "_store", "store", "execute"}
    runs = {name for name in graph if layer(name) == "runs"}
    assert {"captum_interactions.runs.cli", "captum_interactions.runs.report",
            "captum_interactions.runs.specs"} <= runs
    importers_of_runs = {source for source, targets in graph.items()
                         if any(layer(t) == "runs" for t in targets) and layer(source) != "runs"}
    assert importers_of_runs == ENTRY_POINTS
