"""The environment, read into one typed object with clear errors for what is wrong.

Every variable is declared once, in `SETTINGS`: its name, kind, default, bounds (numbers) and
meaning. `load_settings` reads the values by those declarations; the README's configuration
table and template.yaml's parameter defaults are tested against them.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Literal, NamedTuple
from urllib.parse import quote, urlsplit

from handler.sdrs.api import check_project_id, check_server_group_id
from handler.sdrs.credentials import Credentials
from handler.values import value_object

REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
SECRET_ARN_RE = re.compile(
    r"arn:aws(-cn|-us-gov)?:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}"
)
DOMAIN_RE = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# The official SDK serves this region from another region's host.
REGION_HOSTS = {"ap-southeast-2": "sdrs.ap-southeast-3.myhuaweicloud.com"}
TRUE_WORDS, FALSE_WORDS = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no", ""})

Kind = Literal["number", "optional number", "whole number", "flag", "text"]
KINDS: tuple[Kind, ...] = ("number", "optional number", "whole number", "flag", "text")
NUMBER_KINDS = ("number", "optional number", "whole number")
Value = float | int | bool | str | None


class ConfigurationError(Exception):
    """The environment is missing or has a malformed setting. The message names it."""


@value_object
class Setting:
    """One environment variable. `default` is the text it is taken to hold when unset or blank
    ("" for none), so that a default is read, and checked, exactly as a value from the
    environment is; `bounds` (numbers only) are inclusive."""

    name: str
    kind: Kind
    meaning: str
    default: str = ""
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        problem = self._declaration_problem()
        if problem:
            raise ValueError(f"the setting {self.name!r} is declared wrongly: {problem}")

    def _declaration_problem(self) -> str | None:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", self.name):
            return "the name is not an environment variable's (A-Z, 0-9, _)"
        if self.kind not in KINDS:
            return f"the kind is none of {KINDS}"
        if not self.meaning or "|" in self.meaning or "\n" in self.meaning:
            return "the meaning is not one line without '|' (it is a cell of the README's table)"
        if (self.bounds is not None) != (self.kind in NUMBER_KINDS):
            return "numbers, and only numbers, have bounds"
        if self.bounds is not None:
            low, high = self.bounds
            if not low <= high:
                return "the bounds are not low <= high"
            if self.kind == "whole number" and not (isinstance(low, int) and isinstance(high, int)):
                return "the bounds of a whole number are whole numbers"
        if self.default != self.default.strip():
            return "the default has surrounding spaces"
        try:
            self.parse(self.default)
        except ConfigurationError as exc:
            return f"the default {self.default!r} is refused: {exc}"
        return None

    @property
    def limits(self) -> tuple[float, float]:
        if self.bounds is None:
            raise TypeError(f"{self.name} is not a number")
        return self.bounds

    def parse(self, raw: str) -> Value:
        """What the variable set to `raw` loads as (blank: the default). Raises ConfigurationError."""
        match self.kind:
            case "number":
                return _parse_number(self, raw)
            case "optional number":
                return _parse_optional_number(self, raw)
            case "whole number":
                return _parse_whole(self, raw)
            case "flag":
                return _parse_flag(self, raw)
            case "text":
                return _parse_text(self, raw)


def _parse_number(setting: Setting, raw: str) -> float:
    raw = raw.strip() or setting.default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{setting.name} must be a number, got {raw[:40]!r}") from None
    low, high = setting.limits
    if not low <= value <= high:
        raise ConfigurationError(f"{setting.name} must be between {low:g} and {high:g}, got {raw[:40]!r}")
    return value


def _parse_optional_number(setting: Setting, raw: str) -> float | None:
    """Blank: None (the code then decides, e.g. from what calls really take)."""
    return _parse_number(setting, raw) if raw.strip() else None


def _parse_whole(setting: Setting, raw: str) -> int:
    value = _parse_number(setting, raw)
    if value != int(value):
        shown = raw.strip() or setting.default
        raise ConfigurationError(f"{setting.name} must be a whole number, got {shown[:40]!r}")
    return int(value)


def _parse_flag(setting: Setting, raw: str) -> bool:
    raw = (raw.strip() or setting.default).lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigurationError(f"{setting.name} must be true or false, got {raw[:40]!r}")


def _parse_text(setting: Setting, raw: str) -> str | None:
    return raw.strip() or setting.default or None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SDRS_CREDENTIALS_SECRET_ARN",
        "text",
        "a Secrets Manager secret holding the AK/SK, read through the Parameters and Secrets extension "
        "(see Credentials below); not together with `HUAWEICLOUD_SDK_AK`/`_SK`",
    ),
    Setting(
        "SDRS_CREDENTIALS_TTL_SECONDS",
        "number",
        "how long warm invocations keep the secret's credentials",
        "300",
        (0, 86_400),
    ),
    Setting(
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
        "whole number",
        "the extension's port (the extension reads it too)",
        "2773",
        (1, 65_535),
    ),
    Setting(
        "HUAWEICLOUD_SDK_AK", "text", "the access key (AK), when there is no secret (names as in the official SDK)"
    ),
    Setting("HUAWEICLOUD_SDK_SK", "text", "the secret key (SK) of `HUAWEICLOUD_SDK_AK`"),
    Setting(
        "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        "text",
        "token of temporary credentials (sent and signed as `X-Security-Token`)",
    ),
    Setting("HUAWEICLOUD_SDK_PROJECT_ID", "text", "project used when an event names none"),
    Setting(
        "SDRS_REGION",
        "text",
        "endpoint `https://sdrs.{region}.myhuaweicloud.com` (`ap-southeast-2` is served by the `ap-southeast-3` host)",
    ),
    Setting(
        "SDRS_ENDPOINT",
        "text",
        "explicit endpoint (another cloud, a proxy): `https://host[:port]`, plain `http` only to a loopback host; "
        "wins over `SDRS_REGION`",
    ),
    Setting(
        "SDRS_ALLOWED_ENDPOINT_SUFFIXES",
        "text",
        "domains the endpoint's host must be under (comma-separated); loopback is always allowed",
        "myhuaweicloud.com",
    ),
    Setting(
        "SDRS_SERVER_GROUP_IDS",
        "text",
        "comma-separated groups for payload-less scheduled events; `all`: they sweep every group of the project",
    ),
    Setting("SDRS_DRY_RUN", "flag", "`true`: every invocation lists only, deletes nothing (try it out first)", "false"),
    Setting("SDRS_MAX_ATTEMPTS", "whole number", "tries per API call", "4", (1, 10)),
    Setting("SDRS_RETRY_BASE_DELAY_SECONDS", "number", "backoff: the first delay (full jitter)", "0.5", (0, 30)),
    Setting("SDRS_RETRY_MAX_DELAY_SECONDS", "number", "backoff: the cap of a delay", "8", (0, 120)),
    Setting(
        "SDRS_CONNECT_TIMEOUT", "number", "seconds to connect, per attempt, never beyond the time left", "5", (0.1, 60)
    ),
    Setting(
        "SDRS_READ_TIMEOUT",
        "number",
        "seconds to wait for an answer, per attempt, never beyond the time left",
        "30",
        (0.1, 300),
    ),
    Setting(
        "SDRS_DEADLINE_MARGIN_SECONDS",
        "optional number",
        "time kept back from the deadline to return the result; unset: a tenth of the time given, 0.2 to 2 s",
        "",
        (0, 60),
    ),
    Setting(
        "SDRS_MAX_CONCURRENCY",
        "whole number",
        "requests in flight at once; also the connection pool's size",
        "16",
        (1, 64),
    ),
    Setting(
        "SDRS_MAX_FAILED_TASKS",
        "whole number",
        "the safety brake: a run that would delete more failed tasks deletes none",
        "2000",
        (0, 1_000_000),
    ),
    Setting(
        "SDRS_GROUP_START_MARGIN_SECONDS",
        "optional number",
        "no delete starts with less time than this left, no audit with less than twice it; unset: judged from "
        "what the API's calls take (see Time budget)",
        "",
        (0, 300),
    ),
    Setting(
        "SDRS_SWEEP_ROTATION_HOURS",
        "number",
        "a sweep starts at a point of the sorted groups that moves round them once in this many hours "
        "(of the scheduled time), so that a project too big for one run is reached in full; 0: always the first",
        "24",
        (0, 8_760),
    ),
    Setting("SDRS_PAGE_SIZE", "whole number", "page size of the listings", "1000", (1, 1000)),
    # The proxies, read as httpx's clients read them (trust_env); also in lower case, which wins
    # (see Proxies). Never for the secrets extension, on loopback.
    Setting(
        "HTTPS_PROXY",
        "text",
        "proxy for an `https` endpoint: `http://[user:password@]host[:port]` or `https://…` (no scheme: `http://`); "
        "`https_proxy` too, which wins",
    ),
    Setting(
        "HTTP_PROXY",
        "text",
        "proxy for a plain `http` endpoint (the emulator); `http_proxy` too, which wins",
    ),
    Setting(
        "ALL_PROXY",
        "text",
        "proxy for an endpoint of either scheme when the scheme's own variable is unset; `all_proxy` too",
    ),
    Setting(
        "NO_PROXY",
        "text",
        "comma-separated hosts, domains (`example.com` and its subdomains, `.example.com` only these), "
        "IP addresses, `host:port`, or `*`, reached without a proxy; `no_proxy` too",
    ),
    Setting(
        "SDRS_SMN_TOPIC_URNS",
        "text",
        "comma-separated SMN topic URNs whose HTTP(S) deliveries are accepted (exact match); unset: every SMN "
        "delivery is refused",
    ),
    Setting(
        "SDRS_SMN_SIGNING_CERTS",
        "text",
        "one or more PEM certificates SMN signs with, pinned: then no certificate is downloaded",
    ),
    Setting(
        "SDRS_FUNCTIONGRAPH_EMF_METRICS",
        "flag",
        "on FunctionGraph, print the CloudWatch EMF metric blobs too (off: the result and the logs only, "
        "as LTS has no use for EMF)",
        "false",
    ),
    Setting(
        "SDRS_SMN_MAX_AGE_SECONDS",
        "number",
        "an SMN delivery whose `timestamp` is older than this is refused as a replay (15 minutes); 0: no limit",
        "900",
        (0, 86_400),
    ),
)
DECLARED: Mapping[str, Setting] = MappingProxyType({setting.name: setting for setting in SETTINGS})


def default_of(name: str) -> Value:
    """What a declared variable loads as when unset (None: nothing). KeyError if not declared."""
    return DECLARED[name].parse("")


def number_default(name: str) -> float:
    return _parse_number(_declared(name, "number"), "")


def whole_default(name: str) -> int:
    return _parse_whole(_declared(name, "whole number"), "")


def _declared(name: str, kind: Kind) -> Setting:
    setting = DECLARED[name]
    if setting.kind != kind:
        raise TypeError(f"{name} is declared as a {setting.kind}, not a {kind}")
    return setting


def _number(env: Mapping[str, str], name: str) -> float:
    return _parse_number(_declared(name, "number"), env.get(name, ""))


def _optional_number(env: Mapping[str, str], name: str) -> float | None:
    return _parse_optional_number(_declared(name, "optional number"), env.get(name, ""))


def _whole_number(env: Mapping[str, str], name: str) -> int:
    return _parse_whole(_declared(name, "whole number"), env.get(name, ""))


def _flag(env: Mapping[str, str], name: str) -> bool:
    return _parse_flag(_declared(name, "flag"), env.get(name, ""))


def _text(env: Mapping[str, str], name: str) -> str | None:
    return _parse_text(_declared(name, "text"), env.get(name, ""))


@value_object
class Settings:
    """The function's configuration, read from the environment by load_settings."""

    credentials: Credentials | None = field(repr=False)
    endpoint: str | None
    default_project_id: str | None
    default_server_group_ids: tuple[str, ...]
    # AK/SK in a Secrets Manager secret, read through the Parameters and Secrets extension.
    credentials_secret_arn: str | None
    credentials_ttl: float
    secrets_extension_port: int
    aws_session_token: str = field(repr=False)  # Lambda's; the extension asks for it
    # SDRS_SERVER_GROUP_IDS=all: scheduled events sweep every group of the project.
    sweep_on_schedule: bool
    force_dry_run: bool
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    retry_base_delay: float
    retry_max_delay: float
    deadline_margin: float | None  # None: from the time given (handler.core)
    max_concurrency: int
    max_failed_tasks: int
    group_start_margin: float | None  # None: from what the API's calls take (handler.cleanup)
    page_size: int
    sweep_rotation_hours: float
    # The proxy the endpoint is reached through (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY), or None.
    proxy: Proxy | None
    # SMN HTTP(S) deliveries (handler.smn): the topics accepted (none: all refused), pinned
    # certificates (PEM) or None, and the replay window in seconds (0: none).
    smn_topic_urns: tuple[str, ...]
    smn_signing_certs: str | None = field(repr=False)
    smn_max_age_seconds: float
    functiongraph_emf_metrics: bool

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


