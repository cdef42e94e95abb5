"""The AK, SK and security token never leave the process except in the signed request.

Whole invocations through `handler.app.lambda_handler`, with distinctive canary
credentials and DEBUG logging everywhere. Everything the function can emit is captured
(the Powertools JSON log stream, stdout/stderr with the EMF metrics, every log record of
every logger including httpx, the returned result, the raised exception and its
traceback) and searched for the canaries. Each capture is checked to be live first, so
that an empty capture cannot pass for a clean one.
"""

from __future__ import annotations

import io
import json
import logging
import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx

from handler import app
from handler.core import Runtime
from handler.observability import logger
from handler.sdrs.factory import ClientFactory
from handler.sdrs.secrets_extension import SecretsExtensionCredentials
from handler.sdrs.signing import AkSkAuth
from handler.settings import load_settings
from tests.fake_extension import TOKEN_HEADER, ExtensionFault, FakeSecretsExtension
from tests.fake_sdrs import GROUP_CLEAN, GROUP_WITH_FAILURES, PROJECT_ID, FakeSdrs

AK = "AKLEAKCANARY0001"
SK = "SKLEAKCANARY-secret"
TOKEN = "TOKENLEAKCANARY"
SECRETS = (AK, SK, TOKEN)
MAX_ATTEMPTS = 3


