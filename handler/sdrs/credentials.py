"""The credentials that sign requests, and where they come from. No HTTP library here."""

from __future__ import annotations

from dataclasses import field
from typing import Protocol

from handler.values import value_object


@value_object
class Credentials:
    """AK/SK (and a token for temporary credentials). Never printed: repr hides them."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        token = ", security_token=***" if self.security_token else ""
        return f"Credentials(access_key=***, secret_key=***{token})"

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.access_key, self.secret_key, self.security_token) if s)


class CredentialSource(Protocol):
    """Where the signer's credentials come from: fixed ones, or a secret that can rotate."""

    def current(self) -> Credentials:
        """The credentials to sign with now (may fetch them: raises CredentialsUnavailable)."""
        ...

    def refresh(self, rejected: Credentials) -> Credentials | None:
        """Other credentials than `rejected` (which the API refused), or None if there are none."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Every credential value this source has handed out, for redaction."""
        ...

    def close(self) -> None:
        """Release what the source opened (a connection to the secrets extension)."""
        ...


class CredentialsUnavailable(Exception):
    """The credentials could not be read. The message never contains a credential value."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class StaticCredentials:
    """Credentials that never change (environment variables)."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"StaticCredentials({self._credentials!r})"

    def current(self) -> Credentials:
        return self._credentials

    def refresh(self, rejected: Credentials) -> Credentials | None:
        return None

    def secrets(self) -> tuple[str, ...]:
        return self._credentials.secrets()

    def close(self) -> None:
        pass
