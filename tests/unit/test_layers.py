"""The import rules of docs/architecture.md: imports point down the layers, chem/ stays apart from training/, and no
two files import each other in a circle. Read from the source with `ast`, so nothing is imported to check it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import molpeft_cli

PACKAGE = Path(molpeft_cli.__file__).parent

# the floors of DESIGN.md's Layout (docs/architecture.md), top first: a module imports its own floor and those below
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("cli", ("cli", "__main__")),
    ("api", ("api", "")),  # "": the package's __init__, the lazy face over api
    ("pipeline", ("pipeline",)),
    ("steps", ("steps",)),
    ("selection/influence/tuning/report", ("selection", "influence", "tuning", "report")),
    ("training", ("training",)),
    ("model", ("model",)),
    ("adapters/data/chem", ("adapters", "data", "chem")),
    ("ground floor", ("errors", "settings", "schema", "choices", "cells", "progress", "console", "tasks")),
]

# the library below the steps works on tables and tensors: it never reaches up into these
LIBRARY = ("data", "chem", "adapters", "model", "training")
ABOVE_LIBRARY = ("steps", "pipeline", "selection", "influence", "report", "tuning")

# Imports that still break the order, each with the reason and who fixes it. Keep this list short and shrinking:
# a new entry needs a reason, and an entry whose import is gone fails the test (so it is removed).
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The molpeft_cli modules an import statement names (`from pkg import sub` names pkg.sub when it is one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "molpeft_cli"]
    base = node.module or ""
    if node.level:  # relative: from the module's package
        package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
    if base.split(".")[0] != "molpeft_cli":
        return []
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(module: str, module_level_only: bool) -> set[str]:
    """What `module` imports: everywhere (functions too), or only what runs when it loads (not inside functions,
    not under `if TYPE_CHECKING:`)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if module_level_only and (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                                  or _is_type_checking(node)):
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(_targets(module, node))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(MODULES[module].read_text(), str(MODULES[module])))
    found.discard(module)
    return found


ALL_IMPORTS = {m: _imports(m, module_level_only=False) for m in MODULES}
LOAD_IMPORTS = {m: _imports(m, module_level_only=True) for m in MODULES}


def _top(module: str) -> str:
    """The first part under molpeft_cli: `steps` for molpeft_cli.steps.select, '' for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _floor(module: str) -> int:
    """0 for the top floor (cli), counting down."""
    for index, (_, members) in enumerate(FLOORS):
        if _top(module) in members:
            return index
    raise AssertionError(f"{module} is on no floor of the Layout; add its package to FLOORS (and to "
                         "docs/architecture.md)")


def _violations(rule) -> list[str]:
    return sorted(f"{a} imports {b}" for a, targets in ALL_IMPORTS.items() for b in targets
                  if rule(a, b) and (a, b) not in ALLOWED_UPWARD)


def test_every_module_is_on_a_floor():
    for module in MODULES:
        _floor(module)


def test_the_library_does_not_reach_up():
    assert _violations(lambda a, b: _top(a) in LIBRARY and _top(b) in ABOVE_LIBRARY) == []


def test_chem_imports_nothing_from_training():
    assert _violations(lambda a, b: _top(a) == "chem" and _top(b) == "training") == []


def test_imports_point_down_the_layers():
    names = [name for name, _ in FLOORS]
    upward = [f"{v} ({names[_floor(v.split()[0])]} -> {names[_floor(v.split()[-1])]})"
              for v in _violations(lambda a, b: _floor(b) < _floor(a))]
    assert upward == []


def test_allowed_upward_imports_still_exist():
    # an allow-list entry whose import is gone is stale: delete it
    stale = [pair for pair in ALLOWED_UPWARD if pair[1] not in ALL_IMPORTS.get(pair[0], set())]
    assert stale == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Circles of a directed graph found by depth-first search (each at least once)."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in graph:
                continue
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_no_import_cycle_between_files():
    assert [" -> ".join(c) for c in _cycles(LOAD_IMPORTS)] == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("source, expected", [
    ("from molpeft_cli.steps import finetune", {"molpeft_cli.steps.finetune"}),
    ("from molpeft_cli.selection import REGISTRY", {"molpeft_cli.selection"}),
    ("import molpeft_cli.chem.audit", {"molpeft_cli.chem.audit"}),
    ("def f():\n    from molpeft_cli.training import options", {"molpeft_cli.training.options"}),
])
def test_the_reader_finds_module_and_function_level_imports(source, expected):
    tree = ast.parse(source)
    found = {t for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
             for t in _targets("molpeft_cli.cells", node)}
    assert found == expected
