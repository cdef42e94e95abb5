"""Small helpers shared by the test modules."""

from __future__ import annotations

from collections.abc import Mapping

import pytest


def change_env(monkeypatch: pytest.MonkeyPatch, changes: Mapping[str, str | None]) -> None:
    """Set each variable to its value, or unset it (if set) where the value is None."""
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
