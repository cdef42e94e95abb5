"""Shared fixtures: a Lambda context, a clean SDRS environment, a respx router that lets
no request out unmocked, an in-memory SDRS API (tests/fake_sdrs.py) behind it, and a
manual clock for the handler's deadline."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import respx

from handler import app
from handler.core import Runtime
from handler.sdrs.factory import ClientFactory
from tests.clock import ManualClock
from tests.fake_sdrs import ACCESS_KEY, PROJECT_ID, REGION, SECRET_KEY, FakeSdrs, make_failure_jobs


@dataclass
class FakeLambdaContext:
    """What Lambda passes as `context` (the attributes Powertools and the handler read)."""

    remaining_millis: int = 300_000
    function_name: str = "sdrs-cleanup"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:sdrs-cleanup"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/sdrs-cleanup"
    log_stream_name: str = "2026/11/20/[$LATEST]abcdef0123456789"
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


SDRS_ENV = {
    "HUAWEICLOUD_SDK_AK": ACCESS_KEY,
    "HUAWEICLOUD_SDK_SK": SECRET_KEY,
    "HUAWEICLOUD_SDK_PROJECT_ID": PROJECT_ID,
    "SDRS_REGION": REGION,
}


@pytest.fixture
def sdrs_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The function's configuration: credentials, default project, region; nothing else."""
    for name in list(os.environ):
        if name.startswith(("SDRS_", "HUAWEICLOUD_SDK_")):
            monkeypatch.delenv(name)
    for name, value in SDRS_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(SDRS_ENV)


@pytest.fixture(autouse=True)
def _fresh_sdrs_clients() -> Iterator[None]:
    """Warm invocations reuse the edge's cached client; tests must not share one."""
    app.RUNTIME.sdrs.close()
    yield
    app.RUNTIME.sdrs.close()


@pytest.fixture
def sdrs_api() -> Iterator[respx.Router]:
    """A respx router with no routes: any request nobody mocked fails the test."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
def fake_sdrs(sdrs_api: respx.Router) -> FakeSdrs:
    """The in-memory SDRS API answering https://sdrs.cn-north-4.myhuaweicloud.com."""
    return FakeSdrs().install(sdrs_api)


@pytest.fixture(name="make_failure_jobs")
def make_failure_jobs_fixture() -> Callable[..., list[dict[str, Any]]]:
    """make_failure_jobs(n, server_group_id=...) -> n failed tasks shaped like the API's."""
    return make_failure_jobs


@pytest.fixture
def handler_clock() -> ManualClock:
    """The clock the handler measures its time left by, when a test passes `runtime`: time
    in the handler passes only when the test advances this clock."""
    return ManualClock()


@pytest.fixture
def sleeps() -> list[float]:
    """The client's back-off sleeps, recorded instead of slept (when a test passes `runtime`)."""
    return []


@pytest.fixture
def client_options() -> dict[str, Any]:
    """More of ClientFactory's test seams (`rng`, `clock`, `transport`): a test module may override this."""
    return {}


@pytest.fixture
def runtime(request: pytest.FixtureRequest, sleeps: list[float], client_options: dict[str, Any]) -> Iterator[Runtime]:
    """What the handler is given instead of the Lambda edge's own: a client factory that
    records its sleeps, and `handler_clock` as the clock when the test uses it."""
    clock = request.getfixturevalue("handler_clock") if "handler_clock" in request.fixturenames else time.monotonic
    factory = ClientFactory(sleep=sleeps.append, **client_options)
    yield Runtime(factory, clock)
    factory.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures of the fuzz tests (tests/unit/test_fuzz_edge.py), when they ran."""
    fuzz = sys.modules.get("tests.unit.test_fuzz_edge")
    if fuzz is not None:
        fuzz.write_summary(terminalreporter.write_line)
