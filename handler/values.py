"""`@value_object`, how the package declares its value objects (requests, results, settings, replies)."""

from __future__ import annotations

from dataclasses import Field, dataclass, field
from typing import dataclass_transform


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def value_object[T](cls: type[T]) -> type[T]:
    """A dataclass with `__slots__`, and `__eq__` and `__hash__` over its fields, that the type
    checker holds immutable (`make typecheck`, mypy --strict: assigning a field is an error, as
    for `frozen=True`). It is not frozen at run time: a frozen dataclass's generated methods cost
    about 1.6 M more instructions to compile, at import, for each class (3.8 % of a cold start
    here, BENCHMARKS.md), and its `__init__` sets each field through `object.__setattr__`.
    tests/unit/test_values.py holds both halves to this."""
    return dataclass(slots=True, unsafe_hash=True)(cls)
