"""The package's shape: two programs over a small core, no import cycle, and
one module that knows cheroot.

Read from the source (ast), so a forbidden import fails here even when no
test happens to execute it.  ``tools/`` (make run's demo, the man pages)
drives both programs and is not part of the package.
"""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from helpers import REPO

PACKAGE = REPO / "chipmunk"
#: the one module that may import cheroot
CHEROOT_BOUNDARY = "chipmunk.server.hosting"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(source: str, name: str, is_package: bool = False,
               type_only: bool = True, prefix: str = "chipmunk") -> set[str]:
    """Modules the module ``name`` imports whose name starts with ``prefix``;
    ``type_only`` False: not those under TYPE_CHECKING."""
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(source)
    skipped = set() if type_only else {
        id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
        and getattr(block.test, "id", "") == "TYPE_CHECKING" for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[:len(parts) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {item for item in found if item.startswith(prefix)}


def imports_of(path: Path, prefix: str = "chipmunk") -> set[str]:
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py",
                      prefix=prefix)


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {target for target in imports_of(path) if target in modules
                   and target != name}
            for name, path in modules.items()}


def program_of(name: str) -> str | None:
    for program in ("chipmunk.server", "chipmunk.client"):
        if name == program or name.startswith(program + "."):
            return program
    return None


def test_the_programs_never_import_each_other_and_the_core_neither():
    edges = graph()
    wrong = []
    for source, targets in edges.items():
        for target in targets:
            mine, theirs = program_of(source), program_of(target)
            if theirs is None or mine == theirs:
                continue
            wrong.append(f"{source} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_import_graph_has_no_cycle_not_even_for_types():
    edges = graph()
    # a module importing its own package's __init__ is how Python packages work
    edges = {name: {t for t in targets if not name.startswith(t + ".")}
             for name, targets in edges.items()}
    visiting, done, cycles = set(), set(), []

    def visit(node: str, path: list[str]) -> None:
        if node in done:
            return
        if node in visiting:
            cycles.append(" -> ".join(path[path.index(node):] + [node]))
            return
        visiting.add(node)
        for target in sorted(edges.get(node, ())):
            visit(target, path + [node])
        visiting.discard(node)
        done.add(node)

    for node in sorted(edges):
        visit(node, [])
    assert not cycles, "\n".join(cycles)


def test_the_checker_resolves_relative_and_absolute_imports():
    source = ("from ..server import app\nimport chipmunk.server.auth\n"
              "from . import state\nfrom ... import nothing_beyond\n"
              "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
              "    from ..server import hosting\n")
    found = imports_in(source, "chipmunk.client.example")
    assert {"chipmunk.server", "chipmunk.server.app", "chipmunk.server.auth",
            "chipmunk.client.state"} <= found
    assert "chipmunk.server.hosting" in found, "type-only imports count for cycles"
    run_time = imports_in(source, "chipmunk.client.example", type_only=False)
    assert "chipmunk.server.hosting" not in run_time


def test_only_hosting_imports_cheroot():
    importers = {module_name(path) for path in PACKAGE.rglob("*.py")
                 if imports_of(path, prefix="cheroot")}
    assert importers == {CHEROOT_BOUNDARY}


def test_the_tools_are_not_in_the_package():
    assert not (PACKAGE / "demo.py").exists() and not (PACKAGE / "manpages.py").exists()
    assert (REPO / "tools" / "demo.py").exists() and (REPO / "tools" / "manpages.py").exists()


def test_every_subpackage_goes_into_the_wheel():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    assert find["include"] == ["chipmunk*"]
    packages = {module_name(path.parent / "__init__.py") for path in PACKAGE.rglob("*.py")}
    assert {"chipmunk", "chipmunk.server", "chipmunk.client",
            "chipmunk.providers"} <= packages
    assert all((REPO / package.replace(".", "/") / "__init__.py").exists()
               for package in packages), "a folder of modules without __init__.py"


def test_no_test_module_imports_another():
    """What tests share lives in harness modules (helpers, inprocess, hashes,
    tlsfiles, the fakes) and conftest.py, never in a test module."""
    modules = sorted((REPO / "tests").glob("test_*.py"))
    names = {path.stem for path in modules}
    wrong = [f"{path.name} imports {name}" for path in modules
             for name in imports_in(path.read_text(), path.stem, prefix="test_")
             if name in names]
    assert not wrong, "\n".join(wrong)
