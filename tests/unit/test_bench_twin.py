"""The benchmark's twin (bench/twin_handler.py) runs our handler modules beside the official SDK:
its artifact must hold every handler module the twin's import loads, or `make bench-sdk` fails
after building everything (as it did when handler/values.py was new)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.unit.test_architecture import MODULES, handler_imports

ROOT = Path(__file__).resolve().parents[2]


def twin_handler_modules() -> set[str]:
    """TWIN_HANDLER_MODULES, read from bench/sdk_benchmark.py, as module names."""
    tree = ast.parse((ROOT / "bench" / "sdk_benchmark.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "TWIN_HANDLER_MODULES" for t in node.targets):
            paths = ast.literal_eval(node.value)
            break
    else:
        raise AssertionError("no TWIN_HANDLER_MODULES in bench/sdk_benchmark.py")
    names = set()
    for path in paths:
        parts = ["handler", *Path(path).with_suffix("").parts]
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def loaded_at_import(roots: set[str]) -> set[str]:
    """Every handler module that importing `roots` loads (module-level imports, and packages)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in MODULES:
            continue
        seen.add(name)
        todo += handler_imports(name, module_level_only=True)
        todo += [name.rpartition(".")[0]] if "." in name else []
    return seen


def test_the_twins_artifact_holds_every_handler_module_its_import_loads() -> None:
    twin = ast.parse((ROOT / "bench" / "twin_handler.py").read_text())
    roots = {
        f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
        for node in twin.body
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("handler")
        for alias in node.names
    }

    missing = loaded_at_import(roots) - twin_handler_modules()

    assert "handler.app" in roots
    assert missing == set()
