"""The import structure: one way down, text -> tree -> checked config -> plan -> quantized model.

Read from the source with ``ast``, so an import inside a function counts as much as one at the top of a
module (a function-level import hides a cycle from Python, not from the design). Imports under
``if TYPE_CHECKING:`` are left out: they never run. The packages, top to bottom:

- ``amct_cli``: the command line, an application above both libraries;
- ``quant``: the PyTorch engine, which reads ``cfglang``'s plan, capability tables and inventory;
- ``cfglang``: the language; it knows nothing of the others and never imports torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cfglang", "quant", "amct_cli")
# a package may import the ones after it in this order, never the ones before
LAYERS = {"amct_cli": 2, "quant": 1, "cfglang": 0}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at module level, in functions and classes, not under
    ``if TYPE_CHECKING:`` (its ``else`` branch counts)."""
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        todo.extend(ast.iter_child_nodes(node))


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules an import statement names (``from pkg import sub`` names ``pkg.sub`` when it is a
    module), as full dotted names; other packages' names too."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
    yield from submodules
    if len(submodules) < len(node.names):
        yield base


def _owner(name: str) -> str | None:
    """The project module that ``name`` (a module or a name inside one) belongs to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges = set()
        for node in _imports(tree):
            for target in _targets(module, path, node):
                owner = _owner(target)
                if owner is not None and owner != module:
                    edges.add(owner)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


GRAPH = _graph()


def test_the_graph_sees_function_level_imports() -> None:
    # the reader itself: an import inside a function is an edge, one under TYPE_CHECKING is not
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import cfglang.plan\n"
                     "def f():\n    from cfglang import lint\n")
    names = {target for node in _imports(tree) for target in _targets("cfglang.x", ROOT / "x.py", node)}
    assert names == {"typing", "cfglang.lint"}


def test_no_import_cycles() -> None:
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles (module or function level): " + "; ".join(" <-> ".join(c) for c in cycles)


# protobuf's API for reading a message, which only the schema/message layer (and the generated code) calls
_READING_API = {"HasField", "WhichOneof", "ListFields", "DESCRIPTOR"}
_MESSAGE_LAYER = ("cfglang.schema", "cfglang.message", "cfglang._proto")


def test_messages_are_read_through_the_accessors() -> None:
    # the others read a config message through cfglang.message (is_set, which, set_fields, enum_name),
    # cfglang.schema and its field attributes
    found = [f"{module}:{node.lineno} calls .{node.attr}" for module, path in MODULES.items()
             if not module.startswith(_MESSAGE_LAYER)
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Attribute) and node.attr in _READING_API]
    assert not found, ", ".join(found)


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_downwards(package: str) -> None:
    upward = sorted(f"{module} -> {target}" for module, targets in GRAPH.items() if module.split(".")[0] == package
                    for target in targets if LAYERS[target.split(".")[0]] > LAYERS[package])
    assert not upward, f"{package} imports a package above it: " + ", ".join(upward)


def test_language_package_never_names_torch() -> None:
    named = sorted(f"{module}: {alias}" for module, path in MODULES.items() if module.split(".")[0] == "cfglang"
                   for node in _imports(ast.parse(path.read_text(encoding="utf-8")))
                   for alias in _targets(module, path, node) if alias.split(".")[0] in ("torch", "numpy", "quant"))
    assert not named, "cfglang imports the engine's dependencies: " + ", ".join(named)


def test_importing_every_language_module_loads_no_torch() -> None:
    # the run-time check beside the static one: every cfglang module imported, torch never loaded
    names = sorted(m for m in MODULES if m.split(".")[0] == "cfglang" and m != "cfglang.__main__")
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in ('torch', 'numpy', 'quant', 'amct_cli') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
