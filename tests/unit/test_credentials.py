"""Credentials from a Secrets Manager secret (through the Parameters and Secrets extension),
the 401 path (one re-read of a rotated secret, then no more requests with rejected
credentials), and the settings that guard both: the secret's ARN and the endpoint policy."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import respx

from handler.sdrs.api import Deadline, SdrsApiError
from handler.sdrs.client import REJECTED_CREDENTIALS_HOLD_SECONDS, SdrsClient, connect
from handler.sdrs.config import RetryPolicy
from handler.sdrs.credentials import Credentials, CredentialsUnavailable
from handler.sdrs.secrets_extension import SecretsExtensionCredentials, credentials_from_secret
from handler.settings import ConfigurationError, load_settings
from tests.clock import ManualClock
from tests.fake_extension import TOKEN_HEADER, ExtensionFault, FakeSecretsExtension
from tests.fake_sdrs import PROJECT_ID, signature_problem

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sdrs/huaweicloud-AbCdEf"
EXTENSION_URL = "http://127.0.0.1:2773/secretsmanager/get"
SESSION_TOKEN = "aws-session-token-for-the-extension"
ENDPOINT = "https://sdrs.cn-north-4.myhuaweicloud.com"
GROUP = "decf224d-87fe-403a-8721-037a1a45c287"
OTHER_GROUP = "5f8a7e3c-2b1d-4c6e-9a0f-1e2d3c4b5a69"
TEXT, JSON = {"Content-Type": "text/plain"}, {"Content-Type": "application/json"}
OLD = Credentials("AKOLDVERSION0001", "sk-old-version", None)
NEW = Credentials("AKNEWVERSION0002", "sk-new-version", "token-new-version")


def secret_value(credentials: Credentials) -> str:
    body = {"access_key": credentials.access_key, "secret_key": credentials.secret_key}
    if credentials.security_token:
        body["security_token"] = credentials.security_token
    return json.dumps(body)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(100.0)


@pytest.fixture
def extension(sdrs_api: respx.Router) -> FakeSecretsExtension:
    """The extension on respx, serving OLD from its cache: a new version (as after a
    rotation) comes only with `refreshNow=true`, or once its cache expired."""
    fake = FakeSecretsExtension(SESSION_TOKEN).install(sdrs_api)
    fake.put_secret(SECRET_ARN, secret_value(OLD))
    fake.warm_cache(SECRET_ARN)
    return fake


@pytest.fixture
def source(clock: ManualClock) -> Iterator[SecretsExtensionCredentials]:
    made = SecretsExtensionCredentials(SECRET_ARN, SESSION_TOKEN, ttl=300, clock=clock)
    yield made
    made.close()


# --- the secret's content ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"access_key": "AK1", "secret_key": "SK1"},
        {"HUAWEICLOUD_SDK_AK": "AK1", "HUAWEICLOUD_SDK_SK": "SK1"},
        {"access_key": "AK1", "secret_key": "SK1", "security_token": "", "comment": "extra keys are ignored"},
    ],
)
def test_secret_shapes_accepted(body: dict[str, str]) -> None:
    assert credentials_from_secret(json.dumps(body)) == Credentials("AK1", "SK1", None)


def test_secret_with_a_token_gives_temporary_credentials() -> None:
    parsed = credentials_from_secret(json.dumps({"access_key": "AK1", "secret_key": "SK1", "security_token": "T"}))
    assert parsed.security_token == "T"


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("AKCANARY:SKCANARY", "not JSON"),
        ('["AKCANARY", "SKCANARY"]', "not a JSON object"),
        ('{"access_key": "AKCANARY"}', "no access_key and secret_key"),
        ('{"access_key": "AKCANARY", "secret_key": 12345}', "secret_key is not a printable string"),
        ('{"access_key": " AKCANARY", "secret_key": "SKCANARY"}', "access_key is not a printable string"),
        ('{"access_key": "AKCANARY", "secret_key": "SK\\nCANARY"}', "secret_key is not a printable string"),
        ('{"access_key": "AKCANARY", "HUAWEICLOUD_SDK_AK": "AK2", "secret_key": "SKCANARY"}', "access_key twice"),
    ],
)
def test_bad_secret_says_what_is_wrong_and_never_what_it_holds(secret: str, problem: str) -> None:
    with pytest.raises(CredentialsUnavailable) as caught:
        credentials_from_secret(secret)
    assert problem in str(caught.value)
    assert "CANARY" not in str(caught.value)
    assert caught.value.retryable is False


# --- reading through the extension -------------------------------------------------------


def test_first_use_reads_the_secret_with_the_session_token(
    extension: FakeSecretsExtension, source: SecretsExtensionCredentials
) -> None:
    assert extension.requests == []  # nothing at construction (SnapStart-safe)
    assert source.current() == OLD
    [request] = extension.requests
    assert request.params["secretId"] == SECRET_ARN
    assert "refreshNow" not in request.params
    assert request.headers[TOKEN_HEADER.lower()] == SESSION_TOKEN


def test_credentials_are_cached_for_the_ttl(
    extension: FakeSecretsExtension, source: SecretsExtensionCredentials, clock: ManualClock
) -> None:
    source.current()
    clock.advance(299)
    source.current()
    assert len(extension.requests) == 1
    clock.advance(1)
    extension.put_secret(SECRET_ARN, secret_value(NEW))
    extension.expire_cache()  # the extension's own cache moved on meanwhile
    assert source.current() == NEW
    assert len(extension.requests) == 2


def test_refresh_bypasses_the_extension_cache(
    extension: FakeSecretsExtension, source: SecretsExtensionCredentials
) -> None:
    source.current()
    extension.put_secret(SECRET_ARN, secret_value(NEW))  # rotated: the extension still serves OLD from its cache

    assert source.refresh(OLD) == NEW
    assert extension.requests[-1].params["refreshNow"] == "true"
    assert source.current() == NEW
    assert len(extension.requests) == 2


def test_refresh_without_a_new_version_says_so(
    extension: FakeSecretsExtension, source: SecretsExtensionCredentials
) -> None:
    source.current()
    assert source.refresh(OLD) is None
    assert source.current() == OLD


def test_refresh_after_another_thread_refreshed_reads_nothing(
    extension: FakeSecretsExtension, source: SecretsExtensionCredentials
) -> None:
    source.current()
    extension.put_secret(SECRET_ARN, secret_value(NEW))
    assert source.refresh(OLD) == NEW
    reads = len(extension.requests)
    assert source.refresh(OLD) == NEW  # a second call that was signed with OLD
    assert len(extension.requests) == reads


def test_every_version_seen_is_redacted(extension: FakeSecretsExtension, source: SecretsExtensionCredentials) -> None:
    source.current()
    extension.put_secret(SECRET_ARN, secret_value(NEW))
    source.refresh(OLD)
    assert set(source.secrets()) == set(OLD.secrets()) | set(NEW.secrets())
    assert all(secret not in repr(source) for secret in source.secrets())


@pytest.mark.parametrize(
    ("answer", "fragment", "retryable"),
    [
        (ExtensionFault(400, b"AccessDeniedException: not authorized to GetSecretValue", TEXT), "HTTP 400", False),
        (ExtensionFault(404, b"ResourceNotFoundException", TEXT), "HTTP 404", False),
        (ExtensionFault(500, b"internal error", TEXT), "HTTP 500", True),
        (ExtensionFault(429, b"throttled", TEXT), "HTTP 429", True),
        (
            ExtensionFault(200, json.dumps({"ARN": SECRET_ARN, "SecretBinary": "AAAA"}).encode(), JSON),
            "without a SecretString",
            False,
        ),
        (ExtensionFault(200, b"<html>", TEXT), "without a SecretString", False),
    ],
)
def test_extension_failures_are_clear(
    answer: ExtensionFault,
    fragment: str,
    retryable: bool,
    extension: FakeSecretsExtension,
    source: SecretsExtensionCredentials,
) -> None:
    extension.fail(answer, times=None)
    with pytest.raises(CredentialsUnavailable) as caught:
        source.current()
    assert fragment in str(caught.value)
    assert caught.value.retryable is retryable


def test_extension_not_running(sdrs_api: respx.Router, source: SecretsExtensionCredentials) -> None:
    sdrs_api.get(EXTENSION_URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(CredentialsUnavailable, match="layer attached") as caught:
        source.current()
    assert caught.value.retryable is True


# --- the client's 401 path --------------------------------------------------------------


@pytest.fixture
def make_client(clock: ManualClock) -> Iterator[Callable[[Any], SdrsClient]]:
    made: list[SdrsClient] = []

    def make(credentials: Any) -> SdrsClient:
        connection = connect(ENDPOINT, credentials, connect_timeout=5, read_timeout=5)
        client = SdrsClient(connection, RetryPolicy(max_attempts=4), sleep=lambda _: None, clock=clock)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


class Gateway:
    """The SDRS delete route: 204 for requests signed by `valid`, the gateway's 401 otherwise."""

    def __init__(self, router: respx.Router, valid: Credentials) -> None:
        self.valid = valid
        self.access_keys: list[str] = []
        router.delete(url__regex=rf"{ENDPOINT}/v1/{PROJECT_ID}/task-center/[^/]+/failure-jobs/batch").mock(
            side_effect=self._serve
        )

    def _serve(self, request: httpx.Request) -> httpx.Response:
        self.access_keys.append(request.headers["Authorization"].split("Access=")[1].split(",")[0])
        if signature_problem(request, self.valid.access_key, self.valid.secret_key) is None:
            return httpx.Response(204)
        body = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"}
        return httpx.Response(401, json=body)


