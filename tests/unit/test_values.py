"""`@value_object` (handler/values.py): at run time a slotted dataclass, hashed and compared by its
fields but not frozen (a frozen dataclass's methods cost more to compile at import); to the type
checker frozen, so that no code that passes `make typecheck` assigns a field."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy

ROOT = Path(__file__).resolve().parents[2]


def value_objects() -> list[tuple[str, str]]:
    """(module, class) for every class the shipped package declares with @value_object."""
    found = []
    for path in sorted((ROOT / "handler").rglob("*.py")):
        if "local" in path.relative_to(ROOT).parts:
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(ast.unparse(d) == "value_object" for d in node.decorator_list):
                found.append((module, node.name))
    return found


VALUE_OBJECTS = value_objects()


def test_the_value_objects_are_found() -> None:
    names = {name for _, name in VALUE_OBJECTS}
    assert {"GroupTarget", "GroupResult", "InvocationResult", "Settings", "ClientConfig", "Credentials"} <= names
    assert len(VALUE_OBJECTS) >= 25


def test_no_shipped_dataclass_is_frozen_at_run_time() -> None:
    """The import cost the decorator spares comes back with any `frozen=True` (the SMN edge's two
    dataclasses, on the Function URL path only, are left as they are)."""
    frozen = []
    for path in sorted((ROOT / "handler").rglob("*.py")):
        if "local" in path.relative_to(ROOT).parts or path.name == "smn.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                frozen += [f"{path.name}:{node.lineno}" for d in node.decorator_list if "frozen=True" in ast.unparse(d)]
    assert frozen == []


@pytest.mark.parametrize(("module", "name"), VALUE_OBJECTS)
def test_a_value_object_is_a_slotted_dataclass_hashed_by_its_fields(module: str, name: str) -> None:
    cls = getattr(importlib.import_module(module), name)

    assert dataclasses.is_dataclass(cls)
    assert "__slots__" in vars(cls)
    assert "__dict__" not in cls.__slots__  # instances have no __dict__
    params = cls.__dataclass_params__
    assert params.eq
    assert params.unsafe_hash  # __hash__ over the fields, as a frozen dataclass has
    assert not params.frozen
    assert cls.__hash__ is not None
    assert cls.__hash__ is not object.__hash__


def test_equal_value_objects_hash_alike_and_key_one_entry() -> None:
    from handler.models import GroupTarget

    project, group = "0123456789abcdef0123456789abcdef", "decf224d-87fe-403a-8721-037a1a45c287"
    first, second = GroupTarget(project, group), GroupTarget(project, group)

    assert first == second
    assert first is not second
    assert hash(first) == hash(second)
    assert len({first: 1, second: 2}) == 1
    assert GroupTarget(project, group.replace("d", "e")) != first


# Each line assigns a field of a value object, as code that mutated one would; the last one is
# allowed (a plain class), so that a mypy that flagged everything would fail here too.
SNIPPET = """
from handler.models import GroupResult, GroupTarget, Outcome
from handler.sdrs.config import ClientConfig
from handler.settings import load_settings

def mutate(target: GroupTarget, result: GroupResult, config: ClientConfig) -> None:
    target.server_group_id = "other"
    result.outcome = Outcome.DELETED
    config.page_size = 1
    settings = load_settings({})
    settings.max_concurrency = 1

class Plain:
    field = 0

def allowed(plain: Plain) -> None:
    plain.field = 1
"""


def test_the_type_checker_refuses_an_assignment_to_any_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snippet = tmp_path / "mutates.py"
    snippet.write_text(textwrap.dedent(SNIPPET))
    monkeypatch.chdir(ROOT)  # the project's mypy configuration (strict, the pydantic plugin)
    monkeypatch.setenv("MYPYPATH", str(ROOT))

    report, errors, status = mypy.run([str(snippet)])

    flagged = sorted(
        int(line.split("mutates.py:")[1].split(":")[0]) for line in report.splitlines() if "read-only" in line
    )
    assert status == 1, report + errors
    assert flagged == [7, 8, 9, 11], report
    assert "Found 4 errors" in report, report
