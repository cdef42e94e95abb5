"""The shape of the code, read from its imports (every import, lazy ones included):

- the domain (cleanup, models) imports no HTTP library, no event envelope, no SDRS client;
- the SDRS client package imports no trigger, edge, core or domain module;
- each edge (Lambda, the SMN Function URL, FunctionGraph) goes through the core, never to the
  triggers or the domain directly, and no edge imports another (FunctionGraph never loads the
  Lambda edge's Metrics, Lambda never the FunctionGraph edge);
- nothing shipped imports handler/local (the CLI and the emulator are not in the artifact);
- the module-level imports of the package have no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "handler"
DOMAIN = {"handler.cleanup", "handler.models"}
ENVELOPES = {
    "handler.triggers",
    "handler.envelopes.cloudwatch",
    "handler.envelopes.direct",
    "handler.envelopes.sqs",
    "handler.envelopes.functiongraph",
    "handler.envelopes.sns",
}
EDGES = {"handler.app", "handler.function_url", "handler.functiongraph"}
CLIENT_MODULE = "handler.sdrs.client"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(path: Path, module_level_only: bool = False) -> set[str]:
    """Every module `path` imports (for `from a import b`: a, and a.b when that is a module)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue  # for the type checker only: never imported at run time
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and module_level_only:
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child, top)

    visit(tree, True)
    return found


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
SHIPPED = {name: path for name, path in MODULES.items() if not name.startswith("handler.local")}


def handler_imports(name: str, module_level_only: bool = False) -> set[str]:
    return {m for m in imports(MODULES[name], module_level_only) if m in MODULES}


def test_the_modules_are_found() -> None:
    assert {"handler.app", "handler.core", "handler.cleanup", "handler.sdrs.client", "handler.local.cli"} <= set(
        MODULES
    )
    assert set(MODULES) >= ENVELOPES


@pytest.mark.parametrize("name", sorted(DOMAIN))
def test_the_domain_knows_no_http_no_envelope_and_no_client(name: str) -> None:
    used = imports(MODULES[name])
    assert not {m for m in used if m == "httpx" or m.startswith("httpx.")}
    assert not used & (ENVELOPES | EDGES | {CLIENT_MODULE, "handler.core"})


@pytest.mark.parametrize("name", sorted(n for n in SHIPPED if n.startswith("handler.sdrs")))
def test_the_client_package_knows_no_trigger_edge_core_or_domain(name: str) -> None:
    assert not handler_imports(name) & (ENVELOPES | EDGES | DOMAIN | {"handler.core"})


@pytest.mark.parametrize("name", sorted(EDGES))
def test_an_edge_goes_through_the_core(name: str) -> None:
    used = handler_imports(name)
    assert "handler.core" in used
    assert not used & (ENVELOPES | DOMAIN | {CLIENT_MODULE})


@pytest.mark.parametrize("name", ["handler.app", "handler.functiongraph"])
def test_a_platform_edge_imports_no_other_platform_edge(name: str) -> None:
    """The Function URL edge is part of the Lambda platform (imported lazily by handler.app)."""
    others = {"handler.app", "handler.functiongraph"} - {name}
    if name == "handler.functiongraph":
        others |= {"handler.function_url", "handler.smn"}
    assert not handler_imports(name) & others


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_nothing_shipped_imports_the_local_tools(name: str) -> None:
    assert not {m for m in handler_imports(name) if m.startswith("handler.local")}


def test_no_import_cycle() -> None:
    graph = {name: handler_imports(name, module_level_only=True) - {name} for name in MODULES}
    done: set[str] = set()

    def walk(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join((*path[path.index(name) :], name)))
        if name in done:
            return
        for target in sorted(graph.get(name, ())):
            if target.rpartition(".")[0] != name:  # a package importing its own submodule is no cycle
                walk(target, (*path, name))
        done.add(name)

    for name in sorted(graph):
        walk(name, ())


def test_the_checks_can_fail() -> None:
    """The reader sees what it should: the client module imports httpx, the core the triggers."""
    assert "httpx" in imports(MODULES[CLIENT_MODULE])
    assert "handler.triggers" in handler_imports("handler.core")
