"""The SDRS client, made in one place: one per configuration, reused by warm invocations.

`ClientConfig` (handler.sdrs.config) is everything a client is built from; it is the cache
key, so no setting can be forgotten in it. A client whose configuration changed is closed
(its connection pool, and the secrets extension's transport) before the new one is made.

The client, its configuration and httpx are imported when the first client is made, not with
this module: an event that needs no request (an OK alarm, an invalid event) never loads them. `preload()`
imports them ahead (SnapStart's init, so that a restored copy starts warm).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from handler.sdrs.credentials import Credentials, CredentialSource, StaticCredentials

if TYPE_CHECKING:
    import httpx

    from handler.sdrs.client import SdrsClient
    from handler.sdrs.config import ClientConfig, SecretReference
    from handler.settings import Settings


def credential_source(credentials: Credentials | SecretReference) -> CredentialSource:
    if isinstance(credentials, Credentials):
        return StaticCredentials(credentials)
    from handler.sdrs.secrets_extension import SecretsExtensionCredentials  # only for secret-based setups

    return SecretsExtensionCredentials(
        credentials.arn, credentials.aws_session_token, port=credentials.port, ttl=credentials.ttl
    )


class ClientFactory:
    """`factory(settings)` is the SDRS client for those settings, with its credentials read
    (a secret's problems stop the run before any request: CredentialsUnavailable).

    Tests inject what they need: a `transport` (respx or a recording one), `sleep` for the
    back-off, `clock` for the rejected-credentials hold, `rng` for the jitter."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] | None = None,
        source: Callable[[Credentials | SecretReference], CredentialSource] = credential_source,
    ) -> None:
        self._transport = transport
        self._sleep, self._clock, self._rng = sleep, clock, rng
        self._source = source
        self._lock = threading.Lock()
        self._config: ClientConfig | None = None
        self._client: SdrsClient | None = None

    def __repr__(self) -> str:
        return f"ClientFactory({self._config!r})"

    @property
    def current(self) -> SdrsClient | None:
        """The client warm invocations reuse, if one was made."""
        return self._client

    def __call__(self, settings: Settings) -> SdrsClient:
        from handler.sdrs.config import ClientConfig  # with the first request: an OK alarm needs none

        config = ClientConfig.from_settings(settings)
        with self._lock:
            if self._client is None or config != self._config:
                self.close()
                self._client = self._make(config)
                self._config = config
            client = self._client
        client.credentials.current()
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = self._config = None

    @staticmethod
    def preload() -> None:
        """The one-time work of a first request that is safe to snapshot (SnapStart's init): the
        HTTP stack's imports (httpcore's and ssl among them), the TLS context (the CA
        certificates), URL parsing with IDNA, the idna codec a connection encodes its host with.
        No socket, no credential, no client. Making the TLS context seeds OpenSSL's random
        generator, so each restored copy reseeds it before its first invocation
        (handler.snapstart)."""
        import certifi  # noqa: F401  (httpx imports these two when it makes a transport)
        import httpcore  # noqa: F401
        import httpx

        import handler.sdrs.config  # noqa: F401
        from handler.sdrs.client import tls_context

        tls_context()
        httpx.URL("https://sdrs.cn-north-4.myhuaweicloud.com/v1")
        "sdrs.cn-north-4.myhuaweicloud.com".encode("idna")  # the codec the socket module encodes a host with

    def _make(self, config: ClientConfig) -> SdrsClient:
        from handler.sdrs.client import SdrsClient, connect, system_random

        connection = connect(
            config.endpoint,
            self._source(config.credentials),
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            max_connections=config.max_connections,
            transport=self._transport,
            proxy=config.proxy.url if config.proxy else None,
        )
        return SdrsClient(
            connection,
            config.retry,
            sleep=self._sleep,
            rng=self._rng or system_random,
            page_size=config.page_size,
            clock=self._clock,
        )
