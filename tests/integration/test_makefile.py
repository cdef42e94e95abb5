"""`make run` and `make test` set themselves up wherever uv is: on PATH, in ~/.local/bin, only as
python3's module (`pip install uv` put its script where PATH does not look), or nowhere yet.

A fake `python3` on PATH stands in for the interpreter: it answers `-m uv --version` when "its"
uv is installed, and records `-m pip install` (which installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_PYTHON = """#!/bin/sh
state="$(dirname "$0")/state"
case "$*" in
  "-m uv --version") [ -f "$state/uv-installed" ] && echo "uv 0.0.0 (fake)" && exit 0; exit 1 ;;
  "-m pip install"*) echo "$*" >> "$state/pip-calls"; touch "$state/uv-installed"; exit 0 ;;
esac
exit 3
"""


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A PATH with make, sh and the core utilities, a fake python3, and no uv."""
    bin_dir = tmp_path / "bin"
    (bin_dir / "state").mkdir(parents=True)
    for tool in ("make", "sh", "bash", "dirname", "touch", "echo", "cat", "grep", "awk"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    python = bin_dir / "python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return bin_dir


def make(target: str, bin_dir: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(bin_dir), "HOME": str(home), "PYENV_ROOT": str(home / "no-pyenv")}
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), target], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_uv_only_as_a_module_of_python3_is_used_as_such(fake_bin: Path, tmp_path: Path) -> None:
    (fake_bin / "state" / "uv-installed").touch()
    run = make("print-uv", fake_bin, tmp_path)
    assert run.stdout.strip() == "python3 -m uv", run.stderr
    assert make("uv", fake_bin, tmp_path).returncode == 0
    assert not (fake_bin / "state" / "pip-calls").exists()  # present: nothing installed


def test_uv_in_local_bin_off_path_is_used(fake_bin: Path, tmp_path: Path) -> None:
    local = tmp_path / ".local" / "bin"
    local.mkdir(parents=True)
    (local / "uv").write_text("#!/bin/sh\necho 'uv 0.0.0 (local)'\n")
    (local / "uv").chmod(0o755)
    assert make("print-uv", fake_bin, tmp_path).stdout.strip() == str(local / "uv")


def test_uv_on_path_wins(fake_bin: Path, tmp_path: Path) -> None:
    (fake_bin / "uv").write_text("#!/bin/sh\necho 'uv 0.0.0 (path)'\n")
    (fake_bin / "uv").chmod(0o755)
    assert make("print-uv", fake_bin, tmp_path).stdout.strip() == str(fake_bin / "uv")


def test_missing_uv_is_installed_with_pip_then_used(fake_bin: Path, tmp_path: Path) -> None:
    run = make("uv", fake_bin, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "installing it with pip" in run.stderr
    calls = (fake_bin / "state" / "pip-calls").read_text().splitlines()
    assert calls == ["-m pip install --quiet --user uv"]
    assert make("print-uv", fake_bin, tmp_path).stdout.strip() == "python3 -m uv"


def test_a_uv_that_cannot_be_installed_stops_make_with_a_clear_message(fake_bin: Path, tmp_path: Path) -> None:
    broken = fake_bin / "python3"
    broken.write_text("#!/bin/sh\nexit 1\n")
    run = make("uv", fake_bin, tmp_path)
    assert run.returncode != 0
    assert "uv is still not usable" in run.stderr
    assert os.access(broken, os.X_OK)
