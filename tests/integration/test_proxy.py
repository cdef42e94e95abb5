"""Proxies, over loopback: a small forward HTTP proxy (written here: it takes absolute-URI
requests, forwards them unchanged, Host header included, to the target on 127.0.0.1 and counts
them) in front of the SDRS emulator, which verifies every signature. Whole invocations through
`handler.core.handle`, with the function's own transports: HTTP_PROXY is honoured, NO_PROXY
too, the secrets extension is never proxied, and the proxy's user info is shown nowhere."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from handler.core import Invocation, Runtime, handle
from handler.local.emulator import DEMO_AK, DEMO_GROUP_WITH_FAILURES, DEMO_PROJECT_ID, DEMO_SK, SdrsEmulator, demo_state
from handler.sdrs.factory import ClientFactory
from tests.fake_extension import FakeSecretsExtension, secret_arn, unused_port

pytestmark = pytest.mark.slow  # loopback servers: not in `make fast`

EVENT = {"server_group_id": DEMO_GROUP_WITH_FAILURES}
CANARY_USER, CANARY_PASSWORD = "canary-proxy-user", "canary-proxy-password-5b1d"
CANARY_BASIC = base64.b64encode(f"{CANARY_USER}:{CANARY_PASSWORD}".encode()).decode()
ARN = secret_arn("sdrs-cleanup/huawei-credentials")
AWS_TOKEN = "IQoJb3JpZ2luX2VjEFAKE/aws+session=token"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer", "upgrade"}
MAX_REQUESTS = 200  # the proxy answers 503 beyond this: a run away test cannot loop for ever
LIFETIME_SECONDS = 60.0  # and it stops itself after this long


@dataclass(frozen=True)
class Forwarded:
    method: str
    target: str  # the absolute URI it was asked for
    host: str  # the Host header, as received (and forwarded)
    proxy_authorization: str | None


class ForwardProxy:
    """A forward HTTP proxy on 127.0.0.1 that forwards only to 127.0.0.1. `required_auth`: the
    Proxy-Authorization it wants (else 407)."""

    def __init__(self, required_auth: str | None = None) -> None:
        self.required_auth = required_auth
        self.requests: list[Forwarded] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10  # a connection idle this long is closed

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in {**(headers or {}), "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = urlsplit(self.path)
                with proxy._lock:
                    proxy.requests.append(
                        Forwarded(
                            self.command,
                            self.path,
                            self.headers.get("Host", ""),
                            self.headers.get("Proxy-Authorization"),
                        )
                    )
                    count = len(proxy.requests)
                if count > MAX_REQUESTS:
                    self._answer(503, b"proxy: too many requests")
                    return
                if target.scheme != "http" or target.hostname != "127.0.0.1" or not target.port:
                    self._answer(403, b"proxy: forwards only to http://127.0.0.1:port")
                    return
                if proxy.required_auth is not None and self.headers.get("Proxy-Authorization") != proxy.required_auth:
                    self._answer(407, b"proxy: authentication required", {"Proxy-Authenticate": 'Basic realm="t"'})
                    return
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
                try:
                    upstream.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in HOP_BY_HOP:
                            upstream.putheader(name, value)  # Host as it came: the signature covers it
                    upstream.endheaders(body or None)
                    response = upstream.getresponse()
                    content = response.read()
                    headers = {
                        k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}
                    }
                finally:
                    upstream.close()
                self.send_response(response.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if response.status not in (204, 304):
                    self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def do_CONNECT(self) -> None:
                self._answer(405, b"proxy: no tunnels here")

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def url(self, userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self.port}"

    def __enter__(self) -> ForwardProxy:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        timer = threading.Timer(LIFETIME_SECONDS, self.stop)
        timer.daemon = True
        timer.start()
        self._timer = timer
        return self

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            self._server.shutdown()
            self._server.server_close()

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self.stop()


@pytest.fixture
def emulator() -> Iterator[SdrsEmulator]:
    with SdrsEmulator(demo_state()) as running:
        yield running


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    return monkeypatch


def invoke(env: dict[str, str], event: dict[str, Any] = EVENT) -> dict[str, Any]:
    """One invocation with a fresh client (a cold start)."""
    factory = ClientFactory()
    try:
        body: dict[str, Any] = handle(Invocation(event, 30.0, env, Runtime(factory))).body
        return body
    finally:
        factory.close()


def jobs_left(emulator: SdrsEmulator) -> int:
    return len(emulator.state.failure_jobs(DEMO_PROJECT_ID, DEMO_GROUP_WITH_FAILURES))


def assert_cleaned(result: dict[str, Any], emulator: SdrsEmulator) -> None:
    assert result["ok"] is True, result
    (group,) = result["groups"]
    assert (group["outcome"], len(group["failure_jobs"])) == ("deleted", 3)
    assert jobs_left(emulator) == 0


# --- HTTP_PROXY and NO_PROXY ---------------------------------------------------------------------


def test_with_http_proxy_the_requests_go_through_the_proxy(
    emulator: SdrsEmulator, proxy: ForwardProxy, clean_environ: pytest.MonkeyPatch
) -> None:
    result = invoke({**emulator.environment(), "HTTP_PROXY": proxy.url()})

    assert_cleaned(result, emulator)
    calls = emulator.state.calls()
    assert [(c.route, c.status) for c in calls] == [("list_failure_jobs", 200), ("delete_group_failure_jobs", 204)]
    assert [r.method for r in proxy.requests] == ["GET", "DELETE"]
    host = emulator.endpoint.removeprefix("http://")
    for forwarded in proxy.requests:
        assert forwarded.target.startswith(f"{emulator.endpoint}/v1/{DEMO_PROJECT_ID}/task-center/")
        assert forwarded.host == host  # unchanged: the emulator verified the signature over it
        assert forwarded.proxy_authorization is None


def test_lower_case_and_all_proxy_are_honoured_too(
    emulator: SdrsEmulator, proxy: ForwardProxy, clean_environ: pytest.MonkeyPatch
) -> None:
    assert_cleaned(invoke({**emulator.environment(), "all_proxy": proxy.url()}), emulator)
    assert len(proxy.requests) == 2


def test_the_proxy_s_credentials_are_sent_to_it(emulator: SdrsEmulator, clean_environ: pytest.MonkeyPatch) -> None:
    with ForwardProxy(required_auth=f"Basic {CANARY_BASIC}") as proxy:
        result = invoke({**emulator.environment(), "HTTP_PROXY": proxy.url(f"{CANARY_USER}:{CANARY_PASSWORD}@")})

    assert_cleaned(result, emulator)
    assert [r.proxy_authorization for r in proxy.requests] == [f"Basic {CANARY_BASIC}"] * 2
    for call in emulator.state.calls():  # the proxy's credentials stop at the proxy
        assert "proxy-authorization" not in {name.lower() for name in call.headers}


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.1:{port}", "*", "localhost,127.0.0.1"])
def test_with_no_proxy_they_do_not(
    emulator: SdrsEmulator, proxy: ForwardProxy, clean_environ: pytest.MonkeyPatch, no_proxy: str
) -> None:
    port = emulator.endpoint.rsplit(":", 1)[1]
    env = {**emulator.environment(), "HTTP_PROXY": proxy.url(), "NO_PROXY": no_proxy.format(port=port)}

    assert_cleaned(invoke(env), emulator)
    assert proxy.requests == []


def test_https_proxy_is_not_for_a_plain_http_endpoint(
    emulator: SdrsEmulator, proxy: ForwardProxy, clean_environ: pytest.MonkeyPatch
) -> None:
    assert_cleaned(invoke({**emulator.environment(), "HTTPS_PROXY": proxy.url()}), emulator)
    assert proxy.requests == []


def test_the_process_environment_is_not_read(
    emulator: SdrsEmulator, proxy: ForwardProxy, clean_environ: pytest.MonkeyPatch
) -> None:
    """The function's configuration is the mapping it is given: os.environ's proxies do not count."""
    clean_environ.setenv("HTTP_PROXY", proxy.url())
    clean_environ.setenv("ALL_PROXY", proxy.url())

    assert_cleaned(invoke(emulator.environment()), emulator)
    assert proxy.requests == []


# --- the secrets extension is never proxied -------------------------------------------------------


def test_the_secrets_extension_is_never_proxied(
    emulator: SdrsEmulator, proxy: ForwardProxy, clean_environ: pytest.MonkeyPatch
) -> None:
    static = ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN")
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):  # where httpx would look too
        clean_environ.setenv(name, proxy.url())
    with FakeSecretsExtension(AWS_TOKEN) as extension:
        extension.put_secret(ARN, json.dumps({"access_key": DEMO_AK, "secret_key": DEMO_SK}))
        env = {
            **{name: value for name, value in emulator.environment().items() if name not in static},
            "SDRS_CREDENTIALS_SECRET_ARN": ARN,
            "AWS_SESSION_TOKEN": AWS_TOKEN,
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(extension.port),
            "HTTP_PROXY": proxy.url(),
            "ALL_PROXY": proxy.url(),
        }

        result = invoke(env)

        assert_cleaned(result, emulator)
        (read,) = extension.requests
        assert (read.path, read.status) == ("/secretsmanager/get", 200)
        assert "x-forwarded-for" not in read.headers
        assert "via" not in read.headers
    assert [r.method for r in proxy.requests] == ["GET", "DELETE"]  # the SDRS calls only
    assert all("/secretsmanager/" not in r.target for r in proxy.requests)


# --- the proxy's user info is shown nowhere --------------------------------------------------------


def leaked(text: str) -> list[str]:
    return [value for value in (CANARY_USER, CANARY_PASSWORD, CANARY_BASIC) if value in text]


def test_no_proxy_credential_in_results_logs_or_errors(
    emulator: SdrsEmulator,
    clean_environ: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "sdrs-cleanup"):
        caplog.set_level(logging.DEBUG, logger=name)
    userinfo = f"{CANARY_USER}:{CANARY_PASSWORD}@"
    base = {**emulator.environment(), "SDRS_MAX_ATTEMPTS": "1"}
    results = []
    with ForwardProxy(required_auth=f"Basic {CANARY_BASIC}") as proxy:
        results.append(invoke({**base, "HTTP_PROXY": proxy.url(userinfo)}))  # accepted
        assert results[-1]["ok"] is True
    with ForwardProxy(required_auth="Basic c29tZW9uZTplbHNl") as proxy:
        results.append(invoke({**base, "HTTP_PROXY": proxy.url(userinfo)}))  # refused by the proxy: 407
        assert results[-1]["ok"] is False
    results.append(invoke({**base, "HTTP_PROXY": f"http://{userinfo}127.0.0.1:{unused_port()}"}))  # no proxy there
    assert results[-1]["ok"] is False
    assert results[-1]["groups"][0]["error"]["code"] == "Network.Error"
    results.append(invoke({**base, "HTTP_PROXY": f"socks5://{userinfo}127.0.0.1:1080"}))  # not an http proxy
    assert results[-1]["error"]["type"] == "configuration"
    assert results[-1]["error"]["message"].startswith("HTTP_PROXY must be an http:// or https:// proxy URL")
    assert "***@127.0.0.1:1080" in results[-1]["error"]["message"]

    assert "send_request_headers" in caplog.text  # httpcore's DEBUG lines were captured
    captured = capsys.readouterr()
    text = "\n".join(
        [caplog.text, *(repr(vars(r)) for r in caplog.records), json.dumps(results), captured.out, captured.err]
    )
    assert leaked(text) == []


def test_the_forward_proxy_stops_itself() -> None:
    """The test's own proxy is bounded: it refuses beyond MAX_REQUESTS and stops when told to."""
    with ForwardProxy() as proxy:
        proxy.stop()
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", proxy.port), timeout=2):
            pass