def deadline() -> Deadline:
    return Deadline(300)


def test_rotated_secret_is_read_again_once_and_the_call_succeeds(
    sdrs_api: respx.Router,
    extension: FakeSecretsExtension,
    source: SecretsExtensionCredentials,
    make_client: Callable[[Any], SdrsClient],
) -> None:
    extension.put_secret(SECRET_ARN, secret_value(NEW))
    gateway = Gateway(sdrs_api, valid=NEW)

    reply = make_client(source).delete_group_failure_jobs(PROJECT_ID, GROUP, deadline())

    assert (reply.status_code, reply.attempts) == (204, 2)
    assert gateway.access_keys == [OLD.access_key, NEW.access_key]
    assert [r.params.get("refreshNow") for r in extension.requests] == [None, "true"]


@pytest.mark.parametrize("max_attempts", [1, 4])
def test_rejected_credentials_are_sent_once_and_then_not_at_all(
    max_attempts: int,
    sdrs_api: respx.Router,
    extension: FakeSecretsExtension,
    source: SecretsExtensionCredentials,
    clock: ManualClock,
) -> None:
    gateway = Gateway(sdrs_api, valid=NEW)  # the secret has not been rotated yet
    connection = connect(ENDPOINT, source, connect_timeout=5, read_timeout=5)
    client = SdrsClient(connection, RetryPolicy(max_attempts=max_attempts), sleep=lambda _: None, clock=clock)

    with pytest.raises(SdrsApiError) as first:
        client.delete_group_failure_jobs(PROJECT_ID, GROUP, deadline())
    with pytest.raises(SdrsApiError) as second:
        client.delete_group_failure_jobs(PROJECT_ID, OTHER_GROUP, deadline())

    assert (first.value.code, first.value.status_code, first.value.retryable) == ("APIGW.0301", 401, False)
    assert (second.value.code, second.value.retryable, second.value.attempts) == ("Credentials.Rejected", False, 0)
    assert gateway.access_keys == [OLD.access_key]  # one bad signature, not five
    clock.advance(REJECTED_CREDENTIALS_HOLD_SECONDS)
    with pytest.raises(SdrsApiError, match=r"APIGW\.0301"):
        client.delete_group_failure_jobs(PROJECT_ID, OTHER_GROUP, deadline())
    assert len(gateway.access_keys) == 2
    client.close()


