"""What an SDRS client is built from, derived from the settings: plain data, no HTTP library."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from handler.sdrs.credentials import Credentials
from handler.settings import Proxy, Settings
from handler.values import value_object


@value_object
class RetryPolicy:
    """How failed attempts are retried: how many, and the capped exponential back-off with full jitter."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # Before any answer has been timed, an attempt is not started with less time than this left
    # (then: the time calls really take, handler.sdrs.client.CallTimes).
    min_attempt_time: float = 1.0

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
        return rng() * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))


@value_object
class SecretReference:
    """AK/SK kept in a Secrets Manager secret, read through the Parameters and Secrets extension."""

    arn: str
    aws_session_token: str = field(repr=False)  # Lambda's; the extension asks for it
    port: int
    ttl: float


@value_object
class ClientConfig:
    """Everything a client is built from; the client cache's key."""

    endpoint: str
    proxy: Proxy | None  # the proxy to the endpoint (its repr hides user info); None: direct
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
            proxy=settings.proxy,
            credentials=credentials,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retry=RetryPolicy(settings.max_attempts, settings.retry_base_delay, settings.retry_max_delay),
            max_connections=settings.max_concurrency,
            page_size=settings.page_size,
        )
