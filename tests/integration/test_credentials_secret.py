"""Credentials from a Secrets Manager secret, over loopback: the function reads them from the
fake Parameters and Secrets extension (tests/fake_extension.py, a real HTTP server) and signs
with them against the SDRS emulator, which verifies the signature and the security token.

Whole invocations through `handler.core.handle`, as the Lambda edge calls it (and `lambda_handler`
where the raise matters), with the function's own transports: what is checked is what both servers recorded.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handler import app
from handler.core import Invocation, Runtime, handle
from handler.local.emulator import (
    DEMO_AK,
    DEMO_GROUP_CLEAN,
    DEMO_GROUP_UNTOUCHED,
    DEMO_GROUP_WITH_FAILURES,
    DEMO_PROJECT_ID,
    DEMO_SK,
    LOCKOUT_THRESHOLD,
    RecordedRequest,
    SdrsEmulator,
    demo_state,
)
from handler.sdrs.config import SecretReference
from handler.sdrs.factory import ClientFactory
from handler.sdrs.secrets_extension import SecretsExtensionCredentials
from tests.conftest import FakeLambdaContext, ManualClock
from tests.fake_extension import TOKEN_HEADER, ExtensionFault, FakeSecretsExtension, secret_arn, unused_port

pytestmark = pytest.mark.slow  # a loopback server (and subprocesses): not in `make fast`

EVENTS = Path(__file__).resolve().parents[2] / "events"
ARN = secret_arn("sdrs-cleanup/huawei-credentials")
AWS_TOKEN = "IQoJb3JpZ2luX2VjEFAKE/aws+session=token"
NEW_AK = "ROTATEDACCESSKEY0002"
NEW_SK = "rotated-secret-key-not-a-real-credential"
TEMP_TOKEN = "temporary-security-token-0001"
NEW_TEMP_TOKEN = "temporary-security-token-0002"
SHORT_NAMES = ("access_key", "secret_key", "security_token")
SDK_NAMES = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN")
THREE_GROUPS = [DEMO_GROUP_WITH_FAILURES, DEMO_GROUP_UNTOUCHED, DEMO_GROUP_CLEAN]


def secret(access_key: Any, secret_key: Any, token: str | None = None, names: tuple[str, ...] = SHORT_NAMES) -> str:
    values = dict(zip(names, (access_key, secret_key, token), strict=True))
    return json.dumps({name: value for name, value in values.items() if value is not None})


@pytest.fixture
def emulator() -> Iterator[SdrsEmulator]:
    with SdrsEmulator(demo_state()) as running:
        yield running


@pytest.fixture
def extension() -> Iterator[FakeSecretsExtension]:
    with FakeSecretsExtension(AWS_TOKEN) as running:
        running.put_secret(ARN, secret(DEMO_AK, DEMO_SK))
        yield running


@pytest.fixture
def env(emulator: SdrsEmulator, extension: FakeSecretsExtension) -> dict[str, str]:
    """The emulator's environment with the credentials in the secret instead of variables."""
    static = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN")
    return {
        **{name: value for name, value in emulator.environment().items() if name not in static},
        "SDRS_CREDENTIALS_SECRET_ARN": ARN,
        "AWS_SESSION_TOKEN": AWS_TOKEN,
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(extension.port),
    }


def invoke(event: dict[str, Any], env: dict[str, str], runtime: Runtime = app.RUNTIME) -> tuple[dict[str, Any], bool]:
    """The core, as the Lambda edge calls it (by default with the edge's own warm client)."""
    disposition = handle(Invocation(event, 60.0, env, runtime))
    return disposition.body, disposition.must_raise


def extension_source(secret: Any, clock: Callable[[], float]) -> SecretsExtensionCredentials:
    """The function's secret-backed credential source, on a test clock (for its TTL)."""
    assert isinstance(secret, SecretReference)
    return SecretsExtensionCredentials(
        secret.arn, secret.aws_session_token, port=secret.port, ttl=secret.ttl, clock=clock
    )


def scheduled_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "eventbridge-scheduled.json").read_text())
    return event


def call_lambda(
    event: dict[str, Any], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any] | None, app.TransientFailure | None]:
    """`lambda_handler` with exactly `env` as the function's configuration."""
    for name in list(os.environ):
        if name.startswith(("SDRS_", "HUAWEICLOUD_", "PARAMETERS_SECRETS_")) or name == "AWS_SESSION_TOKEN":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        return app.lambda_handler(event, FakeLambdaContext()), None
    except app.TransientFailure as exc:
        return None, exc