def test_static_credentials_get_one_401_and_no_retry(
    sdrs_api: respx.Router, make_client: Callable[[Any], SdrsClient]
) -> None:
    gateway = Gateway(sdrs_api, valid=NEW)
    client = make_client(OLD)

    for group in (GROUP, OTHER_GROUP, GROUP):
        with pytest.raises(SdrsApiError):
            client.delete_group_failure_jobs(PROJECT_ID, group, deadline())

    assert gateway.access_keys == [OLD.access_key]


def test_403_does_not_stop_other_calls(sdrs_api: respx.Router, make_client: Callable[[Any], SdrsClient]) -> None:
    # 403 is a permission on one resource, not a bad signature: other groups may be allowed.
    route = sdrs_api.delete(url__regex=r".*/failure-jobs/batch").mock(
        side_effect=[httpx.Response(403, json={"error": {"code": "SDRS.0004", "message": "no"}}), httpx.Response(204)]
    )
    client = make_client(OLD)
    with pytest.raises(SdrsApiError, match=r"SDRS\.0004"):
        client.delete_group_failure_jobs(PROJECT_ID, GROUP, deadline())
    assert client.delete_group_failure_jobs(PROJECT_ID, OTHER_GROUP, deadline()).status_code == 204
    assert route.call_count == 2


