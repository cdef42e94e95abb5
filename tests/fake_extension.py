"""A fake AWS Parameters and Secrets Lambda Extension, for tests.

It answers GET /secretsmanager/get?secretId=ID[&refreshNow=true] the way the extension does:

- the X-Aws-Parameters-Secrets-Token header must hold the function's AWS_SESSION_TOKEN, or
  the answer is 401, text/plain "bad session token or header key" (what the extension
  answers); a request with X-Forwarded-For is refused (400), any method but GET too (405);
- a known secret (by ARN or by name) is answered with the GetSecretValue JSON: ARN, Name,
  SecretString (or SecretBinary, base64), VersionId, VersionStages, CreatedDate;
- Secrets Manager's errors come back as 400 with its JSON error ({"__type", "message"}):
  ResourceNotFoundException for an unknown id, AccessDeniedException (naming the role and
  the secret id, never its value) for a secret the role may not read;
- it has its own cache: once read, a secret is served at that version (even after
  `put_secret` made a new one current) until `refreshNow=true` is asked, its `cache_ttl`
  runs out or `expire_cache()` is called: rotation with a stale cache can be played.

`fail(ExtensionFault(...))` makes the next answers canned ones (any status/body/headers), or
closes the connection without an answer (`drop`). Every request is recorded (`requests`).

The same model serves a real ThreadingHTTPServer on 127.0.0.1 (`start()`, port 0 by
default) and a respx route (`install(router)`; `handle` is the side effect taking an
httpx.Request). It is the tests' only fake extension.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import respx

TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"
PATH = "/secretsmanager/get"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/sdrs-cleanup-role/sdrs-cleanup"
_TEXT = {"Content-Type": "text/plain"}
_JSON = {"Content-Type": "application/json"}


def secret_arn(name: str, region: str = REGION) -> str:
    """The ARN Secrets Manager gives a secret called `name` (with its 6-character suffix)."""
    suffix = base64.b64encode(hashlib.sha256(name.encode()).digest(), b"xy").decode()[:6]
    return f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{name}-{suffix}"


def unused_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True)
class SecretVersion:
    version_id: str
    secret_string: str | None
    secret_binary: bytes | None
    created: datetime


@dataclass
class ExtensionFault:
    """A canned answer instead of the extension's own; `drop`: no answer, the connection closes."""

    status: int = 500
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


@dataclass(frozen=True)
class ExtensionRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lowercased
    status: int  # the status answered; 0 when the connection was dropped

    @property
    def secret_id(self) -> str | None:
        return self.query.get("secretId", [None])[-1]

    @property
    def refresh_now(self) -> bool:
        return self.query.get("refreshNow", ["false"])[-1] == "true"

    @property
    def params(self) -> dict[str, str]:
        """The query, one value a name (the last)."""
        return {name: values[-1] for name, values in self.query.items()}


@dataclass
class _Secret:
    arn: str
    name: str
    versions: list[SecretVersion] = field(default_factory=list)
    denied: bool = False


_Answer = tuple[int, dict[str, str], bytes] | None  # None: drop the connection