# --- the endpoint -------------------------------------------------------------------------------
# An endpoint is read as httpx reads a URL (host lower-cased and percent-encoded, the scheme's
# default port dropped, "." and ".." path segments removed), so that it loads as it always did.

MAX_URL_LENGTH = 65_536
IPV4_LIKE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
HOST_SAFE = "!$&'()*+,;=" + '"`{}%|\\'  # kept as they are in a host name; the rest is percent-encoded
DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    """scheme://host[:port]: where the requests go."""

    scheme: str
    host: str  # an IPv6 address without its brackets
    port: int | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6
        return f"{self.scheme}://{host}:{self.port}" if self.port else f"{self.scheme}://{host}"


class _Url(NamedTuple):
    origin: Origin
    userinfo: str
    path: str
    query: str
    fragment: str


def _not_a_url() -> ConfigurationError:
    return ConfigurationError("SDRS_ENDPOINT is not a URL")


def _parse_url(text: str) -> _Url:
    if len(text) > MAX_URL_LENGTH or any(char.isascii() and not char.isprintable() for char in text):
        raise _not_a_url()
    try:
        parts = urlsplit(text)
    except ValueError:  # brackets that hold no IPv6 address
        raise _not_a_url() from None
    userinfo, _, host_and_port = parts.netloc.rpartition("@")
    if host_and_port.startswith("[") and "]" in host_and_port:
        end = host_and_port.rindex("]") + 1
        host, port = host_and_port[:end], host_and_port[end:].removeprefix(":")
    else:
        host, _, port = host_and_port.partition(":")
    try:
        number = int(port) if port else None
    except ValueError:
        raise _not_a_url() from None
    if number == DEFAULT_PORTS.get(text[: len(parts.scheme)]):  # a default port, for a lower-case scheme
        number = None
    origin = Origin(parts.scheme, _normal_host(host), number)
    return _Url(origin, userinfo, _remove_dot_segments(parts.path), parts.query, parts.fragment)


