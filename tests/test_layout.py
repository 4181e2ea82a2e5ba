"""The layout of modules/: no import circle among the project's own modules, at run time or in annotations,
and no package-init loop."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = "modules"


def module_name(path: Path) -> str:
    """modules/config/env.py -> modules.config.env; modules/config/__init__.py -> modules.config."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every import statement in the tree: function bodies and `if TYPE_CHECKING:` blocks included (an import
    for annotations only still ties the two modules together: each names the other's types)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports: `from a.b import c` is a.b.c when that is a module, else a.b."""
    found = set()
    is_package = path.name == "__init__.py"
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        found |= {t for t in targets if t in known and t != name}
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}
    known = set(paths)
    return {name: imported_modules(name, path, known) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep, path + [dep])
                if cycle:
                    return cycle
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def test_modules_have_no_import_cycles():
    """No circle among modules/**/*.py, counting every import a module names.

    Imports inside functions count: an import moved into a function to dodge a cycle still ties the two
    modules together; only the order of loading changed. Imports under `if TYPE_CHECKING:` count too: two
    modules that name each other's types are one module in two files. `from pkg import X` is an edge to the
    submodule pkg.X when X is one, else to pkg's __init__. The implicit step of running a parent package's
    __init__ before a submodule is test_no_package_init_loop's concern.
    """
    graph = import_graph()
    assert "modules.config.rules" in graph and "modules.config.env" in graph["modules.config.rules"]
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def package_init_loops(graph: dict[str, set[str]], from_imports: dict[str, set[str]]) -> list[str]:
    """`from P import ...` inside a module M below package P, where P's __init__ (transitively) imports M: M
    runs while P's __init__ is half done, and works only if the names it takes were bound first."""
    loops = []
    for module, packages in sorted(from_imports.items()):
        for package in sorted(packages):
            if module.startswith(package + ".") and module in reachable(graph, package):
                loops.append(f"{module} imports from {package}, whose __init__ imports {module}")
    return loops


def from_package_imports() -> dict[str, set[str]]:
    """module -> the packages it does `from <package> import ...` of (names, not submodules, or either)."""
    paths = {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}
    packages = {name for name, path in paths.items() if path.name == "__init__.py"}
    found: dict[str, set[str]] = {}
    for name, path in paths.items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in packages:
                found.setdefault(name, set()).add(node.module)
    return found


def test_no_package_init_loop():
    loops = package_init_loops(import_graph(), from_package_imports())
    assert not loops, "package-init loop: " + "; ".join(loops) + " (import the submodule by its own name)"


def test_the_package_init_loop_finder_finds_one():
    graph = {"p": {"p.a"}, "p.a": {"p.b"}, "p.b": set(), "q": set(), "q.c": set()}
    assert package_init_loops(graph, {"p.b": {"p"}, "q.c": {"q"}}) == [
        "p.b imports from p, whose __init__ imports p.b"]


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None