def headers(call: RecordedRequest) -> dict[str, str]:
    return {name.lower(): value for name, value in call.headers.items()}


def access_key(call: RecordedRequest) -> str:
    match = re.search(r"Access=([^,]+),", headers(call)["authorization"])
    assert match is not None
    return match[1]


def signed_headers(call: RecordedRequest) -> list[str]:
    match = re.search(r"SignedHeaders=([^,]+),", headers(call)["authorization"])
    assert match is not None
    return match[1].split(";")


def count_401(emulator: SdrsEmulator) -> int:
    return sum(call.status == 401 for call in emulator.state.calls())


def assert_not_locked(emulator: SdrsEmulator) -> None:
    assert emulator.state._bad_signatures < LOCKOUT_THRESHOLD
    assert emulator.state._locked_until == 0.0


def rotate(emulator: SdrsEmulator, token: str | None = None) -> None:
    """The Huawei Cloud side of a rotation: the old key stops working."""
    state = emulator.state
    state.access_key, state.secret_key, state.security_token = NEW_AK, NEW_SK, token


def cold_start() -> None:
    """A new execution environment: no client, no cached credentials."""
    app.RUNTIME.sdrs.close()


def jobs_left(emulator: SdrsEmulator, group: str) -> int:
    return len(emulator.state.failure_jobs(DEMO_PROJECT_ID, group))


# --- credentials that work ------------------------------------------------------------------


@pytest.mark.parametrize("names", [SHORT_NAMES, SDK_NAMES], ids=["short-names", "sdk-names"])
def test_temporary_credentials_from_the_secret_work_end_to_end(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str], names: tuple[str, ...]
) -> None:
    emulator.state.security_token = TEMP_TOKEN
    extension.put_secret(ARN, secret(DEMO_AK, DEMO_SK, TEMP_TOKEN, names))

    result, must_raise = invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES}, env)

    assert (result["ok"], must_raise) == (True, False), result
    (group,) = result["groups"]
    assert (group["outcome"], len(group["failure_jobs"])) == ("deleted", 3)
    assert jobs_left(emulator, DEMO_GROUP_WITH_FAILURES) == 0
    assert jobs_left(emulator, DEMO_GROUP_UNTOUCHED) == 2
    calls = emulator.state.calls()
    assert [(c.route, c.status) for c in calls] == [("list_failure_jobs", 200), ("delete_group_failure_jobs", 204)]
    for call in calls:  # the emulator accepted the token, and it was signed
        assert headers(call)["x-security-token"] == TEMP_TOKEN
        assert "x-security-token" in signed_headers(call)
        assert access_key(call) == DEMO_AK
    (read,) = extension.requests
    assert (read.method, read.path, read.secret_id, read.refresh_now, read.status) == (
        "GET",
        "/secretsmanager/get",
        ARN,
        False,
        200,
    )
    assert read.headers[TOKEN_HEADER.lower()] == AWS_TOKEN


@pytest.mark.parametrize("token", [None, "another-security-token"], ids=["token-missing", "token-wrong"])
def test_the_emulator_refuses_temporary_credentials_without_their_token(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str], token: str | None
) -> None:
    """The control for the test above: the token is really checked."""
    emulator.state.security_token = TEMP_TOKEN
    extension.put_secret(ARN, secret(DEMO_AK, DEMO_SK, token))

    result, _ = invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES}, env)

    (group,) = result["groups"]
    assert (group["outcome"], group["status_code"], group["error"]["code"]) == ("failed", 401, "APIGW.0301")
    assert "security token" in group["error"]["message"]
    assert jobs_left(emulator, DEMO_GROUP_WITH_FAILURES) == 3


def test_a_secret_name_with_special_characters_is_asked_for_exactly(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str]
) -> None:
    arn = secret_arn("sdrs/huawei+creds=v1@prod.eu_1")
    extension.put_secret(arn, secret(DEMO_AK, DEMO_SK))

    result, _ = invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES}, {**env, "SDRS_CREDENTIALS_SECRET_ARN": arn})

    assert result["ok"] is True, result
    assert [r.secret_id for r in extension.requests] == [arn]