def test_unreadable_secret_mid_run_fails_the_call_without_sending(
    sdrs_api: respx.Router,
    extension: FakeSecretsExtension,
    source: SecretsExtensionCredentials,
    make_client: Callable[[Any], SdrsClient],
) -> None:
    gateway = Gateway(sdrs_api, valid=OLD)
    extension.fail(ExtensionFault(503, b"unavailable", TEXT), times=None)

    with pytest.raises(SdrsApiError) as caught:
        make_client(source).delete_group_failure_jobs(PROJECT_ID, GROUP, deadline())

    assert (caught.value.code, caught.value.retryable, caught.value.attempts) == ("Credentials.Unavailable", True, 0)
    assert gateway.access_keys == []


# --- settings ---------------------------------------------------------------------------

BASE = {"SDRS_REGION": "cn-north-4", "HUAWEICLOUD_SDK_PROJECT_ID": PROJECT_ID}
WITH_SECRET = {**BASE, "SDRS_CREDENTIALS_SECRET_ARN": SECRET_ARN, "AWS_SESSION_TOKEN": SESSION_TOKEN}


def test_secret_settings() -> None:
    settings = load_settings({**WITH_SECRET, "SDRS_CREDENTIALS_TTL_SECONDS": "60"})
    assert (settings.credentials, settings.credentials_secret_arn, settings.credentials_ttl) == (None, SECRET_ARN, 60)
    assert settings.secrets_extension_port == 2773
    assert SESSION_TOKEN not in repr(settings)
    assert (
        load_settings({**WITH_SECRET, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "2999"}).secrets_extension_port == 2999
    )


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SDRS_CREDENTIALS_SECRET_ARN": "sdrs/huaweicloud"}, "must be a Secrets Manager secret ARN"),
        ({"SDRS_CREDENTIALS_SECRET_ARN": SECRET_ARN.replace("secretsmanager", "ssm")}, "secret ARN"),
        ({"SDRS_CREDENTIALS_SECRET_ARN": SECRET_ARN + "/../x?y"}, "secret ARN"),
        ({"AWS_SESSION_TOKEN": ""}, "AWS_SESSION_TOKEN"),
        ({"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"}, "not both"),
        ({"SDRS_CREDENTIALS_TTL_SECONDS": "-1"}, "SDRS_CREDENTIALS_TTL_SECONDS"),
        ({"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "70000"}, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"),
        ({"HUAWEICLOUD_SDK_SECURITY_TOKEN": "T", "SDRS_CREDENTIALS_SECRET_ARN": ""}, "without HUAWEICLOUD_SDK_AK"),
    ],
)
def test_secret_configuration_problems(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings({**WITH_SECRET, **env})


@pytest.mark.parametrize(
    ("endpoint", "suffixes", "expected"),
    [
        ("https://sdrs.cn-north-4.myhuaweicloud.com", None, "https://sdrs.cn-north-4.myhuaweicloud.com"),
        ("https://SDRS.CN-NORTH-4.MYHUAWEICLOUD.COM:443", None, "https://sdrs.cn-north-4.myhuaweicloud.com"),
        ("https://sdrs.eu-de.otc.t-systems.com", "otc.t-systems.com", "https://sdrs.eu-de.otc.t-systems.com"),
        ("https://sdrs.eu-de.otc.t-systems.com", ".otc.t-systems.com, myhuaweicloud.com", None),
        ("https://myhuaweicloud.com:8443", None, "https://myhuaweicloud.com:8443"),
        ("http://127.0.0.1:8080", None, "http://127.0.0.1:8080"),
        ("http://[::1]:8080", None, "http://[::1]:8080"),
        ("https://localhost:8443", "example.com", "https://localhost:8443"),
    ],
)
def test_allowed_endpoints(endpoint: str, suffixes: str | None, expected: str | None) -> None:
    env = {**BASE, "SDRS_ENDPOINT": endpoint}
    if suffixes is not None:
        env["SDRS_ALLOWED_ENDPOINT_SUFFIXES"] = suffixes
    assert load_settings(env).endpoint == (expected or endpoint)


@pytest.mark.parametrize(
    ("endpoint", "suffixes", "fragment"),
    [
        ("https://sdrs.example.com", None, "not under an allowed domain"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com.evil.com", None, "not under an allowed domain"),
        ("https://evilmyhuaweicloud.com", None, "not under an allowed domain"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com.", None, "not under an allowed domain"),
        ("https://sdrs.cn-north-4.myhu\u0430weicloud.com", None, "not under an allowed domain"),  # Cyrillic a
        ("https://10.0.0.8", None, "not under an allowed domain"),
        ("https://169.254.169.254", None, "not under an allowed domain"),
        ("http://sdrs.cn-north-4.myhuaweicloud.com", None, "must use https"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com", "example.com", "not under an allowed domain"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com", "*", "SDRS_ALLOWED_ENDPOINT_SUFFIXES"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com", "com", "SDRS_ALLOWED_ENDPOINT_SUFFIXES"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com", "myhuaweicloud.com/x", "SDRS_ALLOWED_ENDPOINT_SUFFIXES"),
    ],
)
def test_refused_endpoints(endpoint: str, suffixes: str | None, fragment: str) -> None:
    env = {**BASE, "SDRS_ENDPOINT": endpoint}
    if suffixes is not None:
        env["SDRS_ALLOWED_ENDPOINT_SUFFIXES"] = suffixes
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings(env)


def test_region_endpoints_obey_the_policy_too() -> None:
    with pytest.raises(ConfigurationError, match="not under an allowed domain"):
        load_settings({**BASE, "SDRS_ALLOWED_ENDPOINT_SUFFIXES": "otc.t-systems.com"})


def test_new_credentials_are_tried_by_one_request_before_the_others_go(
    sdrs_api: respx.Router, make_client: Callable[[Any], SdrsClient]
) -> None:
    """Sixteen calls at once with a wrong key: one bad signature, not sixteen (five lock the AK);
    with the right key, once accepted, calls overlap again."""
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def slow_gateway(valid: Credentials) -> Callable[[httpx.Request], httpx.Response]:
        def serve(request: httpx.Request) -> httpx.Response:
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            time.sleep(0.05)
            with lock:
                in_flight[0] -= 1
            if signature_problem(request, valid.access_key, valid.secret_key) is None:
                return httpx.Response(204)
            return httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "bad signature"})

        return serve

    route = sdrs_api.delete(url__regex=r".*/failure-jobs/batch").mock(side_effect=slow_gateway(NEW))
    groups = [str(uuid.uuid4()) for _ in range(16)]

    def delete_all(client: SdrsClient) -> list[str]:
        def one(group: str) -> str:
            try:
                return str(client.delete_group_failure_jobs(PROJECT_ID, group, deadline()).status_code)
            except SdrsApiError as exc:
                return exc.code

        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(one, groups))

    codes = delete_all(make_client(OLD))
    assert sorted(set(codes)) == ["APIGW.0301", "Credentials.Rejected"]
    assert codes.count("APIGW.0301") == 1
    assert (route.call_count, most[0]) == (1, 1)

    codes = delete_all(make_client(NEW))
    assert codes == ["204"] * 16
    assert route.call_count == 17
    assert most[0] > 1  # after the first 204 the others went at once