class FakeSecretsExtension:
    def __init__(self, session_token: str, *, cache_ttl: float = math.inf) -> None:
        self.session_token = session_token
        self.cache_ttl = cache_ttl
        self.requests: list[ExtensionRequest] = []
        self._secrets: dict[str, _Secret] = {}
        self._cache: dict[str, tuple[SecretVersion, float]] = {}
        self._faults: list[list[Any]] = []  # [fault, answers left or None for forever]
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- Secrets Manager's side -----------------------------------------------------------

    def put_secret(self, arn: str, secret_string: str | None = None, *, secret_binary: bytes | None = None) -> str:
        """A new version of the secret (created if need be), now AWSCURRENT in Secrets
        Manager; the extension's cache keeps serving what it read before. Its version id."""
        assert (secret_string is None) != (secret_binary is None), "a secret is a string or binary"
        name = arn.split(":secret:", 1)[1].rsplit("-", 1)[0]
        version = SecretVersion(str(uuid.uuid4()), secret_string, secret_binary, datetime.now(UTC))
        with self._lock:
            self._secrets.setdefault(arn, _Secret(arn, name)).versions.append(version)
        return version.version_id

    def deny(self, arn: str, denied: bool = True) -> None:
        """The function's role may (no longer) read this secret: AccessDeniedException."""
        with self._lock:
            self._secrets[arn].denied = denied

    def fail(self, fault: ExtensionFault, times: int | None = 1) -> None:
        """The next `times` requests (forever: None) get `fault` instead of an answer."""
        with self._lock:
            self._faults.append([fault, times])

    def warm_cache(self, secret_id: str) -> None:
        """The extension has read the secret's current version before (as if asked for it
        once by `secret_id`): it serves that version until a refresh, however it rotates."""
        with self._lock:
            secret = self._find(secret_id)
            assert secret is not None, f"no such secret: {secret_id}"
            assert secret.versions, f"no version of {secret_id}"
            self._cache[secret_id] = (secret.versions[-1], time.monotonic())

    def expire_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def reads(self) -> list[ExtensionRequest]:
        """The requests answered with a secret."""
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    # --- the extension ----------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str]) -> _Answer:
        """Answer one request (`target`: path and query) and record it."""
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        lowered = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            answer = self._answer(method, split.path, query, lowered)
            status = 0 if answer is None else answer[0]
            self.requests.append(ExtensionRequest(method, split.path, query, lowered, status))
        return answer

    def _answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> _Answer:
        if self._faults:
            entry = self._faults[0]
            fault: ExtensionFault = entry[0]
            if entry[1] is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    self._faults.pop(0)
            return None if fault.drop else (fault.status, fault.headers, fault.body)
        if "x-forwarded-for" in headers:
            return 400, _TEXT, b"Forwarded"
        if headers.get(TOKEN_HEADER.lower()) != self.session_token:
            return 401, {**_TEXT, "X-Amzn-Errortype": "AccessDeniedException"}, b"bad session token or header key"
        if method != "GET":
            return 405, _TEXT, b"Not allowed"
        if path != PATH:
            return 404, _TEXT, b"Not found"
        secret_ids = query.get("secretId", [])
        refresh = query.get("refreshNow", ["false"])
        if len(secret_ids) != 1 or not secret_ids[0] or len(refresh) != 1 or refresh[0] not in ("true", "false"):
            return 400, _TEXT, b"missing or invalid query parameters: secretId (once), refreshNow=true|false"
        secret_id = secret_ids[0]
        cached = self._cache.get(secret_id)
        if refresh[0] == "false" and cached is not None and time.monotonic() - cached[1] < self.cache_ttl:
            return 200, _JSON, self._body(self._find(secret_id), cached[0])
        secret = self._find(secret_id)
        if secret is None or not secret.versions:
            return self._error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        if secret.denied:
            return self._error(
                "AccessDeniedException",
                f"User: {ROLE} is not authorized to perform: secretsmanager:GetSecretValue on resource: "
                f"{secret_id} because no identity-based policy allows the secretsmanager:GetSecretValue action",
            )
        self._cache[secret_id] = (secret.versions[-1], time.monotonic())
        return 200, _JSON, self._body(secret, secret.versions[-1])

    def _find(self, secret_id: str) -> _Secret | None:
        return self._secrets.get(secret_id) or next((s for s in self._secrets.values() if s.name == secret_id), None)

    @staticmethod
    def _error(kind: str, message: str) -> _Answer:
        return 400, _JSON, json.dumps({"__type": kind, "message": message}).encode()

    @staticmethod
    def _body(secret: _Secret | None, version: SecretVersion) -> bytes:
        assert secret is not None
        binary = base64.b64encode(version.secret_binary).decode() if version.secret_binary is not None else None
        body = {
            "ARN": secret.arn,
            "Name": secret.name,
            "SecretString": version.secret_string,
            "SecretBinary": binary,
            "VersionId": version.version_id,
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": version.created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "ResultMetadata": {},
        }
        return json.dumps(body).encode()

    # --- as a respx side effect ---------------------------------------------------------------

    def install(self, router: respx.Router, port: int = 2773) -> FakeSecretsExtension:
        """Answer GET http://127.0.0.1:{port}/secretsmanager/get on `router`."""
        router.get(f"http://127.0.0.1:{port}{PATH}").mock(side_effect=self.handle)
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode("ascii")
        answer = self.answer(request.method, target, dict(request.headers.items()))
        if answer is None:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        status, headers, body = answer
        return httpx.Response(status, headers=headers, content=body)

    # --- as a server on 127.0.0.1 --------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        port: int = self._server.server_address[1]
        return port

    def start(self, port: int = 0) -> FakeSecretsExtension:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                answer = fake.answer(self.command, self.path, dict(self.headers.items()))
                if answer is None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, headers, body = answer
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSecretsExtension:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