# --- the function's cache ---------------------------------------------------------------------


def test_warm_invocations_reuse_the_credentials_read_once(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str]
) -> None:
    for group in THREE_GROUPS:
        result, _ = invoke({"server_group_id": group}, env)
        assert result["ok"] is True, result

    assert len(extension.requests) == 1
    assert [c.status for c in emulator.state.calls()] == [200, 204, 200, 204, 200]


def test_the_credentials_are_read_again_after_their_ttl(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(1000.0)
    runtime = Runtime(ClientFactory(source=lambda secret: extension_source(secret, clock)))
    env = {**env, "SDRS_CREDENTIALS_TTL_SECONDS": "120"}

    assert invoke({"server_group_id": DEMO_GROUP_CLEAN}, env, runtime)[0]["ok"] is True
    clock.advance(119)
    assert invoke({"server_group_id": DEMO_GROUP_CLEAN}, env, runtime)[0]["ok"] is True
    assert len(extension.requests) == 1

    # Rotated meanwhile, and the extension's own cache has expired: the new version is served.
    rotate(emulator)
    extension.put_secret(ARN, secret(NEW_AK, NEW_SK))
    extension.expire_cache()
    clock.advance(1)
    result, _ = invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES}, env, runtime)

    assert result["groups"][0]["outcome"] == "deleted", result
    assert [r.refresh_now for r in extension.requests] == [False, False]
    assert count_401(emulator) == 0  # the new key was read before any request needed it
    assert {access_key(c) for c in emulator.state.calls()[-2:]} == {NEW_AK}


def test_a_ttl_of_zero_reads_the_secret_for_every_invocation(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str]
) -> None:
    env = {**env, "SDRS_CREDENTIALS_TTL_SECONDS": "0"}

    assert invoke({"server_group_id": DEMO_GROUP_CLEAN}, env)[0]["ok"] is True
    first = len(extension.requests)
    rotate(emulator)
    extension.put_secret(ARN, secret(NEW_AK, NEW_SK))
    extension.expire_cache()
    result, _ = invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES}, env)

    assert first >= 1
    assert len(extension.requests) > first
    assert not any(r.refresh_now for r in extension.requests)
    assert result["groups"][0]["outcome"] == "deleted", result
    assert count_401(emulator) == 0


# --- rotation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("temporary", [False, True], ids=["ak-sk", "temporary"])
def test_rotation_behind_a_stale_extension_cache_rereads_and_retries_once(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str], temporary: bool
) -> None:
    old_token, new_token = (TEMP_TOKEN, NEW_TEMP_TOKEN) if temporary else (None, None)
    emulator.state.security_token = old_token
    extension.put_secret(ARN, secret(DEMO_AK, DEMO_SK, old_token))
    assert invoke({"server_group_id": DEMO_GROUP_CLEAN}, env)[0]["ok"] is True  # warm: both caches hold v1
    rotate(emulator, new_token)
    extension.put_secret(ARN, secret(NEW_AK, NEW_SK, new_token))  # current in Secrets Manager, not in the cache
    before = len(emulator.state.calls())

    result, must_raise = invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES}, env)

    assert (result["ok"], must_raise) == (True, False), result
    (group,) = result["groups"]
    assert (group["outcome"], len(group["failure_jobs"]), group["attempts"]) == ("deleted", 3, 1)
    assert jobs_left(emulator, DEMO_GROUP_WITH_FAILURES) == 0
    calls = emulator.state.calls()[before:]
    assert [(c.route, c.status, access_key(c)) for c in calls] == [
        ("list_failure_jobs", 401, DEMO_AK),
        ("list_failure_jobs", 200, NEW_AK),
        ("delete_group_failure_jobs", 204, NEW_AK),
    ]
    assert [headers(c).get("x-security-token") for c in calls] == [old_token, new_token, new_token]
    assert count_401(emulator) == 1
    assert [(r.refresh_now, r.status) for r in extension.requests] == [(False, 200), (True, 200)]
    assert {r.headers[TOKEN_HEADER.lower()] for r in extension.requests} == {AWS_TOKEN}


