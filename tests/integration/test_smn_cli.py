"""`sdrs-cleanup smn-deliver MESSAGE --emulator`: the whole SMN path run locally, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("message", ["direct-request.txt", "cloud-eye-alarm.json"])
def test_a_locally_signed_delivery_cleans_the_group_in_the_emulator(message: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SDRS_", "HUAWEICLOUD_", "POWERTOOLS_"))}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "handler.local.cli",
            "smn-deliver",
            str(ROOT / "events" / "smn" / message),
            "--emulator",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    response = json.loads(run.stdout)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["trigger"] == "smn"
    assert [(g["server_group_id"], g["outcome"]) for g in body["groups"]] == [
        ("decf224d-87fe-403a-8721-037a1a45c287", "deleted")
    ]
    assert "the Function URL answered HTTP 200" in run.stderr
