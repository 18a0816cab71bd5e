"""The package's layers: a module imports only from its own layer or lower ones, and no
two modules import each other, not even lazily (imports under ``TYPE_CHECKING`` are for
the type checker only and do not count; imports inside functions load on first use and
count as any other)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "sessionary"

# Lowest first. A module belongs to the first entry that is it or a package above it.
LAYERS: list[tuple[str, ...]] = [
    (
        "errors",
        "clock",
        "tokens",
        "serializer",
        "limits",
        "caching",
        "takeover",
        "config",
        "presets",
        "expiry",
        "version",
        "nearcache",
    ),
    ("cookies", "events"),
    ("stores",),
    ("ops", "state", "devices"),
    ("takeover.carry", "reuse"),
    ("cycle", "accounts"),
    ("shell",),
    ("session",),
    ("lifecycle",),
    ("cleanup_scheduler", "store_report", "telemetry"),
    ("manager",),
    ("auth", "testing"),
    ("integrations", "django", "dbsc", "cli", "demo", "takeover.bulk", "__init__"),
]


def layer_of(module: str) -> int:
    parts = module.split(".")[1:] or ["__init__"]
    for depth in range(len(parts), 0, -1):
        name = ".".join(parts[:depth])
        for index, layer in enumerate(LAYERS):
            if name in layer:
                return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(text: str, module: str, *, is_package: bool) -> list[tuple[str, bool]]:
    """The sessionary modules a source imports, each with whether it is imported when the
    module itself is (True), or only when a function runs (False)."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, at_import: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for other in node.orelse:
                visit(other, at_import)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] == "sessionary":
                found.append((target, at_import))
                for alias in node.names:  # ``from . import cycle`` imports a module
                    candidate = f"{target}.{alias.name}"
                    as_file = PACKAGE.parent / candidate.replace(".", "/")
                    if as_file.with_suffix(".py").exists() or (as_file / "__init__.py").exists():
                        found.append((candidate, at_import))
            return
        if isinstance(node, ast.Import):
            found.extend(
                (alias.name, at_import) for alias in node.names if alias.name.startswith("sessionary")
            )
            return
        inner = at_import and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(text), True)
    return found


def imports(path: Path) -> list[tuple[str, bool]]:
    return imports_of(path.read_text(), module_name(path), is_package=path.name == "__init__.py")


def upward(module: str, found: list[tuple[str, bool]]) -> list[str]:
    """The imports of ``module`` that reach a higher layer (its own package aside)."""
    own = layer_of(module)
    return [
        target
        for target, _ in found
        if target != "sessionary" and not module.startswith(target + ".") and layer_of(target) > own
    ]


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "templates" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_nothing_from_a_higher_layer(path: Path) -> None:
    module = module_name(path)
    higher = upward(module, imports(path))
    assert not higher, f"{module} (layer {layer_of(module)}) imports from higher layers: {higher}"


def test_no_two_modules_import_each_other() -> None:
    graph: dict[str, set[str]] = {}
    for path in SOURCES:
        module = module_name(path)
        graph[module] = {target for target, _ in imports(path) if target != module}
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    cycle: list[str] = []

    def walk(module: str, path: list[str]) -> bool:
        seen[module] = 1
        for target in sorted(graph.get(module, ())):
            if target.startswith(module + "."):
                continue  # a package importing its own submodule
            if seen.get(target) == 1:
                cycle.extend([*path[path.index(target) :], target] if target in path else [module, target])
                return True
            if seen.get(target) is None and walk(target, [*path, target]):
                return True
        seen[module] = 2
        return False

    for module in sorted(graph):
        if seen.get(module) is None and walk(module, [module]):
            break
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_layering_check_refuses_an_upward_import() -> None:
    """The check above can fail: a low module importing the session, even lazily, is refused;
    one that imports it for the type checker only is not."""
    lazy = "def f():\n    from .session import Session\n"
    assert upward("sessionary.expiry", imports_of(lazy, "sessionary.expiry", is_package=False)) == [
        "sessionary.session"
    ]
    typing_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .session import Session\n"
    assert upward("sessionary.expiry", imports_of(typing_only, "sessionary.expiry", is_package=False)) == []
    from_package = "from .. import cycle\n"
    assert upward(
        "sessionary.stores.memory", imports_of(from_package, "sessionary.stores.memory", is_package=False)
    ) == ["sessionary.cycle"]
