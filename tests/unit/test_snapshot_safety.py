"""SnapStart snapshots the process after import: importing the handler must open no
connection, read no secret and start no thread, so that the snapshot holds none of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Modules a first request needs besides httpx, and the models of each AWS trigger family: SnapStart's
# init imports them, a plain init does not.
FIRST_REQUEST = (
    "certifi",
    "httpcore",
    "handler.cleanup",
    "handler.sdrs.config",
    "handler.sdrs.client",
    "encodings.idna",
    "handler.envelopes.cloudwatch",
    "handler.envelopes.direct",
    "handler.envelopes.sns",
    "handler.envelopes.sqs",
)
# Runs in a fresh interpreter: an audit hook records what the import does.
PROBE = """
import gc, json, sys, threading
events = []
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.__new__", "urllib.Request", "subprocess.Popen"):
        events.append([event, repr(args)[:200]])
sys.addaudithook(hook)
threads = threading.active_count()
import handler.app
client = sys.modules.get("handler.sdrs.client")
print(json.dumps({"events": events, "new_threads": threading.active_count() - threads,
                  "clients": int(handler.app.RUNTIME.sdrs.current is not None),
                  "httpx": "httpx" in sys.modules,
                  "first_request_modules": sorted(set(FIRST_REQUEST_MODULES) & set(sys.modules)),
                  "tls_contexts": client.tls_context.cache_info().currsize if client else 0,
                  "ssl_contexts": sum(type(o).__name__ == "SSLContext" for o in gc.get_objects())}))
""".replace("FIRST_REQUEST_MODULES", repr(FIRST_REQUEST))


def probe(env: dict[str, str]) -> dict[str, Any]:
    """PROBE's report from a fresh interpreter with `env` as its whole environment."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_importing_the_handler_connects_to_nothing_and_reads_no_secret() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "SDRS_REGION": "cn-north-4",
        "SDRS_CREDENTIALS_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:s-AbCdEf",
        "AWS_SESSION_TOKEN": "token",
        "HOME": str(ROOT),
    }
    report = probe(env)

    assert report["events"] == []  # no socket, no DNS lookup, no HTTP, no subprocess
    assert report["new_threads"] == 0
    assert report["clients"] == 0
    assert report["httpx"] is False  # without SnapStart, nothing of the HTTP stack is paid at import
    assert report["first_request_modules"] == []  # nor the domain: an OK alarm needs none of it
    assert report["tls_contexts"] == 0
    assert report["ssl_contexts"] == 0


def test_with_snapstart_the_init_imports_the_first_request_and_still_connects_to_nothing() -> None:
    """AWS_LAMBDA_INITIALIZATION_TYPE=snap-start: the init imports the HTTP stack, the domain and
    every AWS shape's models so that a restored copy's first request starts warm; still no
    socket, no thread, no client (no credentials read), and no TLS context: making one seeds
    OpenSSL's random generator (a getrandom call), and every copy restored from the snapshot
    would go on from the same state."""
    env = {
        "PATH": "/usr/bin:/bin",
        "SDRS_REGION": "cn-north-4",
        "HUAWEICLOUD_SDK_AK": "AK-CANARY-SNAPSHOT",
        "HUAWEICLOUD_SDK_SK": "SK-CANARY-SNAPSHOT",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        "HOME": str(ROOT),
    }
    report = probe(env)

    assert report["events"] == []
    assert report["new_threads"] == 0
    assert report["clients"] == 0
    assert report["httpx"] is True
    assert report["first_request_modules"] == [
        "certifi",
        "encodings.idna",
        "handler.cleanup",
        "handler.envelopes.cloudwatch",
        "handler.envelopes.direct",
        "handler.envelopes.sns",
        "handler.envelopes.sqs",
        "handler.sdrs.client",
        "handler.sdrs.config",
        "httpcore",
    ]
    assert report["tls_contexts"] == 0
    assert report["ssl_contexts"] == 0