def _normal_host(host: str) -> str:
    """An IP address as written (IPv6 without its brackets); a name lower-cased, percent-encoded,
    in ASCII."""
    bracketed = len(host) > 1 and host.startswith("[") and host.endswith("]")
    if bracketed or IPV4_LIKE.fullmatch(host):
        address = host[1:-1] if bracketed else host
        try:
            (ipaddress.IPv6Address if bracketed else ipaddress.IPv4Address)(address)
        except ValueError:
            raise _not_a_url() from None
        return address
    if host.isascii():
        return quote(host.lower(), safe=HOST_SAFE)
    # An internationalised name: its ASCII form, if it has one that reads back as the same name
    # (IDNA 2003's mappings, such as full-width letters to ASCII ones, are not taken).
    try:
        ascii_host = host.lower().encode("idna").decode("ascii")
        if ascii_host.encode("ascii").decode("idna") == host.lower():
            return ascii_host
    except UnicodeError:
        pass
    raise _not_a_url()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: "/a/.." is "", "/./" is "/"."""
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if output and output != [""]:
                output.pop()
        elif segment != ".":
            output.append(segment)
    return "/".join(output)


def _endpoint_origin(text: str) -> Origin:
    url = _parse_url(text)
    if url.origin.scheme not in ("https", "http") or not url.origin.host:
        raise ConfigurationError("SDRS_ENDPOINT must be an absolute https:// URL")
    if url.userinfo or url.query or url.fragment or url.path not in ("", "/"):
        raise ConfigurationError("SDRS_ENDPOINT must be scheme://host[:port] with no path, query or user info")
    return url.origin


def _origin(endpoint: str | None, region: str | None) -> Origin | None:
    if endpoint:
        return _endpoint_origin(endpoint.strip())
    if region:
        region = region.strip()
        if not REGION_RE.fullmatch(region):
            raise ConfigurationError(f"SDRS_REGION must look like cn-north-4, got {region[:40]!r}")
        return Origin("https", REGION_HOSTS.get(region, f"sdrs.{region}.myhuaweicloud.com"))
    return None


def _check_origin(origin: Origin, suffixes: tuple[str, ...]) -> None:
    """Plain http only to loopback (the emulator); otherwise https to a host under an allowed suffix."""
    host = origin.host
    if is_loopback(host):
        return
    if origin.scheme != "https":
        raise ConfigurationError("SDRS_ENDPOINT must use https; plain http is allowed only to a loopback host")
    if not any(host == suffix or host.endswith("." + suffix) for suffix in suffixes):
        raise ConfigurationError(
            f"the SDRS endpoint host {host[:80]!r} is not under an allowed domain ({', '.join(suffixes)}); "
            "for another cloud, add its domain to SDRS_ALLOWED_ENDPOINT_SUFFIXES"
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # ::ffff:127.0.0.1 is loopback from Python 3.13 on (and later 3.12s), not in 3.12.1: the same everywhere.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback


def allowed_suffixes(raw: str | None) -> tuple[str, ...]:
    """SDRS_ALLOWED_ENDPOINT_SUFFIXES as domain names (None or blank: the declared default)."""
    if raw is None or not raw.strip():
        raw = DECLARED["SDRS_ALLOWED_ENDPOINT_SUFFIXES"].default
    suffixes = tuple(part.strip().lower().removeprefix(".") for part in raw.split(",") if part.strip())
    for suffix in suffixes:
        if not DOMAIN_RE.fullmatch(suffix):
            raise ConfigurationError(
                f"SDRS_ALLOWED_ENDPOINT_SUFFIXES must list domain names such as myhuaweicloud.com, got {suffix[:60]!r}"
            )
    return suffixes


def check_endpoint_host(endpoint: str, suffixes: tuple[str, ...]) -> str:
    """The endpoint, if its host is one requests may go to (see `_check_origin`)."""
    _check_origin(_parse_url(endpoint).origin, suffixes)
    return endpoint


def resolve_endpoint(endpoint: str | None, region: str | None) -> str | None:
    """SDRS_ENDPOINT as scheme://host[:port], or else the endpoint of SDRS_REGION, or None."""
    origin = _origin(endpoint, region)
    return origin.url if origin else None


