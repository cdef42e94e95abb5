"""The environment, read into one typed object with clear errors for what is wrong."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from handler.models import check_project_id, check_server_group_id
from handler.sdrs.signing import Credentials

REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
# The official SDK serves this region from another region's host.
REGION_HOSTS = {"ap-southeast-2": "sdrs.ap-southeast-3.myhuaweicloud.com"}
TRUE_WORDS, FALSE_WORDS = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no", ""})


class ConfigurationError(Exception):
    """The environment is missing or has a malformed setting. The message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    credentials: Credentials | None = field(repr=False)
    endpoint: str | None
    default_project_id: str | None
    default_server_group_ids: tuple[str, ...]
    # SDRS_SERVER_GROUP_IDS=all: scheduled events sweep every group of the project.
    sweep_on_schedule: bool = False
    force_dry_run: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 4
    retry_base_delay: float = 0.5
    retry_max_delay: float = 8.0
    deadline_margin: float = 2.0
    max_concurrency: int = 16
    max_failed_tasks: int = 2000
    group_start_margin: float = 5.0
    page_size: int = 1000

    def require_credentials(self) -> Credentials:
        if self.credentials is None:
            raise ConfigurationError(
                "no credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK "
                "(and HUAWEICLOUD_SDK_SECURITY_TOKEN for temporary credentials)"
            )
        return self.credentials

    def require_endpoint(self) -> str:
        if self.endpoint is None:
            raise ConfigurationError("no endpoint: set SDRS_REGION (e.g. cn-north-4) or SDRS_ENDPOINT (an https URL)")
        return self.endpoint


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_endpoint(endpoint: str | None, region: str | None) -> str | None:
    if endpoint:
        try:
            url = httpx.URL(endpoint.strip())
        except httpx.InvalidURL:
            raise ConfigurationError("SDRS_ENDPOINT is not a URL") from None
        if url.scheme not in ("https", "http") or not url.host:
            raise ConfigurationError("SDRS_ENDPOINT must be an absolute https:// URL")
        if url.scheme == "http" and not is_loopback(url.host):
            raise ConfigurationError("SDRS_ENDPOINT must use https; plain http is allowed only to a loopback host")
        if url.userinfo or url.query or url.fragment or url.path not in ("", "/"):
            raise ConfigurationError("SDRS_ENDPOINT must be scheme://host[:port] with no path, query or user info")
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.host}{port}"
    if region:
        region = region.strip()
        if not REGION_RE.fullmatch(region):
            raise ConfigurationError(f"SDRS_REGION must look like cn-north-4, got {region[:40]!r}")
        return "https://" + REGION_HOSTS.get(region, f"sdrs.{region}.myhuaweicloud.com")
    return None


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low:g} and {high:g}, got {raw[:40]!r}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _number(env, name, default, low, high)
    if value != int(value):
        raise ConfigurationError(f"{name} must be a whole number, got {env[name].strip()[:40]!r}")
    return int(value)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw[:40]!r}")


def parse_group_ids(raw: str, source: str) -> tuple[str, ...]:
    ids: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            check_server_group_id(item)
        except ValueError as exc:
            raise ConfigurationError(f"{source}: {item[:40]!r} {exc}") from None
        if item not in ids:
            ids.append(item)
    return tuple(ids)


def load_settings(env: Mapping[str, str]) -> Settings:
    access_key = env.get("HUAWEICLOUD_SDK_AK", "").strip()
    secret_key = env.get("HUAWEICLOUD_SDK_SK", "").strip()
    token = env.get("HUAWEICLOUD_SDK_SECURITY_TOKEN", "").strip() or None
    if bool(access_key) != bool(secret_key):
        raise ConfigurationError("set both HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, not only one")
    project_id = env.get("HUAWEICLOUD_SDK_PROJECT_ID", "").strip() or None
    if project_id:
        try:
            check_project_id(project_id)
        except ValueError as exc:
            raise ConfigurationError(f"HUAWEICLOUD_SDK_PROJECT_ID {exc}") from None
    scheduled_groups = env.get("SDRS_SERVER_GROUP_IDS", "").strip()
    sweep_on_schedule = scheduled_groups.lower() == "all"
    return Settings(
        credentials=Credentials(access_key, secret_key, token) if access_key else None,
        endpoint=resolve_endpoint(env.get("SDRS_ENDPOINT"), env.get("SDRS_REGION")),
        default_project_id=project_id,
        default_server_group_ids=()
        if sweep_on_schedule
        else parse_group_ids(scheduled_groups, "SDRS_SERVER_GROUP_IDS"),
        sweep_on_schedule=sweep_on_schedule,
        force_dry_run=_flag(env, "SDRS_DRY_RUN"),
        connect_timeout=_number(env, "SDRS_CONNECT_TIMEOUT", 5.0, 0.1, 60),
        read_timeout=_number(env, "SDRS_READ_TIMEOUT", 30.0, 0.1, 300),
        max_attempts=_integer(env, "SDRS_MAX_ATTEMPTS", 4, 1, 10),
        retry_base_delay=_number(env, "SDRS_RETRY_BASE_DELAY_SECONDS", 0.5, 0, 30),
        retry_max_delay=_number(env, "SDRS_RETRY_MAX_DELAY_SECONDS", 8.0, 0, 120),
        deadline_margin=_number(env, "SDRS_DEADLINE_MARGIN_SECONDS", 2.0, 0, 60),
        max_concurrency=_integer(env, "SDRS_MAX_CONCURRENCY", 16, 1, 64),
        max_failed_tasks=_integer(env, "SDRS_MAX_FAILED_TASKS", 2000, 0, 1_000_000),
        group_start_margin=_number(env, "SDRS_GROUP_START_MARGIN_SECONDS", 5.0, 0, 300),
        page_size=_integer(env, "SDRS_PAGE_SIZE", 1000, 1, 1000),
    )
