"""The package's layout holds: a core that knows no task, tasks that share only the core, no import cycles.

The import graph is read from the source (every ``import`` that can run, at module level or inside
a function; ``if TYPE_CHECKING:`` blocks never run and are left out), so these tests fail the moment
a change makes the core import a task or closes a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "turnpoint"
TASKS = ("changes", "events")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _area(module: str) -> str:
    """``core``, ``changes``, ``events``, ``cli``, or ``""`` for the top-level package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, known: set[str]) -> set[str]:
    """The turnpoint modules a parsed file imports (``from turnpoint.x import y`` names module x.y
    when y is one, else x)."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)  # only the else branch runs
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name.split(".")[0] == "turnpoint")
            elif isinstance(child, ast.ImportFrom) and child.module and child.module.split(".")[0] == "turnpoint":
                for alias in child.names:
                    submodule = f"{child.module}.{alias.name}"
                    found.add(submodule if submodule in known else child.module)
            stack.append(child)
    return found & known


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(ast.parse(path.read_text(encoding="utf-8")), known) - {name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_graph_reader_sees_imports_and_cycles() -> None:
    tree = ast.parse(
        "from turnpoint.core import audio\n"
        "from turnpoint.changes.detect import detect_changes\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from turnpoint.events.model import SoundEventConfig\n"
        "def later():\n    import turnpoint.cli.main\n"
    )
    known = {"turnpoint.core", "turnpoint.core.audio", "turnpoint.changes.detect", "turnpoint.events.model", "turnpoint.cli.main"}
    assert _imports(tree, known) == {"turnpoint.core.audio", "turnpoint.changes.detect", "turnpoint.cli.main"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_core_imports_no_task_and_no_cli() -> None:
    offenders = {
        name: sorted(target for target in targets if _area(target) in (*TASKS, "cli"))
        for name, targets in _graph().items() if name.startswith("turnpoint.core")
    }
    assert {name: targets for name, targets in offenders.items() if targets} == {}


@pytest.mark.parametrize("task", TASKS)
def test_a_task_shares_only_the_core_with_the_other(task: str) -> None:
    others = {other for other in TASKS if other != task} | {"cli"}
    offenders = {
        name: sorted(target for target in targets if _area(target) in others)
        for name, targets in _graph().items() if name.startswith(f"turnpoint.{task}")
    }
    assert {name: targets for name, targets in offenders.items() if targets} == {}