# --- the proxy ----------------------------------------------------------------------------------
# Chosen as httpx chooses one for a client with trust_env (httpx._utils.get_environment_proxies
# and httpx._utils.URLPattern, over urllib.request.getproxies_environment), from the environment
# the function is given, once, for the endpoint: tests/unit/test_proxy_settings.py checks the
# choice against httpx's own. Unlike httpx, a value is stripped (blank: unset), only the chosen
# proxy is checked, and it must be http:// or https:// (no SOCKS); NO_PROXY is read only when a
# proxy is set.

PROXY_VARIABLES = ("http", "https", "all", "no")
PROXY_HOST_RE = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?")


def redact_userinfo(url: str) -> str:
    """`url` with whatever could be user info (up to its last '@') shown as `***`."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, separator, rest = "", "", url
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + separator + rest


@value_object
class Proxy:
    """The proxy requests to the endpoint go through, and the variable that named it. `url` may
    hold `user:password@` (httpx sends it as Proxy-Authorization): `str()` and `repr()` show it
    redacted, and nothing else shows `url`."""

    url: str
    variable: str

    @property
    def shown(self) -> str:
        return redact_userinfo(self.url)

    def __repr__(self) -> str:
        return f"Proxy({self.shown!r}, variable={self.variable!r})"

    def __str__(self) -> str:
        return self.shown


class _ProxyPattern(NamedTuple):
    """httpx's URLPattern: scheme "" is any, host "" any, "*.d" under d, "*d" d or under it."""

    scheme: str
    host: str
    port: int | None

    @property
    def priority(self) -> tuple[int, int, int]:  # the most specific first, as httpx sorts them
        return (0 if self.port is not None else 1, -len(self.host), -len(self.scheme))

    def matches(self, origin: Origin) -> bool:
        if self.scheme and self.scheme != origin.scheme:
            return False
        if self.port is not None and self.port != origin.port:
            return False
        if self.host.startswith("*."):
            host = f".+\\.{re.escape(self.host[2:])}"
        elif self.host.startswith("*"):
            host = f"(.+\\.)?{re.escape(self.host[1:])}"
        else:
            host = re.escape(self.host)
        return not self.host or re.fullmatch(host, origin.host) is not None