def test_concurrent_requests_rejected_at_a_rotation_share_one_reread(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str]
) -> None:
    assert invoke({"server_group_id": DEMO_GROUP_CLEAN}, env)[0]["ok"] is True
    rotate(emulator)
    extension.put_secret(ARN, secret(NEW_AK, NEW_SK))
    emulator.state.latency = 0.2  # the three audits are out before the first 401 is back

    result, _ = invoke({"server_group_ids": THREE_GROUPS}, env)

    assert result["ok"] is True, result
    assert [g["outcome"] for g in result["groups"]] == ["deleted", "deleted", "nothing_to_delete"]
    assert 1 <= count_401(emulator) <= len(THREE_GROUPS)
    assert [r.refresh_now for r in extension.requests] == [False, True]  # one re-read for all of them
    assert_not_locked(emulator)


def test_rotation_not_yet_in_the_secret_fails_one_call_and_sends_no_more(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(1000.0)
    runtime = Runtime(ClientFactory(clock=clock))
    env = {**env, "SDRS_MAX_CONCURRENCY": "1"}  # groups one after the other: the order is known
    rotate(emulator)  # the key is rotated at Huawei Cloud; the secret still has the old one

    result, must_raise = invoke({"server_group_ids": THREE_GROUPS}, env, runtime)

    assert must_raise is False
    first, *others = result["groups"]
    assert [g["server_group_id"] for g in result["groups"]] == THREE_GROUPS
    assert (first["outcome"], first["status_code"], first["error"]["code"], first["error"]["retryable"]) == (
        "failed",
        401,
        "APIGW.0301",
        False,
    )
    for group in others:
        assert (group["outcome"], group["error"]["code"], group["error"]["retryable"]) == (
            "failed",
            "Credentials.Rejected",
            False,
        )
        assert (group["status_code"], group["attempts"]) == (None, 0)
    assert (result["error"]["type"], result["error"]["retryable"]) == ("group_failures", False)
    (call,) = emulator.state.calls()
    assert (call.status, access_key(call)) == (401, DEMO_AK)
    assert [r.refresh_now for r in extension.requests] == [False, True]  # it looked for a newer version
    assert_not_locked(emulator)

    # Warm retries within the hold (a scheduler, Lambda's own retries) send nothing.
    extension.put_secret(ARN, secret(NEW_AK, NEW_SK))  # the secret catches up; the extension's cache not yet
    for _ in range(3):
        again, _ = invoke({"server_group_ids": THREE_GROUPS}, env, runtime)
        assert {g["error"]["code"] for g in again["groups"]} == {"Credentials.Rejected"}
    clock.advance(59)
    assert {g["error"]["code"] for g in invoke({"server_group_ids": THREE_GROUPS}, env, runtime)[0]["groups"]} == {
        "Credentials.Rejected"
    }
    assert len(emulator.state.calls()) == 1
    assert_not_locked(emulator)

    # After the hold, one more 401 leads to the new version (refreshNow), and everything is done.
    clock.advance(1)
    result, _ = invoke({"server_group_ids": THREE_GROUPS}, env, runtime)

    assert result["ok"] is True, result
    assert jobs_left(emulator, DEMO_GROUP_WITH_FAILURES) == jobs_left(emulator, DEMO_GROUP_UNTOUCHED) == 0
    assert count_401(emulator) == 2
    assert [r.refresh_now for r in extension.requests] == [False, True, True]
    assert emulator.state._bad_signatures == 0


def test_a_failed_reread_after_a_401_still_holds_the_rejected_credentials(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str]
) -> None:
    extra = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(3)]
    for group in extra:
        emulator.state.add_group(DEMO_PROJECT_ID, group, failed_tasks=1)
    env = {**env, "SDRS_MAX_CONCURRENCY": "1"}
    assert invoke({"server_group_id": DEMO_GROUP_CLEAN}, env)[0]["ok"] is True  # the credentials are cached
    rotate(emulator)
    extension.fail(ExtensionFault(503, b'{"__type":"InternalFailure","message":""}'), times=None)

    result, _ = invoke({"server_group_ids": [*THREE_GROUPS, *extra]}, env)

    assert {g["outcome"] for g in result["groups"]} == {"failed"}
    assert count_401(emulator) == 1
    assert_not_locked(emulator)


# --- a secret that cannot be used -------------------------------------------------------------

Arrange = Callable[[FakeSecretsExtension, dict[str, str]], dict[str, str]]


