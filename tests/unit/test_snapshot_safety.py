"""SnapStart snapshots the process after import: importing the handler must open no
connection, read no secret and start no thread, so that the snapshot holds none of them; and
every copy restored from the snapshot must reseed the random generators whose state it holds
before its first invocation draws on them."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

from handler.snapstart import reseed_random_generators
from tests.openssl_drbg import draw_private, reseed_counters

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
gc.unfreeze()  # the entry point froze what its import made: gc.get_objects() lists only what is not frozen
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
    every AWS shape's models, and makes the TLS context, so that a restored copy's first request
    starts warm; still no socket, no thread and no client (no credentials read)."""
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
    assert report["tls_contexts"] == 1  # the one every connection pool verifies with
    assert report["ssl_contexts"] == 1


# Runs in a fresh interpreter: the import (the init), then two invocations of an OK-state alarm
# (no request, so nothing of the function's own work draws on a generator), with OpenSSL's
# primary generator's reseed counter and `random`'s state read around each, and every draw of
# `random.random` (Powertools' log sampling) recorded beside the one the snapshot's state gives next.
RESTORE_PROBE = """
import json, random, sys
from tests.openssl_drbg import reseed_counter
import handler.app

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "sdrs-cleanup", 512, "req"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:sdrs-cleanup"
    def get_remaining_time_in_millis(self): return 60_000

snapshot_state = random.Random()
snapshot_state.setstate(random.getstate())
draws, draw = [], random.random
random.random = lambda: draws.append(draw()) or draws[-1]
event = json.load(open("events/sns-alarm-ok.json"))
readings = [(reseed_counter("primary"), random.getstate(), 0)]
for _ in range(2):
    result = handler.app.lambda_handler(event, Context())
    assert result["ok"] and result["groups"] == [], result
    readings.append((reseed_counter("primary"), random.getstate(), len(draws)))
pairs = list(zip(readings, readings[1:]))
print(json.dumps({"primary_reseeds": [after[0] - before[0] for before, after in pairs],
                  "random_reseeded": [after[1] != before[1] for before, after in pairs],
                  "draws": [draws[before[2]:after[2]] for before, after in pairs],
                  "snapshot_next_draw": snapshot_state.random()}))
"""


def restore_report(initialization_type: str, **environment: str) -> dict[str, Any]:
    env = {"PATH": "/usr/bin:/bin", "SDRS_REGION": "cn-north-4", "HOME": str(ROOT), **environment}
    env["AWS_LAMBDA_INITIALIZATION_TYPE"] = initialization_type
    done = subprocess.run(
        [sys.executable, "-c", RESTORE_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_a_restored_copy_reseeds_openssl_and_random_before_its_first_invocation_and_only_then() -> None:
    """The snapshot holds OpenSSL's generator state (the init made the TLS context) and `random`'s:
    each restored copy's first invocation reseeds both, so that no two copies share a TLS random
    or a key share; later invocations do not pay for it again."""
    report = restore_report("snap-start")

    assert report["primary_reseeds"] == [1, 0]
    assert report["random_reseeded"] == [True, False]
    assert report["draws"] == [[], []]  # no log sampling configured: the reseed alone changed `random`


def test_with_log_sampling_each_restored_copy_draws_its_own_decision_from_the_reseeded_state() -> None:
    """Powertools samples at import (in the snapshot, one decision for every copy) and does not
    sample again on a cold start: a restored copy's first invocation draws anew, after the reseed
    (a draw before it would be the snapshot state's next number, the same in every copy)."""
    report = restore_report("snap-start", POWERTOOLS_LOGGER_SAMPLE_RATE="0.5")

    first, second = report["draws"]
    assert len(first) == 1
    assert len(second) == 1
    assert first[0] != report["snapshot_next_draw"]


def test_without_snapstart_no_invocation_reseeds() -> None:
    """The control: an on-demand init has nothing of a snapshot's to refresh, and an OK alarm's
    invocation draws on neither generator itself (so the reseeds above are the restore's)."""
    report = restore_report("on-demand")

    assert report["primary_reseeds"] == [0, 0]
    assert report["random_reseeded"] == [False, False]
    assert report["draws"] == [[], []]


def test_openssl_passes_a_reseed_of_its_primary_generator_on_to_each_threads_generators() -> None:
    """What reseed_random_generators relies on: it reseeds OpenSSL's primary generator only, and
    a TLS handshake draws from this thread's public and private ones. OpenSSL 3 reseeds those from
    the primary at their next draw when the primary has been reseeded since; an OpenSSL that
    stopped doing so fails here, not silently in every restored copy."""
    ssl.create_default_context()  # the state after SnapStart's init: every generator seeded
    before = reseed_counters()

    reseed_random_generators()
    reseeded = reseed_counters()
    ssl.RAND_bytes(16)
    draw_private(16)
    drawn = reseed_counters()

    assert reseeded == {**before, "primary": before["primary"] + 1}
    assert drawn == {**reseeded, "public": before["public"] + 1, "private": before["private"] + 1}