def _proxy_variables(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """{"http"|"https"|"all"|"no": (the variable, its value)}, as urllib.request reads them: any
    case, then lower case again, which wins (set but empty, it unsets). With REQUEST_METHOD set
    (CGI), HTTP_PROXY in upper case is ignored (CVE-2016-1000110)."""
    found: dict[str, tuple[str, str]] = {}
    for name, value in env.items():
        key = name.lower()
        if value and key.endswith("_proxy") and key[:-6] in PROXY_VARIABLES:
            found[key[:-6]] = (name, value)
    if "REQUEST_METHOD" in env:
        found.pop("http", None)
    for name, value in env.items():
        if name.endswith("_proxy") and name.lower()[:-6] in PROXY_VARIABLES:
            if value:
                found[name.lower()[:-6]] = (name, value)
            else:
                found.pop(name.lower()[:-6], None)
    read: dict[str, tuple[str, str]] = {}
    for key, (name, value) in found.items():
        text = _text({name.upper(): value}, name.upper())  # stripped; blank is unset
        if text:
            read[key] = (name, text)
    return read


def _no_proxy_pattern(entry: str) -> str:
    """A NO_PROXY entry as httpx makes it a pattern (curl's rules)."""
    if "://" in entry:
        return entry
    address = entry.split("/")[0]
    for kind, pattern in ((ipaddress.IPv4Address, "all://{}"), (ipaddress.IPv6Address, "all://[{}]")):
        try:
            kind(address)
        except ValueError:
            continue
        return pattern.format(entry)
    return f"all://{entry}" if entry.lower() == "localhost" else f"all://*{entry}"


def _pattern(text: str, source: str) -> _ProxyPattern:
    wrong = ConfigurationError(
        f"NO_PROXY must list hosts, domains, IP addresses or URLs, got {redact_userinfo(source)[:80]!r}"
    )
    try:
        origin = _parse_url(text).origin
    except ConfigurationError:
        raise wrong from None
    if "*" in origin.host and not text.isascii():  # httpx refuses a wildcard IDNA name
        raise wrong
    host = "" if origin.host == "*" else origin.host
    return _ProxyPattern("" if origin.scheme == "all" else origin.scheme, host, origin.port)


Mount = tuple[_ProxyPattern, tuple[str, str] | None]


def _proxy_mounts(variables: Mapping[str, tuple[str, str]]) -> list[Mount]:
    """[(pattern, (variable, proxy URL) or None for no proxy)], as httpx mounts them: one per
    pattern (a later one replaces an earlier in its place), the most specific first."""
    mounts: dict[str, Mount] = {}
    for scheme in ("http", "https", "all"):
        if scheme in variables:
            name, value = variables[scheme]
            url = value if "://" in value else f"http://{value}"
            mounts[f"{scheme}://"] = (_ProxyPattern("" if scheme == "all" else scheme, "", None), (name, url))
    if not mounts:  # no proxy: NO_PROXY changes nothing (httpx would still refuse a malformed one)
        return []
    for entry in (part.strip() for part in variables.get("no", ("", ""))[1].split(",")):
        if entry == "*":
            return []
        if entry:
            text = _no_proxy_pattern(entry)
            mounts[text] = (_pattern(text, entry), None)
    return sorted(mounts.values(), key=lambda mount: mount[0].priority)  # stable, as httpx's sort


def _checked_proxy(name: str, url: str) -> Proxy:
    wrong = ConfigurationError(
        f"{name} must be an http:// or https:// proxy URL with a host, got {redact_userinfo(url)[:80]!r}"
    )
    try:
        parsed = _parse_url(url)
    except ConfigurationError:
        raise wrong from None
    scheme, host, port = parsed.origin
    named = PROXY_HOST_RE.fullmatch(host) is not None or ":" in host  # a name, an IPv4 or IPv6 address
    if scheme not in ("http", "https") or not named or (port is not None and not 0 < port < 65_536):
        raise wrong
    return Proxy(url, name)


def choose_proxy(env: Mapping[str, str], endpoint: str | None) -> Proxy | None:
    """The proxy for `endpoint` (a loaded one: scheme://host[:port]) by HTTPS_PROXY, HTTP_PROXY,
    ALL_PROXY and NO_PROXY, in upper or lower case, or None: go direct. Raises ConfigurationError
    when the chosen proxy is not an http(s) URL with a host, or NO_PROXY has a malformed entry."""
    if endpoint is None:
        return None
    origin = _parse_url(endpoint).origin
    for pattern, chosen in _proxy_mounts(_proxy_variables(env)):
        if pattern.matches(origin):
            return None if chosen is None else _checked_proxy(*chosen)
    return None


# --- the parts of load_settings -----------------------------------------------------------------


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


def _static_credentials(env: Mapping[str, str]) -> Credentials | None:
    access_key, secret_key = _text(env, "HUAWEICLOUD_SDK_AK"), _text(env, "HUAWEICLOUD_SDK_SK")
    token = _text(env, "HUAWEICLOUD_SDK_SECURITY_TOKEN")
    if bool(access_key) != bool(secret_key):
        raise ConfigurationError("set both HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, not only one")
    if token and not access_key:
        raise ConfigurationError("HUAWEICLOUD_SDK_SECURITY_TOKEN is set without HUAWEICLOUD_SDK_AK/SK")
    return Credentials(access_key, secret_key, token) if access_key and secret_key else None


def _secret_arn(env: Mapping[str, str], static_credentials: bool) -> str | None:
    arn = _text(env, "SDRS_CREDENTIALS_SECRET_ARN")
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


def _endpoint(env: Mapping[str, str]) -> str | None:
    # Not stripped first: a blank SDRS_ENDPOINT is an error, not "unset".
    origin = _origin(env.get("SDRS_ENDPOINT"), env.get("SDRS_REGION"))
    if origin is None:
        return None
    _check_origin(origin, allowed_suffixes(env.get("SDRS_ALLOWED_ENDPOINT_SUFFIXES")))
    return origin.url


def _project_id(env: Mapping[str, str]) -> str | None:
    project_id = _text(env, "HUAWEICLOUD_SDK_PROJECT_ID")
    if project_id:
        try:
            check_project_id(project_id)
        except ValueError as exc:
            raise ConfigurationError(f"HUAWEICLOUD_SDK_PROJECT_ID {exc}") from None
    return project_id


def _scheduled_groups(env: Mapping[str, str]) -> tuple[tuple[str, ...], bool]:
    """(the groups of payload-less scheduled events, whether they sweep the project instead)."""
    raw = _text(env, "SDRS_SERVER_GROUP_IDS") or ""
    if raw.lower() == "all":
        return (), True
    return parse_group_ids(raw, "SDRS_SERVER_GROUP_IDS"), False


def _smn_topic_urns(env: Mapping[str, str]) -> tuple[str, ...]:
    urns: list[str] = []
    for item in (part.strip() for part in (_text(env, "SDRS_SMN_TOPIC_URNS") or "").split(",")):
        if item and item not in urns:
            urns.append(item)
    return tuple(urns)


def _smn_signing_certs(env: Mapping[str, str]) -> str | None:
    pem = _text(env, "SDRS_SMN_SIGNING_CERTS")
    if pem is not None and "-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigurationError("SDRS_SMN_SIGNING_CERTS must hold PEM certificates (-----BEGIN CERTIFICATE-----)")
    return pem


# What Settings are read from besides the declared variables (the proxy variables in lower case,
# which win; REQUEST_METHOD, which disables HTTP_PROXY; Lambda's session token).
_ALSO_READ = (*(f"{scheme}_proxy" for scheme in PROXY_VARIABLES), "REQUEST_METHOD", "AWS_SESSION_TOKEN")
_READ_FROM = (*DECLARED, *_ALSO_READ)
_last_read: tuple[object, Settings] | None = None


def load_settings(env: Mapping[str, str]) -> Settings:
    """The settings of `env`, parsed once per configuration: a warm container's environment does
    not change, so the last one read is reused while every variable it was read from is the same
    (in a mapping other than os.environ, proxy variables spelt in mixed case are not compared).
    Raises ConfigurationError."""
    global _last_read
    key = _key(env)
    last = _last_read
    if last is not None and last[0] == key:
        return last[1]
    settings = _read_settings(env)
    _last_read = (dict(key) if isinstance(key, dict) else key, settings)
    return settings


def _key(env: Mapping[str, str]) -> object:
    """What `env`'s settings depend on, cheap to compare. For the process environment, CPython's
    raw copy of it (one C-level comparison; looking up each variable in os.environ costs about
    1 µs apiece, as much as reading the settings); for any other mapping, the variables read."""
    raw = getattr(env, "_data", None) if env is os.environ else None
    if isinstance(raw, dict):
        return raw
    return tuple(env.get(name) for name in _READ_FROM)


def _read_settings(env: Mapping[str, str]) -> Settings:
    """Read in this order, so that of several problems the same one is reported as it always was."""
    credentials = _static_credentials(env)
    secret_arn = _secret_arn(env, static_credentials=credentials is not None)
    endpoint, project_id = _endpoint(env), _project_id(env)
    ttl, port = (
        _number(env, "SDRS_CREDENTIALS_TTL_SECONDS"),
        _whole_number(env, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"),
    )
    groups, sweep_on_schedule = _scheduled_groups(env)
    return Settings(
        credentials=credentials,
        endpoint=endpoint,
        default_project_id=project_id,
        default_server_group_ids=groups,
        credentials_secret_arn=secret_arn,
        credentials_ttl=ttl,
        secrets_extension_port=port,
        aws_session_token=env.get("AWS_SESSION_TOKEN", "") if secret_arn else "",
        sweep_on_schedule=sweep_on_schedule,
        force_dry_run=_flag(env, "SDRS_DRY_RUN"),
        connect_timeout=_number(env, "SDRS_CONNECT_TIMEOUT"),
        read_timeout=_number(env, "SDRS_READ_TIMEOUT"),
        max_attempts=_whole_number(env, "SDRS_MAX_ATTEMPTS"),
        retry_base_delay=_number(env, "SDRS_RETRY_BASE_DELAY_SECONDS"),
        retry_max_delay=_number(env, "SDRS_RETRY_MAX_DELAY_SECONDS"),
        deadline_margin=_optional_number(env, "SDRS_DEADLINE_MARGIN_SECONDS"),
        max_concurrency=_whole_number(env, "SDRS_MAX_CONCURRENCY"),
        max_failed_tasks=_whole_number(env, "SDRS_MAX_FAILED_TASKS"),
        group_start_margin=_optional_number(env, "SDRS_GROUP_START_MARGIN_SECONDS"),
        sweep_rotation_hours=_number(env, "SDRS_SWEEP_ROTATION_HOURS"),
        page_size=_whole_number(env, "SDRS_PAGE_SIZE"),
        proxy=choose_proxy(env, endpoint),
        smn_topic_urns=_smn_topic_urns(env),
        smn_signing_certs=_smn_signing_certs(env),
        smn_max_age_seconds=_number(env, "SDRS_SMN_MAX_AGE_SECONDS"),
        functiongraph_emf_metrics=_flag(env, "SDRS_FUNCTIONGRAPH_EMF_METRICS"),
    )
