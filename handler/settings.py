"""The environment, read into one typed object with clear errors for what is wrong."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from handler.sdrs.api import check_project_id, check_server_group_id
from handler.sdrs.credentials import Credentials

REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
SECRET_ARN_RE = re.compile(
    r"arn:aws(-cn|-us-gov)?:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}"
)
DOMAIN_RE = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# The Huawei Cloud API domain: SDRS_ENDPOINT may name no other host unless this list is changed.
DEFAULT_ENDPOINT_SUFFIXES = ("myhuaweicloud.com",)
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
    # AK/SK in a Secrets Manager secret, read through the Parameters and Secrets extension.
    credentials_secret_arn: str | None = None
    credentials_ttl: float = 300.0
    secrets_extension_port: int = 2773
    aws_session_token: str = field(default="", repr=False)  # Lambda's; the extension asks for it
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
                "no credentials: set SDRS_CREDENTIALS_SECRET_ARN (a Secrets Manager secret), or "
                "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (and HUAWEICLOUD_SDK_SECURITY_TOKEN for "
                "temporary credentials)"
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


def allowed_suffixes(raw: str | None) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return DEFAULT_ENDPOINT_SUFFIXES
    suffixes = tuple(part.strip().lower().removeprefix(".") for part in raw.split(",") if part.strip())
    for suffix in suffixes:
        if not DOMAIN_RE.fullmatch(suffix):
            raise ConfigurationError(
                f"SDRS_ALLOWED_ENDPOINT_SUFFIXES must list domain names such as myhuaweicloud.com, got {suffix[:60]!r}"
            )
    return suffixes


def check_endpoint_host(endpoint: str, suffixes: tuple[str, ...]) -> str:
    """Plain http only to loopback (the emulator); otherwise https to a host under an allowed suffix."""
    url = httpx.URL(endpoint)
    if is_loopback(url.host):
        return endpoint
    if url.scheme != "https":
        raise ConfigurationError("SDRS_ENDPOINT must use https; plain http is allowed only to a loopback host")
    if not any(url.host == suffix or url.host.endswith("." + suffix) for suffix in suffixes):
        raise ConfigurationError(
            f"the SDRS endpoint host {url.host[:80]!r} is not under an allowed domain ({', '.join(suffixes)}); "
            "for another cloud, add its domain to SDRS_ALLOWED_ENDPOINT_SUFFIXES"
        )
    return endpoint


def resolve_endpoint(endpoint: str | None, region: str | None) -> str | None:
    if endpoint:
        try:
            url = httpx.URL(endpoint.strip())
        except httpx.InvalidURL:
            raise ConfigurationError("SDRS_ENDPOINT is not a URL") from None
        if url.scheme not in ("https", "http") or not url.host:
            raise ConfigurationError("SDRS_ENDPOINT must be an absolute https:// URL")
        if url.userinfo or url.query or url.fragment or url.path not in ("", "/"):
            raise ConfigurationError("SDRS_ENDPOINT must be scheme://host[:port] with no path, query or user info")
        port = f":{url.port}" if url.port else ""
        host = f"[{url.host}]" if ":" in url.host else url.host  # IPv6
        return f"{url.scheme}://{host}{port}"
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


def _secret_arn(env: Mapping[str, str], static_credentials: bool) -> str | None:
    arn = env.get("SDRS_CREDENTIALS_SECRET_ARN", "").strip() or None
    if arn is None:
        return None
    if static_credentials:
        raise ConfigurationError(
            "set either SDRS_CREDENTIALS_SECRET_ARN or HUAWEICLOUD_SDK_AK/SK, not both: "
            "which credentials sign would otherwise be a guess"
        )
    if not SECRET_ARN_RE.fullmatch(arn):
        raise ConfigurationError(
            "SDRS_CREDENTIALS_SECRET_ARN must be a Secrets Manager secret ARN "
            f"(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), got {arn[:60]!r}"
        )
    if not env.get("AWS_SESSION_TOKEN"):
        raise ConfigurationError(
            "SDRS_CREDENTIALS_SECRET_ARN is read through the AWS Parameters and Secrets Lambda "
            "Extension, which needs AWS_SESSION_TOKEN (Lambda sets it)"
        )
    return arn


def load_settings(env: Mapping[str, str]) -> Settings:
    access_key = env.get("HUAWEICLOUD_SDK_AK", "").strip()
    secret_key = env.get("HUAWEICLOUD_SDK_SK", "").strip()
    token = env.get("HUAWEICLOUD_SDK_SECURITY_TOKEN", "").strip() or None
    if bool(access_key) != bool(secret_key):
        raise ConfigurationError("set both HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, not only one")
    if token and not access_key:
        raise ConfigurationError("HUAWEICLOUD_SDK_SECURITY_TOKEN is set without HUAWEICLOUD_SDK_AK/SK")
    secret_arn = _secret_arn(env, static_credentials=bool(access_key))
    endpoint = resolve_endpoint(env.get("SDRS_ENDPOINT"), env.get("SDRS_REGION"))
    if endpoint is not None:
        endpoint = check_endpoint_host(endpoint, allowed_suffixes(env.get("SDRS_ALLOWED_ENDPOINT_SUFFIXES")))
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
        endpoint=endpoint,
        credentials_secret_arn=secret_arn,
        credentials_ttl=_number(env, "SDRS_CREDENTIALS_TTL_SECONDS", 300.0, 0, 86_400),
        secrets_extension_port=_integer(env, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", 2773, 1, 65_535),
        aws_session_token=env.get("AWS_SESSION_TOKEN", "") if secret_arn else "",
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