def _put(content: str | bytes) -> Arrange:
    def arrange(extension: FakeSecretsExtension, env: dict[str, str]) -> dict[str, str]:
        if isinstance(content, bytes):
            extension.put_secret(ARN, secret_binary=content)
        else:
            extension.put_secret(ARN, content)
        return env

    return arrange


def _fault(fault: ExtensionFault) -> Arrange:
    def arrange(extension: FakeSecretsExtension, env: dict[str, str]) -> dict[str, str]:
        extension.fail(fault, times=None)
        return env

    return arrange


def _deny(extension: FakeSecretsExtension, env: dict[str, str]) -> dict[str, str]:
    extension.deny(ARN)
    return env


UNUSABLE = [
    pytest.param(
        lambda x, env: {**env, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(unused_port())},
        "did not answer",
        True,
        id="unreachable",
    ),
    pytest.param(_fault(ExtensionFault(drop=True)), "did not answer", True, id="dropped"),
    pytest.param(
        _fault(ExtensionFault(500, b'{"__type":"InternalFailure","message":""}')), "HTTP 500", True, id="http-500"
    ),
    pytest.param(_fault(ExtensionFault(429, b"Connection limit exceeded")), "HTTP 429", True, id="http-429"),
    pytest.param(_deny, "AccessDeniedException", False, id="access-denied"),
    pytest.param(
        lambda x, env: {**env, "SDRS_CREDENTIALS_SECRET_ARN": secret_arn("another/secret")},
        "ResourceNotFoundException",
        False,
        id="unknown-secret",
    ),
    pytest.param(
        lambda x, env: {**env, "AWS_SESSION_TOKEN": "another-session-token"},
        "HTTP 401",
        False,
        id="wrong-session-token",
    ),
    pytest.param(_put(f"access_key={DEMO_AK}\nsecret_key={DEMO_SK}"), "not JSON", False, id="not-json"),
    pytest.param(_put(json.dumps([DEMO_AK, DEMO_SK])), "not a JSON object", False, id="json-array"),
    pytest.param(_put(json.dumps({"access_key": DEMO_AK})), "no access_key and secret_key", False, id="no-secret-key"),
    pytest.param(
        _put(json.dumps({"username": DEMO_AK, "password": DEMO_SK})),
        "no access_key and secret_key",
        False,
        id="other-keys",
    ),
    pytest.param(_put(secret(DEMO_AK, 12345)), "secret_key is not a printable string", False, id="not-a-string"),
    pytest.param(
        _put(json.dumps({"access_key": DEMO_AK, "HUAWEICLOUD_SDK_AK": DEMO_AK, "secret_key": DEMO_SK})),
        "sets access_key twice",
        False,
        id="set-twice",
    ),
    pytest.param(_put(secret(DEMO_AK, DEMO_SK).encode()), "without a SecretString", False, id="binary"),
]


@pytest.fixture(params=[pytest.param(case.values, id=case.id, marks=case.marks) for case in UNUSABLE])
def unusable(
    request: pytest.FixtureRequest, extension: FakeSecretsExtension, env: dict[str, str]
) -> tuple[dict[str, str], str, bool]:
    """One UNUSABLE case, arranged: the environment it leaves, what the error names, whether it is retryable."""
    arrange, problem, retryable = request.param
    return arrange(extension, env), problem, retryable


def test_an_unusable_secret_is_a_configuration_error_before_any_request(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, unusable: tuple[dict[str, str], str, bool]
) -> None:
    env, problem, retryable = unusable

    result, must_raise = invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES}, env)

    assert must_raise is False  # a direct invocation returns its failure
    assert (result["ok"], result["groups"]) == (False, [])
    error = result["error"]
    assert (error["type"], error["retryable"]) == ("configuration", retryable), error
    assert problem in error["message"]
    assert DEMO_SK not in error["message"]
    assert emulator.state.calls() == []
    assert len(extension.requests) <= 1  # read once (none when nothing listens), not hammered
    assert jobs_left(emulator, DEMO_GROUP_WITH_FAILURES) == 3


