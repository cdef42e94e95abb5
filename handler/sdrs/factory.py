"""The SDRS client, made in one place: one per configuration, reused by warm invocations.

`ClientConfig` is everything a client is built from, derived from the settings; it is the
cache key, so no setting can be forgotten in it. A client whose configuration changed is
closed (its connection pool, and the secrets extension's transport) before the new one is made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from handler.sdrs.client import RetryPolicy, SdrsClient, connect, system_random
from handler.sdrs.credentials import Credentials, CredentialSource, StaticCredentials
from handler.settings import Settings


@dataclass(frozen=True, slots=True)
class SecretReference:
    """AK/SK kept in a Secrets Manager secret, read through the Parameters and Secrets extension."""

    arn: str
    aws_session_token: str = field(repr=False)  # Lambda's; the extension asks for it
    port: int
    ttl: float


@dataclass(frozen=True, slots=True)
class ClientConfig:
    endpoint: str
    credentials: Credentials | SecretReference
    connect_timeout: float
    read_timeout: float
    retry: RetryPolicy
    max_connections: int
    page_size: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientConfig:
        """Raises ConfigurationError when the settings name no credentials or no endpoint."""
        credentials: Credentials | SecretReference
        if settings.credentials_secret_arn is None:
            credentials = settings.require_credentials()
        else:
            credentials = SecretReference(
                settings.credentials_secret_arn,
                settings.aws_session_token,
                settings.secrets_extension_port,
                settings.credentials_ttl,
            )
        return cls(
            endpoint=settings.require_endpoint(),
            credentials=credentials,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retry=RetryPolicy(settings.max_attempts, settings.retry_base_delay, settings.retry_max_delay),
            max_connections=settings.max_concurrency,
            page_size=settings.page_size,
        )


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
        rng: Callable[[], float] = system_random,
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

    def _make(self, config: ClientConfig) -> SdrsClient:
        connection = connect(
            config.endpoint,
            self._source(config.credentials),
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            max_connections=config.max_connections,
            transport=self._transport,
        )
        return SdrsClient(
            connection, config.retry, sleep=self._sleep, rng=self._rng, page_size=config.page_size, clock=self._clock
        )