def assert_no_secrets(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {where}"


@dataclass
class Capture:
    """Everything an invocation wrote, in one place."""

    capfd: pytest.CaptureFixture[str]
    caplog: pytest.LogCaptureFixture
    powertools_stream: io.StringIO
    stdout: str = ""
    stderr: str = ""
    texts: dict[str, str] = field(default_factory=dict)

    def collect(self, result: Any = None, exc: BaseException | None = None) -> dict[str, str]:
        out, err = self.capfd.readouterr()
        self.stdout += out
        self.stderr += err
        records = self.caplog.records
        texts = {
            "powertools log stream": self.powertools_stream.getvalue(),
            "stdout": self.stdout,
            "stderr": self.stderr,
            "log messages": "\n".join(record.getMessage() for record in records),
            "log records": "\n".join(repr(vars(record)) for record in records),
            "formatted logs": self.caplog.text,
            "result": json.dumps(result, default=str) if result is not None else "",
        }
        if exc is not None:
            texts["exception"] = "\n".join(
                [str(exc), repr(exc), "".join(traceback.format_exception(exc)), json.dumps(vars(exc), default=str)]
            )
        self.texts = texts
        return texts

    def assert_clean(self) -> None:
        for where, text in self.texts.items():
            assert_no_secrets(text, where)

    @property
    def logs(self) -> str:
        return self.texts["powertools log stream"]


@pytest.fixture
def canary_env(sdrs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        **sdrs_env,
        "HUAWEICLOUD_SDK_AK": AK,
        "HUAWEICLOUD_SDK_SK": SK,
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": TOKEN,
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "SDRS_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def fake(sdrs_api: respx.Router) -> FakeSdrs:
    """The in-memory API, knowing the canary key pair (so the signature check passes)."""
    return FakeSdrs(access_key=AK, secret_key=SK).install(sdrs_api)


@pytest.fixture
def client_options() -> dict[str, Any]:
    """Retries without waiting (conftest's `sleeps` records them), with a fixed jitter."""
    return {"rng": lambda: 0.5}


@pytest.fixture
def capture(
    canary_env: dict[str, str], capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[Capture]:
    previous_level = logger._logger.level
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous_stream = handler.setStream(stream)
    logger.setLevel("DEBUG")
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "aws_lambda_powertools", logger._logger.name):
        caplog.set_level(logging.DEBUG, logger=name)
    try:
        # The captures are live: a DEBUG line from the service logger and from httpx arrive.
        logger.debug("capture probe")
        logging.getLogger("httpx").debug("httpx capture probe")
        assert "capture probe" in stream.getvalue()
        assert "httpx capture probe" in caplog.text
        yield Capture(capfd, caplog, stream)
    finally:
        handler.setStream(previous_stream)
        logger._logger.setLevel(previous_level)


def invoke(
    event: dict[str, Any], context: Any, *, runtime: Runtime
) -> tuple[dict[str, Any] | None, BaseException | None]:
    try:
        return app.lambda_handler(event, context, runtime=runtime), None
    except Exception as exc:
        return None, exc


def assert_secrets_were_on_the_wire(fake: FakeSdrs) -> None:
    """The canaries were really in use: every request carried the AK (in Authorization,
    which is expected) and the token; the SK itself is never sent."""
    assert fake.requests
    for seen in fake.requests:
        assert f"Access={AK}," in seen.headers["Authorization"]
        assert seen.headers["X-Security-Token"] == TOKEN
        assert SK not in "".join(f"{k}: {v}" for k, v in seen.headers.items())


def eventbridge_event(server_group_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "SDRS Replication Failed",
        "source": "custom.sdrs",
        "account": "123456789012",
        "time": "2026-11-20T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {"server_group_id": server_group_id, "project_id": PROJECT_ID},
    }


# --- invocations that reach the API -------------------------------------------------------


def test_success(runtime: Runtime, capture: Capture, fake: FakeSdrs, lambda_context: Any) -> None:
    jobs = fake.failure_jobs(PROJECT_ID, GROUP_WITH_FAILURES)

    result, exc = invoke({"server_group_id": GROUP_WITH_FAILURES}, lambda_context, runtime=runtime)

    assert exc is None
    assert result is not None
    assert result["ok"] is True
    assert result["groups"][0]["outcome"] == "deleted"
    assert len(result["groups"][0]["failure_jobs"]) == len(jobs) > 0
    assert [r.method for r in fake.requests] == ["GET", "DELETE"]
    assert_secrets_were_on_the_wire(fake)
    texts = capture.collect(result)
    assert GROUP_WITH_FAILURES in capture.logs
    assert jobs[0]["job_id"] in capture.logs  # the audit lines were captured
    assert "GroupsProcessed" in texts["stdout"]  # and the EMF metrics
    capture.assert_clean()


def test_dry_run(runtime: Runtime, capture: Capture, fake: FakeSdrs, lambda_context: Any) -> None:
    result, exc = invoke({"server_group_id": GROUP_WITH_FAILURES, "dry_run": True}, lambda_context, runtime=runtime)

    assert exc is None
    assert result is not None
    assert (result["dry_run"], result["groups"][0]["outcome"]) == (True, "would_delete")
    assert [r.method for r in fake.requests] == ["GET"]
    assert_secrets_were_on_the_wire(fake)
    capture.collect(result)
    assert GROUP_WITH_FAILURES in capture.logs
    capture.assert_clean()


@pytest.mark.parametrize(
    ("method", "status", "body", "code"),
    [
        (
            "GET",
            401,
            {
                "error_code": "APIGW.0301",
                "error_msg": "Incorrect IAM authentication information: verify aksk signature fail",
                "request_id": "gw-401",
            },
            "APIGW.0301",
        ),
        (
            "DELETE",
            403,
            {"error": {"code": "SDRS.0003", "message": "The user has no permission for this project"}},
            "SDRS.0003",
        ),
        (
            "GET",
            401,
            {
                "error_code": "APIGW.0301",
                "error_msg": "Incorrect IAM authentication information: calc ak sk signature fail:signature expired",
                "request_id": "gw-401-time",
            },
            "APIGW.0301",
        ),
    ],
    ids=["401-list", "403-delete", "401-expired"],
)
def test_authentication_and_permission_failures(
    runtime: Runtime,
    method: str,
    status: int,
    body: dict[str, Any],
    code: str,
    capture: Capture,
    fake: FakeSdrs,
    lambda_context: Any,
) -> None:
    fake.fail(method, status, body=body)

    result, exc = invoke({"server_group_id": GROUP_WITH_FAILURES}, lambda_context, runtime=runtime)

    assert exc is None  # a direct invocation returns its failure
    assert result is not None
    group = result["groups"][0]
    assert (result["ok"], group["outcome"], group["status_code"]) == (False, "failed", status)
    assert (group["error"]["code"], group["error"]["retryable"]) == (code, False)
    assert len(fake.calls(method)) == 1  # never retried
    assert_secrets_were_on_the_wire(fake)
    capture.collect(result)
    assert GROUP_WITH_FAILURES in capture.logs
    assert code in capture.logs
    capture.assert_clean()


def test_server_errors_until_exhausted_raise_for_async_trigger(
    runtime: Runtime, capture: Capture, fake: FakeSdrs, lambda_context: Any, sleeps: list[float]
) -> None:
    fake.fail("GET", 500, body={"error": {"code": "SDRS.0006", "message": "internal error"}})

    result, exc = invoke(eventbridge_event(GROUP_WITH_FAILURES), lambda_context, runtime=runtime)

    assert result is None
    assert isinstance(exc, app.TransientFailure)
    message = str(exc)
    assert GROUP_WITH_FAILURES in message
    assert "1 of 1 groups failed" in message
    assert "retries the event" in message
    group = exc.result["groups"][0]
    assert (group["error"]["code"], group["error"]["retryable"], group["status_code"]) == ("SDRS.0006", True, 500)
    assert len(fake.calls("GET")) == MAX_ATTEMPTS
    assert len(sleeps) == MAX_ATTEMPTS - 1
    assert_secrets_were_on_the_wire(fake)
    capture.collect(exc=exc)
    assert GROUP_WITH_FAILURES in capture.logs
    capture.assert_clean()


class ConnectErrorNamingEverything(httpx.ConnectError):
    """A transport error whose text carries the URL and the credentials it was sent with."""

    def __init__(self, message: str, *, request: httpx.Request) -> None:
        headers = "; ".join(f"{k}={v}" for k, v in request.headers.items())
        super().__init__(f"{message}: {request.method} {request.url} [{headers}]", request=request)


class ReadTimeoutNamingEverything(httpx.ReadTimeout):
    def __init__(self, message: str, *, request: httpx.Request) -> None:
        headers = "; ".join(f"{k}={v}" for k, v in request.headers.items())
        super().__init__(f"{message}: {request.method} {request.url} [{headers}]", request=request)


def test_network_errors_direct(
    runtime: Runtime, capture: Capture, fake: FakeSdrs, lambda_context: Any, sleeps: list[float]
) -> None:
    fake.fail("GET", error=ConnectErrorNamingEverything)

    result, exc = invoke({"server_group_ids": [GROUP_WITH_FAILURES, GROUP_CLEAN]}, lambda_context, runtime=runtime)

    assert exc is None
    assert result is not None
    assert [g["error"]["code"] for g in result["groups"]] == ["Network.Error", "Network.Error"]
    assert len(fake.calls("GET")) == 2 * MAX_ATTEMPTS
    assert_secrets_were_on_the_wire(fake)
    capture.collect(result)
    assert GROUP_CLEAN in capture.logs
    capture.assert_clean()


def test_network_timeouts_async(
    runtime: Runtime, capture: Capture, fake: FakeSdrs, lambda_context: Any, sleeps: list[float]
) -> None:
    fake.fail("DELETE", error=ReadTimeoutNamingEverything)

    result, exc = invoke(eventbridge_event(GROUP_WITH_FAILURES), lambda_context, runtime=runtime)

    assert result is None
    assert isinstance(exc, app.TransientFailure)
    assert exc.result["groups"][0]["error"]["code"] == "Network.Timeout"
    assert len(fake.calls("DELETE")) == MAX_ATTEMPTS
    assert_secrets_were_on_the_wire(fake)
    capture.collect(exc=exc)
    assert GROUP_WITH_FAILURES in capture.logs
    capture.assert_clean()


def test_gateway_echoing_the_access_key(
    runtime: Runtime, capture: Capture, fake: FakeSdrs, lambda_context: Any
) -> None:
    """Huawei's API gateway documents this 401 body, naming the AK it did not recognise:
    "Incorrect IAM authentication information: Get secretKey failed,ak:<AK>,err:ak not exist"."""
    echo = f"Incorrect IAM authentication information: Get secretKey failed,ak:{AK},err:ak not exist"
    fake.fail("GET", 401, body={"error_code": "APIGW.0301", "error_msg": echo, "request_id": "gw-echo"})

    result, exc = invoke({"server_group_id": GROUP_WITH_FAILURES}, lambda_context, runtime=runtime)

    assert exc is None
    assert result is not None
    assert result["groups"][0]["error"]["code"] == "APIGW.0301"
    assert "ak not exist" in result["groups"][0]["error"]["message"]
    capture.collect(result)
    assert "ak not exist" in capture.logs
    capture.assert_clean()


def test_sweep(runtime: Runtime, capture: Capture, fake: FakeSdrs, lambda_context: Any, sleeps: list[float]) -> None:
    """A sweep of the default project: its listing first answers with the gateway echoing the
    AK (retried), and one group's DELETE is refused with the AK echoed again."""
    echo = f"Incorrect IAM authentication information: Get secretKey failed,ak:{AK},err:ak not exist"
    fake.fail("GET", 503, body={"error_code": "APIGW.0202", "error_msg": echo}, kind="server_groups", times=1)
    fake.fail("DELETE", 401, body={"error_code": "APIGW.0301", "error_msg": echo}, server_group_id=GROUP_WITH_FAILURES)

    result, exc = invoke({"all_server_groups": True}, lambda_context, runtime=runtime)

    assert exc is None
    assert result is not None
    assert [r.status for r in fake.calls(kind="server_groups")] == [503, 200]
    failed = {g["server_group_id"]: g for g in result["groups"] if g["outcome"] == "failed"}
    assert failed[GROUP_WITH_FAILURES]["error"]["code"] == "APIGW.0301"
    assert "ak not exist" in failed[GROUP_WITH_FAILURES]["error"]["message"]
    # Deletes that had not been sent when the 401 came back are not sent with the same AK.
    assert {g["error"]["code"] for gid, g in failed.items() if gid != GROUP_WITH_FAILURES} <= {"Credentials.Rejected"}
    assert result["summary"]["deleted"] + len(failed) == 4  # the groups with failed tasks
    assert_secrets_were_on_the_wire(fake)
    texts = capture.collect(result)
    assert "protection groups found" in capture.logs
    assert "GroupsProcessed" in texts["stdout"]
    capture.assert_clean()


def test_sqs_batch(
    runtime: Runtime, capture: Capture, fake: FakeSdrs, lambda_context: Any, sleeps: list[float]
) -> None:
    fake.fail("GET", error=ConnectErrorNamingEverything, server_group_id=GROUP_CLEAN)
    event = {
        "Records": [
            {"messageId": f"m{i}", "body": json.dumps(body), "eventSource": "aws:sqs"}
            for i, body in enumerate([{"server_group_id": GROUP_WITH_FAILURES}, {"server_group_id": GROUP_CLEAN}])
        ]
    }

    result, exc = invoke(event, lambda_context, runtime=runtime)

    assert exc is None
    assert result is not None
    assert result["batchItemFailures"] == [{"itemIdentifier": "m1"}]
    assert [r["groups"][0]["outcome"] for r in result["records"]] == ["deleted", "failed"]
    assert result["records"][1]["groups"][0]["error"]["code"] == "Network.Error"
    assert_secrets_were_on_the_wire(fake)
    capture.collect(result)
    assert GROUP_CLEAN in capture.logs
    capture.assert_clean()


# --- invocations refused before any request -----------------------------------------------


def assert_refused_before_any_request(
    result: dict[str, Any] | None,
    exc: BaseException | None,
    error_type: str,
    metric: str,
    capture: Capture,
    fake: FakeSdrs,
) -> dict[str, Any]:
    """Returned (not raised) as an `error_type` error, with no request sent, logged as refused,
    counted in `metric`, and with no secret anywhere; the result."""
    assert exc is None
    assert result is not None
    assert result["error"]["type"] == error_type
    assert fake.requests == []
    texts = capture.collect(result)
    assert "invocation refused" in capture.logs
    assert metric in texts["stdout"]
    capture.assert_clean()
    return result


def test_invalid_event(runtime: Runtime, capture: Capture, fake: FakeSdrs, lambda_context: Any) -> None:
    result, exc = invoke({"server_group_id": "../../etc/passwd", "dry_run": "yes"}, lambda_context, runtime=runtime)

    assert_refused_before_any_request(result, exc, "invalid_event", "InvalidEvents", capture, fake)


@pytest.mark.parametrize(
    ("change", "remove"),
    [
        ({"SDRS_ENDPOINT": "http://sdrs.example.com"}, ()),
        ({"SDRS_ENDPOINT": f"https://{AK}:{SK}@sdrs.cn-north-4.myhuaweicloud.com"}, ()),
        ({"SDRS_ENDPOINT": f"https://sdrs.cn-north-4.myhuaweicloud.com/?token={TOKEN}"}, ()),
        ({"SDRS_ENDPOINT": f"https://sdrs.cn-north-4.myhuaweicloud.com/{SK}"}, ()),
        ({"SDRS_ENDPOINT": "not a url at all"}, ()),
        ({"SDRS_READ_TIMEOUT": "thirty"}, ()),
        ({}, ("HUAWEICLOUD_SDK_AK",)),
        ({}, ("SDRS_REGION",)),
    ],
    ids=[
        "plain-http",
        "userinfo-with-secrets",
        "query-with-token",
        "path-with-secret",
        "not-a-url",
        "bad-timeout",
        "sk-without-ak",
        "no-endpoint",
    ],
)
def test_configuration_errors(
    runtime: Runtime,
    change: dict[str, str],
    remove: tuple[str, ...],
    capture: Capture,
    fake: FakeSdrs,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in change.items():
        monkeypatch.setenv(name, value)
    for name in remove:
        monkeypatch.delenv(name)

    result, exc = invoke({"server_group_id": GROUP_WITH_FAILURES}, lambda_context, runtime=runtime)

    refused = assert_refused_before_any_request(result, exc, "configuration", "ConfigurationErrors", capture, fake)
    assert refused["ok"] is False


# --- the objects that hold the secrets ----------------------------------------------------


def test_reprs_hide_the_secrets(canary_env: dict[str, str]) -> None:
    settings = load_settings(os.environ)
    credentials = settings.require_credentials()
    assert credentials.secrets() == SECRETS  # the canaries are really inside
    auth = AkSkAuth(credentials, PROJECT_ID)
    factory = ClientFactory()
    client = factory(settings)
    connection = client._connection
    objects: list[object] = [settings, credentials, auth, client, connection, connection.auth, factory]
    for obj in objects:
        for text in (repr(obj), str(obj), f"{obj}", f"{obj!r}"):
            assert_no_secrets(text, type(obj).__name__)
    assert "***" in repr(credentials)
    assert "security_token=***" in repr(credentials)


# --- credentials from a Secrets Manager secret, through the Parameters and Secrets extension ---

AWS_TOKEN = "AWSSESSIONTOKENLEAKCANARY"
NEW_AK = "AKROTATEDCANARY0002"
NEW_SK = "SKROTATEDCANARY-secret"
NEW_TOKEN = "ROTATEDTOKENCANARY"
ALL_CANARIES = (*SECRETS, AWS_TOKEN, NEW_AK, NEW_SK, NEW_TOKEN)
CANARY_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sdrs-cleanup/huawei-credentials-AbCdEf"
EXTENSION_URL = "http://127.0.0.1:2773/secretsmanager/get"


def canary_secret(access_key: str = AK, secret_key: str = SK, token: str = TOKEN) -> str:
    return json.dumps({"access_key": access_key, "secret_key": secret_key, "security_token": token})


@pytest.fixture
def secret_env(canary_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The canary credentials move from the environment into the secret; Lambda's session
    token (which the extension asks for) is a canary too."""
    static = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN")
    for name in static:
        monkeypatch.delenv(name)
    monkeypatch.delenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", raising=False)
    monkeypatch.delenv("SDRS_CREDENTIALS_TTL_SECONDS", raising=False)
    monkeypatch.setenv("SDRS_CREDENTIALS_SECRET_ARN", CANARY_ARN)
    monkeypatch.setenv("AWS_SESSION_TOKEN", AWS_TOKEN)
    kept = {name: value for name, value in canary_env.items() if name not in static}
    return {**kept, "SDRS_CREDENTIALS_SECRET_ARN": CANARY_ARN, "AWS_SESSION_TOKEN": AWS_TOKEN}


@pytest.fixture
def extension(secret_env: dict[str, str], sdrs_api: respx.Router) -> FakeSecretsExtension:
    """The extension on its default port, answering from the canary secret."""
    fake_extension = FakeSecretsExtension(AWS_TOKEN)
    fake_extension.put_secret(CANARY_ARN, canary_secret())
    sdrs_api.get(EXTENSION_URL).mock(side_effect=fake_extension.handle)
    return fake_extension


def assert_free_of_canaries(capture: Capture) -> None:
    capture.assert_clean()
    for where, text in capture.texts.items():
        for value in ALL_CANARIES:
            assert value not in text, f"{value!r} leaked into {where}"


def assert_token_went_to_the_extension(extension: FakeSecretsExtension) -> None:
    assert extension.requests
    for seen in extension.requests:
        assert seen.headers[TOKEN_HEADER.lower()] == AWS_TOKEN
        assert seen.secret_id == CANARY_ARN


def test_secret_success(
    runtime: Runtime, capture: Capture, extension: FakeSecretsExtension, fake: FakeSdrs, lambda_context: Any
) -> None:
    jobs = fake.failure_jobs(PROJECT_ID, GROUP_WITH_FAILURES)

    result, exc = invoke({"server_group_id": GROUP_WITH_FAILURES}, lambda_context, runtime=runtime)

    assert exc is None
    assert result is not None
    assert (result["ok"], result["groups"][0]["outcome"]) == (True, "deleted")
    assert [r.method for r in fake.requests] == ["GET", "DELETE"]
    assert_secrets_were_on_the_wire(fake)  # the secret's AK and token signed the requests
    assert len(extension.requests) == 1
    assert_token_went_to_the_extension(extension)
    texts = capture.collect(result)
    assert jobs[0]["job_id"] in capture.logs
    assert "GroupsProcessed" in texts["stdout"]
    assert_free_of_canaries(capture)


def test_secret_rotation_after_a_401(
    runtime: Runtime, capture: Capture, extension: FakeSecretsExtension, fake: FakeSdrs, lambda_context: Any
) -> None:
    """The key is rotated behind a stale extension cache; the gateway's 401 echoes the old AK."""
    first, exc = invoke({"server_group_id": GROUP_CLEAN}, lambda_context, runtime=runtime)
    assert exc is None
    assert first is not None
    assert first["ok"] is True
    fake.access_key, fake.secret_key = NEW_AK, NEW_SK
    extension.put_secret(CANARY_ARN, canary_secret(NEW_AK, NEW_SK, NEW_TOKEN))
    echo = f"Incorrect IAM authentication information: Get secretKey failed,ak:{AK},err:ak not exist"
    fake.fail("GET", 401, body={"error_code": "APIGW.0301", "error_msg": echo}, times=1)
    before = len(fake.requests)

    result, exc = invoke({"server_group_id": GROUP_WITH_FAILURES}, lambda_context, runtime=runtime)

    assert exc is None
    assert result is not None
    assert (result["ok"], result["groups"][0]["outcome"]) == (True, "deleted")
    seen = fake.requests[before:]
    assert [r.status for r in seen] == [401, 200, 204]
    assert [f"Access={NEW_AK}," in r.headers["Authorization"] for r in seen] == [False, True, True]
    assert [r.headers["X-Security-Token"] for r in seen] == [TOKEN, NEW_TOKEN, NEW_TOKEN]
    assert [r.refresh_now for r in extension.requests] == [False, True]
    assert_token_went_to_the_extension(extension)
    capture.collect({"first": first, "second": result})
    assert "ak not exist" not in json.dumps(result)  # the 401 was retried away, not reported
    assert_free_of_canaries(capture)


@pytest.mark.parametrize(
    ("fault", "retryable", "named"),
    [
        pytest.param(None, False, "AccessDeniedException", id="access-denied"),
        pytest.param(
            ExtensionFault(
                500, json.dumps({"__type": "InternalFailure", "message": f"failed to read {CANARY_ARN}"}).encode()
            ),
            True,
            CANARY_ARN,
            id="http-500",
        ),
        pytest.param(
            ExtensionFault(502, f"ConnectionError: Read Error ({CANARY_ARN})".encode()), True, CANARY_ARN, id="http-502"
        ),
    ],
)
def test_secret_unreadable(
    runtime: Runtime,
    fault: ExtensionFault | None,
    retryable: bool,
    named: str,
    capture: Capture,
    extension: FakeSecretsExtension,
    fake: FakeSdrs,
    lambda_context: Any,
) -> None:
    """The extension's error names the secret (which is not secret) and never its values; an
    asynchronous trigger raises only when a retry may read it."""
    if fault is None:
        extension.deny(CANARY_ARN)
    else:
        extension.fail(fault, times=None)

    result, exc = invoke(eventbridge_event(GROUP_WITH_FAILURES), lambda_context, runtime=runtime)

    if retryable:
        assert result is None
        assert isinstance(exc, app.TransientFailure)
        error = exc.result["error"]
    else:
        assert exc is None
        assert result is not None
        error = result["error"]
    assert (error["type"], error["retryable"]) == ("configuration", retryable)
    assert named in error["message"]  # the extension's error text made it into the result
    assert fake.requests == []
    assert_token_went_to_the_extension(extension)
    texts = capture.collect(result, exc)
    assert "invocation refused" in capture.logs
    assert "ConfigurationErrors" in texts["stdout"]
    assert_free_of_canaries(capture)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(f"access_key={AK}\nsecret_key={SK}\nsecurity_token={TOKEN}", "not JSON", id="not-json"),
        pytest.param(canary_secret()[:-5], "not JSON", id="cut-json"),
        pytest.param(json.dumps([AK, SK, TOKEN]), "not a JSON object", id="json-array"),
        pytest.param(canary_secret(secret_key=SK + "\n"), "not a printable string", id="newline-in-sk"),
        pytest.param(canary_secret(secret_key=f" {SK}"), "not a printable string", id="space-before-sk"),
        pytest.param(
            json.dumps({"access_key": AK, "HUAWEICLOUD_SDK_AK": AK, "secret_key": SK}), "twice", id="ak-twice"
        ),
        pytest.param(json.dumps({"ak": AK, "sk": SK, "token": TOKEN}), "no access_key and secret_key", id="other-keys"),
        pytest.param(canary_secret().encode(), "without a SecretString", id="binary"),
    ],
)
def test_secret_not_usable_holding_the_canaries(
    runtime: Runtime,
    content: str | bytes,
    problem: str,
    capture: Capture,
    extension: FakeSecretsExtension,
    fake: FakeSdrs,
    lambda_context: Any,
) -> None:
    if isinstance(content, bytes):
        extension.put_secret(CANARY_ARN, secret_binary=content)
    else:
        extension.put_secret(CANARY_ARN, content)

    result, exc = invoke(eventbridge_event(GROUP_WITH_FAILURES), lambda_context, runtime=runtime)

    assert exc is None  # not fixed by a retry: returned, not raised
    assert result is not None
    assert (result["error"]["type"], result["error"]["retryable"]) == ("configuration", False)
    assert problem in result["error"]["message"]
    assert fake.requests == []
    assert [r.status for r in extension.requests] == [200]  # the canaries really were read
    texts = capture.collect(result)
    assert "invocation refused" in capture.logs
    assert "ConfigurationErrors" in texts["stdout"]
    assert_free_of_canaries(capture)


def test_secret_reprs_hide_the_credentials(extension: FakeSecretsExtension) -> None:
    settings = load_settings(os.environ)
    client = ClientFactory()(settings)
    source = client.credentials
    assert isinstance(source, SecretsExtensionCredentials)
    assert source.current().secrets() == SECRETS  # the canaries are really inside
    assert settings.aws_session_token == AWS_TOKEN
    auth = AkSkAuth(source, PROJECT_ID)
    objects: list[object] = [settings, source, auth, client, client._connection, client._connection.auth]
    for obj in objects:
        for text in (repr(obj), str(obj), f"{obj}", f"{obj!r}"):
            for value in ALL_CANARIES:
                assert value not in text, f"{value!r} in the repr of {type(obj).__name__}"
    assert CANARY_ARN in repr(source)  # the reprs say something


def test_secret_client_cache_repr_hides_the_session_token(extension: FakeSecretsExtension) -> None:
    factory = ClientFactory()
    factory(load_settings(os.environ))
    assert factory.current is not None
    assert AWS_TOKEN not in repr(factory)
    assert CANARY_ARN in repr(factory)  # the repr shows the configuration it caches
