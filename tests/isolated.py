"""What the tests of the built packages share: the host they can run on, the interpreters that run
them in isolation (-I -S -B: no site-packages, no PYTHONPATH, no current directory), and the check
that whatever the probe imported came from the package under test."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}

# The packages hold manylinux wheels: they run on Linux x86_64 or aarch64 only, each built for this host.
manylinux_host = pytest.mark.skipif(
    sys.platform != "linux" or platform.machine().lower() not in MACHINES,
    reason="the package holds manylinux wheels: it runs on Linux x86_64 or aarch64 only",
)


def host_platform() -> str:
    """The manylinux platform tag (uv's --python-platform) of this host."""
    return f"{MACHINES[platform.machine().lower()]}-manylinux2014"


def pyenv_python(version: str) -> Path | None:
    """The interpreter the Makefile picks for `version` (e.g. "3.12"): the last, in sorted order, of
    $PYENV_ROOT/versions/<version>.*/bin/python<version>, PYENV_ROOT being the environment's, else
    `pyenv root`, else ~/.pyenv. None when there is none."""
    root = os.environ.get("PYENV_ROOT")
    if not root and (pyenv := shutil.which("pyenv")):
        done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        root = done.stdout.strip() if done.returncode == 0 else None
    found = sorted(Path(root or Path.home() / ".pyenv").glob(f"versions/{version}.*/bin/python{version}"))
    return found[-1] if found else None


def assert_from(files: dict[str, Any], package: Path) -> None:
    """Every module the probe reports (name: __file__) was loaded from `package`."""
    for name, file in files.items():
        assert Path(file).is_relative_to(package), f"{name} came from {file}, not from {package}"
