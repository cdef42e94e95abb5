"""AK/SK read from an AWS Secrets Manager secret through the AWS Parameters and Secrets
Lambda Extension (a local HTTP cache of Secrets Manager; no boto3 in the function).

The secret is a JSON object: {"access_key": "...", "secret_key": "...", "security_token":
"..."} (the token only for temporary credentials; the official SDK's variable names
HUAWEICLOUD_SDK_AK/SK/SECURITY_TOKEN are accepted too). It is read on first use, never at
import (SnapStart-safe), kept for `ttl` seconds across warm invocations, and read again,
bypassing the extension's cache, when the API rejects the credentials (a rotation).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from handler.sdrs.credentials import Credentials, CredentialsUnavailable

DEFAULT_EXTENSION_PORT = 2773
_FIELDS = {
    "access_key": ("access_key", "HUAWEICLOUD_SDK_AK"),
    "secret_key": ("secret_key", "HUAWEICLOUD_SDK_SK"),
    "security_token": ("security_token", "HUAWEICLOUD_SDK_SECURITY_TOKEN"),
}


def credentials_from_secret(secret_string: str) -> Credentials:
    """Parse the secret's JSON. Errors say what is wrong, never what the secret holds."""
    try:
        body = json.loads(secret_string)
    except (ValueError, RecursionError):
        raise CredentialsUnavailable("the credentials secret is not JSON") from None
    if not isinstance(body, dict):
        raise CredentialsUnavailable("the credentials secret is not a JSON object")
    values: dict[str, str | None] = {}
    for name, keys in _FIELDS.items():
        found = [body[key] for key in keys if body.get(key) not in (None, "")]
        if len(found) > 1:
            raise CredentialsUnavailable(f"the credentials secret sets {name} twice ({' and '.join(keys)})")
        value = found[0] if found else None
        if value is not None and (not isinstance(value, str) or value != value.strip() or not value.isprintable()):
            raise CredentialsUnavailable(f"the credentials secret's {name} is not a printable string")
        values[name] = value
    access_key, secret_key = values["access_key"], values["secret_key"]
    if not access_key or not secret_key:
        raise CredentialsUnavailable("the credentials secret has no access_key and secret_key")
    return Credentials(access_key, secret_key, values["security_token"])


class SecretsExtensionCredentials:
    """A `CredentialSource` backed by one secret, read through the extension on loopback."""

    def __init__(
        self,
        secret_id: str,
        aws_session_token: str,
        *,
        port: int = DEFAULT_EXTENSION_PORT,
        ttl: float = 300.0,
        timeout: float = 3.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret_id = secret_id
        self._session_token = aws_session_token
        self._url = f"http://127.0.0.1:{port}/secretsmanager/get"
        self._ttl = ttl
        self._timeout = httpx.Timeout(timeout)
        # Plain http to loopback: no TLS context (and no CA bundle to load) is needed.
        self._transport = transport or httpx.HTTPTransport(verify=False)
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: Credentials | None = None
        self._fetched_at = 0.0
        self._seen: list[str] = []
        self.fetches = 0

    def __repr__(self) -> str:
        return f"SecretsExtensionCredentials({self._secret_id!r}, ttl={self._ttl:g})"

    def current(self) -> Credentials:
        with self._lock:
            if self._cached is None or self._clock() - self._fetched_at >= self._ttl:
                self._store(self._fetch(refresh_now=False))
            assert self._cached is not None
            return self._cached

    def refresh(self, rejected: Credentials) -> Credentials | None:
        with self._lock:
            if self._cached is not None and self._cached != rejected:
                return self._cached  # another call has already read the new version
            fetched = self._fetch(refresh_now=True)
            self._store(fetched)
            return fetched if fetched != rejected else None

    def secrets(self) -> tuple[str, ...]:
        return tuple(self._seen)

    def close(self) -> None:
        self._transport.close()

    def _store(self, credentials: Credentials) -> None:
        self._cached, self._fetched_at = credentials, self._clock()
        self._seen.extend(s for s in credentials.secrets() if s not in self._seen)

    def _fetch(self, refresh_now: bool) -> Credentials:
        self.fetches += 1
        params: dict[str, Any] = {"secretId": self._secret_id}
        if refresh_now:
            params["refreshNow"] = "true"
        request = httpx.Request(
            "GET",
            self._url,
            params=params,
            headers={"X-Aws-Parameters-Secrets-Token": self._session_token},
            extensions={"timeout": self._timeout.as_dict()},
        )
        where = "the AWS Parameters and Secrets Lambda Extension"
        try:
            response = self._transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        except httpx.TransportError as exc:
            raise CredentialsUnavailable(
                f"{where} did not answer on {self._url} ({type(exc).__name__}): is its layer attached?",
                retryable=True,
            ) from None
        if response.status_code != 200:
            # The extension's error text names the secret and Secrets Manager's error, not its value.
            detail = " ".join(response.text.split())[:200]
            raise CredentialsUnavailable(
                f"{where} could not read the credentials secret: HTTP {response.status_code} {detail}",
                retryable=response.status_code >= 500 or response.status_code == 429,
            )
        try:
            secret_string = json.loads(response.content)["SecretString"]
            if not isinstance(secret_string, str):
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError):
            raise CredentialsUnavailable(f"{where} answered without a SecretString (a binary secret?)") from None
        return credentials_from_secret(secret_string)
