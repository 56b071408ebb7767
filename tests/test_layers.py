"""The package's structure, read from its imports: layers, no cycles, small modules.

Every import counts, type-only ones (under ``TYPE_CHECKING``) and ones inside
functions included. The rules are in docs/architecture.md.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gateway"

# The gateway subpackages each layer may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "runtime": set(),
    "protocol": set(),
    "store": {"protocol", "runtime"},
    "ws": {"protocol", "runtime", "store"},
    "api": {"protocol", "runtime", "store"},
    "console": {"runtime"},
    "node": {"protocol", "runtime", "store", "ws", "api", "console"},
    "client": set(),
    "bench": {"client", "runtime", "node"},
    "": {"node"},  # gateway/__main__.py
}
# Third-party libraries a layer must not import.
FORBIDDEN_LIBRARIES: dict[str, set[str]] = {
    "protocol": {"aiohttp", "redis", "hiredis"},
    "store": {"aiohttp"},
    "ws": {"redis", "hiredis"},
    "api": {"redis", "hiredis"},
    "console": {"redis", "hiredis"},
    "client": {"redis", "hiredis"},
}
# Only the store builds Redis keys (and the node bus names its pub/sub channel).
KEY_LAYOUT = "gateway.store.keys"
KEY_USERS = ("gateway.store", "gateway.node.bus")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 40


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def layer(self) -> str:
        """The subpackage the module is in ("" for the package's own top-level files)."""
        return (
            layer_of(self.name)
            if self.path.name == "__init__.py"
            else layer_of(self.name.rpartition(".")[0])
        )


def modules(root: Path) -> dict[str, Module]:
    """Every module of the package at ``root``, by dotted name."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        found[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    return found


def imported(module: Module, known: set[str]) -> Iterator[str]:
    """The names ``module`` imports: modules of the package, or top-level libraries."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name if alias.name in known else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != module.name.split(".")[0]:
                yield node.module.split(".")[0]
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in known else node.module


def graph(found: dict[str, Module]) -> dict[str, set[str]]:
    """Module to the package's modules it imports."""
    known = set(found)
    return {
        name: {target for target in imported(module, known) if target in known} - {name}
        for name, module in found.items()
    }


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    """The modules ``start`` reaches through one or more imports."""
    seen: set[str] = set()
    todo = list(edges.get(start, ()))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges.get(name, ()))
    return seen


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import one another, directly or not."""
    reach = {name: reachable(edges, name) for name in edges}
    groups = {
        frozenset({name} | {other for other in reach[name] if name in reach[other]})
        for name in edges
        if name in reach[name]
    }
    return sorted(sorted(group) for group in groups)


def layer_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_violations(found: dict[str, Module]) -> list[str]:
    """Imports that go upward or sideways between layers, or to a forbidden library."""
    known = set(found)
    problems = []
    for name, module in found.items():
        layer = module.layer
        for target in imported(module, known):
            if target in known:
                other = layer_of(target)
                if other != layer and other not in ALLOWED.get(layer, set()):
                    problems.append(f"{name} imports {target} ({layer or 'top'} -> {other})")
                if target == KEY_LAYOUT and not name.startswith(KEY_USERS):
                    problems.append(f"{name} builds Redis keys ({KEY_LAYOUT})")
            elif target in FORBIDDEN_LIBRARIES.get(layer, set()):
                problems.append(f"{name} imports {target}, which layer {layer} must not")
    return problems


@pytest.fixture(scope="module")
def package() -> dict[str, Module]:
    return modules(PACKAGE)


def test_every_layer_is_known(package: dict[str, Module]) -> None:
    assert {module.layer for module in package.values()} <= set(ALLOWED)


def test_layers_import_only_downward(package: dict[str, Module]) -> None:
    assert layer_violations(package) == []


def test_no_import_cycle(package: dict[str, Module]) -> None:
    assert cycles(graph(package)) == []


def test_modules_and_functions_are_small(package: dict[str, Module]) -> None:
    long_modules = [
        f"{m.path.name}: {n} lines"
        for m in package.values()
        if (n := len(m.path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    long_functions = [
        f"{m.name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for m in package.values()
        for node in ast.walk(m.tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long_modules == [] and long_functions == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / "gateway" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "gateway"


def test_checker_finds_a_type_only_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The rules above catch what they are for: shown on a small package made here."""
    root = _write(
        tmp_path,
        {
            "__init__.py": "",
            "protocol/__init__.py": "",
            "protocol/procedures.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from gateway.ws.session import Session\n",
            "ws/__init__.py": "",
            "ws/session.py": "from gateway.protocol import procedures\nimport redis\n",
        },
    )
    found = modules(root)
    assert cycles(graph(found)) == [["gateway.protocol.procedures", "gateway.ws.session"]]
    assert layer_violations(found) == [
        "gateway.protocol.procedures imports gateway.ws.session (protocol -> ws)",
        "gateway.ws.session imports redis, which layer ws must not",
    ]
