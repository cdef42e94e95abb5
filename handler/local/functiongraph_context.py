"""A local stand-in for the context FunctionGraph's Python runtime passes to a handler.

The method names and what they return follow the context FunctionGraph documents for its
Python runtime (opentelekomcloud-community/otc-functiongraph-python-runtime,
`fg-runtime/src/fg_runtime/context.py`: `getUserData(key)` takes one argument and answers None
for a key it lacks; the timeout is counted from the start of the invocation).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AgencyCredentials:
    """The temporary AK/SK and security token an agency lends a function. Never printed."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    security_token: str = field(repr=False)


class LocalFunctionGraphContext:
    def __init__(
        self,
        timeout_seconds: float,
        *,
        agency: AgencyCredentials | None = None,
        project_id: str = "",
        user_data: Mapping[str, str] | None = None,
        function_name: str = "sdrs-cleanup-local",
        request_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._agency = agency
        self._project_id = project_id
        self._user_data = dict(user_data or {})
        self._function_name = function_name
        self._request_id = request_id or str(uuid.uuid4())
        self._timeout = timeout_seconds
        self._clock = clock
        self._started = clock()

    def __repr__(self) -> str:
        return f"LocalFunctionGraphContext(request_id={self._request_id!r}, agency={self._agency is not None})"

    def getRequestID(self) -> str:
        return self._request_id

    def getRemainingTimeInMilliSeconds(self) -> int:
        return max(0, int((self._timeout - (self._clock() - self._started)) * 1000))

    def getRunningTimeInSeconds(self) -> float:
        return self._timeout

    def getSecurityAccessKey(self) -> str:
        return self._agency.access_key if self._agency else ""

    def getSecuritySecretKey(self) -> str:
        return self._agency.secret_key if self._agency else ""

    def getSecurityToken(self) -> str:
        return self._agency.security_token if self._agency else ""

    def getProjectID(self) -> str:
        return self._project_id

    def getUserData(self, key: str) -> str | None:
        return self._user_data.get(key)

    def getFunctionName(self) -> str:
        return self._function_name

    def getVersion(self) -> str:
        return "latest"

    def getMemorySize(self) -> str:
        return "256"

    def getCPUNumber(self) -> str:
        return "300"

    def getPackage(self) -> str:
        return "default"