def test_an_unusable_secret_raises_for_a_scheduled_event_only_when_retryable(
    emulator: SdrsEmulator, unusable: tuple[dict[str, str], str, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    arranged, problem, retryable = unusable
    env = {**arranged, "SDRS_SERVER_GROUP_IDS": DEMO_GROUP_WITH_FAILURES}

    returned, raised = call_lambda(scheduled_event(), env, monkeypatch)

    if retryable:
        assert returned is None
        assert raised is not None
        assert problem in str(raised)
        assert (raised.result["trigger"], raised.result["error"]["type"]) == ("eventbridge_scheduled", "configuration")
    else:
        assert raised is None
        assert returned is not None
        assert (returned["ok"], returned["trigger"], returned["error"]["type"]) == (
            False,
            "eventbridge_scheduled",
            "configuration",
        )
        assert problem in returned["error"]["message"]
    assert emulator.state.calls() == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        pytest.param({"AWS_SESSION_TOKEN": None}, "AWS_SESSION_TOKEN", id="no-session-token"),
        pytest.param({"AWS_SESSION_TOKEN": ""}, "AWS_SESSION_TOKEN", id="empty-session-token"),
        pytest.param({"HUAWEICLOUD_SDK_AK": DEMO_AK, "HUAWEICLOUD_SDK_SK": DEMO_SK}, "not both", id="both"),
        pytest.param(
            {"SDRS_CREDENTIALS_SECRET_ARN": "arn:aws:ssm:eu-west-1:123456789012:parameter/sdrs/creds"},
            "must be a Secrets Manager secret ARN",
            id="ssm-parameter-arn",
        ),
        pytest.param(
            {"SDRS_CREDENTIALS_SECRET_ARN": "sdrs-cleanup/huawei-credentials"},
            "must be a Secrets Manager secret ARN",
            id="bare-name",
        ),
        pytest.param(
            {"SDRS_CREDENTIALS_SECRET_ARN": ARN.replace(":123456789012:", ":12345678901:")},
            "must be a Secrets Manager secret ARN",
            id="short-account",
        ),
        pytest.param(
            {"SDRS_CREDENTIALS_SECRET_ARN": ARN + "?versionStage=AWSPREVIOUS"},
            "must be a Secrets Manager secret ARN",
            id="query-in-arn",
        ),
        pytest.param(
            {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "http"}, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", id="port"
        ),
        pytest.param({"SDRS_CREDENTIALS_TTL_SECONDS": "-1"}, "SDRS_CREDENTIALS_TTL_SECONDS", id="negative-ttl"),
    ],
)
def test_configuration_errors_before_any_request(
    emulator: SdrsEmulator,
    extension: FakeSecretsExtension,
    env: dict[str, str],
    change: dict[str, str | None],
    named: str,
) -> None:
    for name, value in change.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    env["SDRS_SERVER_GROUP_IDS"] = DEMO_GROUP_WITH_FAILURES

    for event in ({"server_group_id": DEMO_GROUP_WITH_FAILURES}, scheduled_event()):
        result, must_raise = invoke(event, env)

        assert must_raise is False  # never fixed by a retry of the event
        error = result["error"]
        assert (error["type"], error["retryable"]) == ("configuration", False), error
        assert named in error["message"]
    assert emulator.state.calls() == []
    assert extension.requests == []


# --- nothing leaks through the real transports' logs ---------------------------------------------


def test_no_credential_in_the_debug_logs_of_a_rotation(
    emulator: SdrsEmulator, extension: FakeSecretsExtension, env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "sdrs-cleanup"):
        caplog.set_level(logging.DEBUG, logger=name)
    emulator.state.security_token = TEMP_TOKEN
    extension.put_secret(ARN, secret(DEMO_AK, DEMO_SK, TEMP_TOKEN))
    assert invoke({"server_group_id": DEMO_GROUP_CLEAN}, env)[0]["ok"] is True
    rotate(emulator, NEW_TEMP_TOKEN)
    extension.put_secret(ARN, secret(NEW_AK, NEW_SK, NEW_TEMP_TOKEN))

    result, _ = invoke({"server_group_id": DEMO_GROUP_WITH_FAILURES}, env)

    assert result["ok"] is True
    assert count_401(emulator) == 1
    assert "send_request_headers" in caplog.text  # httpcore's DEBUG lines were captured
    text = caplog.text + "\n".join(repr(vars(r)) for r in caplog.records) + json.dumps(result)
    for value in (DEMO_AK, DEMO_SK, NEW_AK, NEW_SK, TEMP_TOKEN, NEW_TEMP_TOKEN, AWS_TOKEN):
        assert value not in text
