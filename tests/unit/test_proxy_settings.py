"""The proxy: chosen from HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (upper or lower case)
as httpx chooses one for a client with trust_env, once, for the endpoint (handler.settings.choose_proxy).

The function does not call httpx for it (its requests go straight to a transport, which reads
no environment): every case here is also asked of httpx itself (`httpx_choice`, from httpx's
own reading of the environment and its own patterns, and httpx.Client's transport for the URL),
so that these tests fail if httpx's rules and ours part."""

from __future__ import annotations

import os

import httpx
import pytest
from httpx._utils import URLPattern, get_environment_proxies

from handler.sdrs.config import ClientConfig
from handler.sdrs.factory import ClientFactory
from handler.settings import ConfigurationError, Proxy, choose_proxy, load_settings, redact_userinfo

HTTPS = "https://sdrs.cn-north-4.myhuaweicloud.com"
HTTP = "http://127.0.0.1:8443"  # the emulator's kind of endpoint
CANARY_USER, CANARY_PASSWORD = "canary-proxy-user", "canary-proxy-password-7f3e"
CANARY = f"http://{CANARY_USER}:{CANARY_PASSWORD}@proxy.internal:3128"
STATIC = {"HUAWEICLOUD_SDK_AK": "DEMOACCESSKEY0000001", "HUAWEICLOUD_SDK_SK": "demo-secret-key-not-real"}


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable in os.environ (httpx reads it; the function must not)."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    return monkeypatch


def httpx_choice(env: dict[str, str], endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The proxy URL httpx's Client(trust_env=True) sends a request to `endpoint` through (None: direct)."""
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        mounts = get_environment_proxies()
        url = httpx.URL(endpoint)
        chosen = None
        for pattern, proxy in sorted((URLPattern(key), value) for key, value in mounts.items()):  # as httpx.Client
            if pattern.matches(url):
                chosen = proxy
                break
        try:
            client = httpx.Client()
        except (ValueError, ImportError, httpx.InvalidURL):
            return chosen  # e.g. a SOCKS proxy without socksio: the choice is still httpx's
        with client:
            direct = client._transport_for_url(url) is client._transport
        assert direct is (chosen is None), "httpx's Client and its patterns agree"
        return chosen


def ours(env: dict[str, str], endpoint: str) -> str | None:
    proxy = choose_proxy(env, endpoint)
    return None if proxy is None else proxy.url


P1, P2, P3 = "http://proxy-one:3128", "http://proxy-two:3128", "https://proxy-three:8443"

MATRIX: list[tuple[str, dict[str, str], str, str | None]] = [
    ("nothing set", {}, HTTPS, None),
    ("https proxy, https endpoint", {"HTTPS_PROXY": P1}, HTTPS, P1),
    ("https proxy, http endpoint", {"HTTPS_PROXY": P1}, HTTP, None),
    ("http proxy, https endpoint", {"HTTP_PROXY": P1}, HTTPS, None),
    ("http proxy, http endpoint (loopback is proxied, as by httpx)", {"HTTP_PROXY": P1}, HTTP, P1),
    ("all proxy, https", {"ALL_PROXY": P2}, HTTPS, P2),
    ("all proxy, http", {"ALL_PROXY": P2}, HTTP, P2),
    ("the scheme's own wins over all", {"HTTPS_PROXY": P1, "ALL_PROXY": P2}, HTTPS, P1),
    ("all where the scheme has none", {"HTTPS_PROXY": P1, "ALL_PROXY": P2}, HTTP, P2),
    ("an https proxy URL", {"HTTPS_PROXY": P3}, HTTPS, P3),
    ("no scheme: http://", {"HTTPS_PROXY": "proxy-one:3128"}, HTTPS, P1),
    ("no scheme, with user info", {"HTTPS_PROXY": "u:p@proxy-one:3128"}, HTTPS, "http://u:p@proxy-one:3128"),
    ("lower case", {"https_proxy": P1}, HTTPS, P1),
    ("lower case wins", {"HTTPS_PROXY": P1, "https_proxy": P2}, HTTPS, P2),
    ("lower case empty unsets", {"HTTPS_PROXY": P1, "https_proxy": ""}, HTTPS, None),
    ("lower case empty unsets, all then", {"HTTPS_PROXY": P1, "https_proxy": "", "ALL_PROXY": P2}, HTTPS, P2),
    ("upper case empty is unset", {"HTTPS_PROXY": "", "ALL_PROXY": P2}, HTTPS, P2),
    ("mixed case", {"Https_Proxy": P1}, HTTPS, P1),
    ("lower-case all", {"all_proxy": P2}, HTTP, P2),
    ("CGI: upper-case HTTP_PROXY ignored", {"HTTP_PROXY": P1, "REQUEST_METHOD": "GET"}, HTTP, None),
    ("CGI: lower-case http_proxy kept", {"http_proxy": P1, "REQUEST_METHOD": "GET"}, HTTP, P1),
    ("CGI: HTTPS_PROXY kept", {"HTTPS_PROXY": P1, "REQUEST_METHOD": "GET"}, HTTPS, P1),
    # NO_PROXY
    ("no_proxy *", {"HTTPS_PROXY": P1, "NO_PROXY": "*"}, HTTPS, None),
    ("no_proxy * among others", {"ALL_PROXY": P1, "NO_PROXY": "a.example, *"}, HTTP, None),
    ("no_proxy domain", {"HTTPS_PROXY": P1, "NO_PROXY": "myhuaweicloud.com"}, HTTPS, None),
    ("no_proxy domain, any case", {"HTTPS_PROXY": P1, "NO_PROXY": "MyHuaweiCloud.COM"}, HTTPS, None),
    ("no_proxy .domain: subdomains", {"HTTPS_PROXY": P1, "NO_PROXY": ".myhuaweicloud.com"}, HTTPS, None),
    ("no_proxy the host itself", {"HTTPS_PROXY": P1, "NO_PROXY": "sdrs.cn-north-4.myhuaweicloud.com"}, HTTPS, None),
    ("no_proxy .host: not the host", {"HTTPS_PROXY": P1, "NO_PROXY": ".sdrs.cn-north-4.myhuaweicloud.com"}, HTTPS, P1),
    ("no_proxy a name's tail is no domain", {"HTTPS_PROXY": P1, "NO_PROXY": "huaweicloud.com"}, HTTPS, P1),
    ("no_proxy *.domain is not curl's", {"HTTPS_PROXY": P1, "NO_PROXY": "*.myhuaweicloud.com"}, HTTPS, P1),
    ("no_proxy another domain", {"HTTPS_PROXY": P1, "NO_PROXY": "example.com"}, HTTPS, P1),
    ("no_proxy list with spaces", {"HTTPS_PROXY": P1, "NO_PROXY": " example.com , myhuaweicloud.com ,"}, HTTPS, None),
    ("no_proxy lower case", {"HTTPS_PROXY": P1, "no_proxy": "myhuaweicloud.com"}, HTTPS, None),
    ("no_proxy lower case wins", {"HTTPS_PROXY": P1, "NO_PROXY": "*", "no_proxy": "example.com"}, HTTPS, P1),
    ("no_proxy lower case empty unsets", {"HTTPS_PROXY": P1, "NO_PROXY": "*", "no_proxy": ""}, HTTPS, P1),
    ("no_proxy the domain with a port", {"HTTPS_PROXY": P1, "NO_PROXY": "myhuaweicloud.com:443"}, HTTPS, P1),
    (
        "no_proxy scheme://host",
        {"HTTPS_PROXY": P1, "NO_PROXY": "https://sdrs.cn-north-4.myhuaweicloud.com"},
        HTTPS,
        None,
    ),
    (
        "no_proxy other scheme://host",
        {"HTTPS_PROXY": P1, "NO_PROXY": "http://sdrs.cn-north-4.myhuaweicloud.com"},
        HTTPS,
        P1,
    ),
    (
        "no_proxy https:// replaces HTTPS_PROXY",
        {"HTTPS_PROXY": P1, "ALL_PROXY": P2, "NO_PROXY": "https://"},
        HTTPS,
        None,
    ),
    ("no_proxy all://* ties with all:// and comes after it", {"ALL_PROXY": P2, "NO_PROXY": "all://*"}, HTTP, P2),
    ("no_proxy http://* is more specific than all://", {"ALL_PROXY": P2, "NO_PROXY": "http://*"}, HTTP, None),
    ("no_proxy IPv4", {"HTTP_PROXY": P1, "NO_PROXY": "127.0.0.1"}, HTTP, None),
    ("no_proxy IPv4 and port", {"HTTP_PROXY": P1, "NO_PROXY": "127.0.0.1:8443"}, HTTP, None),
    ("no_proxy IPv4 and another port", {"HTTP_PROXY": P1, "NO_PROXY": "127.0.0.1:9999"}, HTTP, P1),
    ("no_proxy another IPv4", {"HTTP_PROXY": P1, "NO_PROXY": "127.0.0.2"}, HTTP, P1),
    ("no_proxy CIDR is the address only", {"HTTP_PROXY": P1, "NO_PROXY": "127.0.0.0/8"}, HTTP, P1),
    ("no_proxy CIDR, the address", {"HTTP_PROXY": P1, "NO_PROXY": "127.0.0.1/8"}, HTTP, None),
    ("no_proxy localhost is not 127.0.0.1", {"HTTP_PROXY": P1, "NO_PROXY": "localhost"}, HTTP, P1),
    ("no_proxy localhost", {"HTTP_PROXY": P1, "NO_PROXY": "localhost"}, "http://localhost:8443", None),
    ("no_proxy LOCALHOST", {"HTTP_PROXY": P1, "NO_PROXY": "LOCALHOST"}, "http://localhost:8443", None),
    ("no_proxy IPv6", {"HTTP_PROXY": P1, "NO_PROXY": "::1"}, "http://[::1]:8443", None),
    ("no_proxy IPv6, endpoint IPv4", {"HTTP_PROXY": P1, "NO_PROXY": "::1"}, HTTP, P1),
    ("no_proxy without a proxy", {"NO_PROXY": "example.com"}, HTTPS, None),
    (
        "endpoint port, no_proxy host:port",
        {"HTTPS_PROXY": P1, "NO_PROXY": "sdrs.example.com:8443"},
        "https://sdrs.example.com:8443",
        None,
    ),
    (
        "endpoint port, no_proxy domain",
        {"HTTPS_PROXY": P1, "NO_PROXY": "example.com"},
        "https://sdrs.example.com:8443",
        None,
    ),
]


@pytest.mark.parametrize(
    ("env", "endpoint", "expected"), [case[1:] for case in MATRIX], ids=[case[0] for case in MATRIX]
)
def test_the_proxy_is_httpx_s_choice(
    env: dict[str, str], endpoint: str, expected: str | None, clean_environ: pytest.MonkeyPatch
) -> None:
    assert httpx_choice(env, endpoint, clean_environ) == expected, "the case says what httpx does"
    assert ours(env, endpoint) == expected


def test_the_variable_that_named_the_proxy_is_kept() -> None:
    assert choose_proxy({"https_proxy": P1}, HTTPS) == Proxy(P1, "https_proxy")
    assert choose_proxy({"ALL_PROXY": P1}, HTTPS) == Proxy(P1, "ALL_PROXY")


def test_only_the_given_environment_counts(clean_environ: pytest.MonkeyPatch) -> None:
    clean_environ.setenv("HTTPS_PROXY", P1)
    clean_environ.setenv("HTTP_PROXY", P1)

    assert load_settings({"SDRS_REGION": "cn-north-4"}).proxy is None
    assert load_settings({"SDRS_REGION": "cn-north-4", "HTTPS_PROXY": P2}).proxy == Proxy(P2, "HTTPS_PROXY")


def test_settings_carry_the_choice_for_the_endpoint_they_load() -> None:
    env = {"HTTPS_PROXY": P1, "HTTP_PROXY": P2}
    assert load_settings({**env, "SDRS_REGION": "cn-north-4"}).proxy == Proxy(P1, "HTTPS_PROXY")
    assert load_settings({**env, "SDRS_ENDPOINT": HTTP}).proxy == Proxy(P2, "HTTP_PROXY")
    assert load_settings({**env, "SDRS_ENDPOINT": "HTTP://LOCALHOST:8443", "NO_PROXY": "localhost"}).proxy is None
    assert load_settings(env).proxy is None  # no endpoint: nothing to choose for
    assert load_settings({}).proxy is None


def test_blank_values_are_unset() -> None:
    assert choose_proxy({"HTTPS_PROXY": "   ", "ALL_PROXY": f" {P2} "}, HTTPS) == Proxy(P2, "ALL_PROXY")
    assert choose_proxy({"HTTPS_PROXY": P1, "NO_PROXY": "  "}, HTTPS) == Proxy(P1, "HTTPS_PROXY")


# --- what a proxy must be -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "socks5://proxy:1080",
        "socks5h://proxy:1080",
        "ftp://proxy",
        "http://",
        "http://:3128",
        "http://u:p@",
        "http://proxy:abc",
        "http://proxy:99999",
        "http://proxy:0",
        "http:// proxy",
        "http://prox y:3128",
        "http://[::g]:3128",
        "http://999.1.1.1:3128",
        "http://proxy\x00:3128",
    ],
)
def test_a_proxy_that_is_not_an_http_url_with_a_host_is_refused(value: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"^HTTPS_PROXY must be an http:// or https:// proxy URL with a host, got "
    ):
        choose_proxy({"HTTPS_PROXY": value}, HTTPS)


@pytest.mark.parametrize(
    "value",
    [
        "http://proxy.internal:3128",
        "http://proxy.internal:3128/",
        "https://proxy.internal",
        "HTTP://Proxy.Internal:3128",
        "http://10.0.0.1:3128",
        "http://[fd00::1]:3128",
        "http://proxy_1.internal:3128",
        "http://user:pa%40ss@proxy.internal:3128",
        "proxy.internal:3128",
    ],
)
def test_http_and_https_proxies_with_a_host_are_taken_as_httpx_takes_them(value: str) -> None:
    proxy = choose_proxy({"HTTPS_PROXY": value}, HTTPS)
    assert proxy is not None
    httpx.HTTPTransport(proxy=proxy.url).close()  # httpx takes it as it is


def test_the_variable_named_is_the_one_set() -> None:
    with pytest.raises(ConfigurationError, match=r"^https_proxy must be"):
        choose_proxy({"https_proxy": "socks5://proxy:1080"}, HTTPS)
    with pytest.raises(ConfigurationError, match=r"^ALL_PROXY must be"):
        choose_proxy({"ALL_PROXY": "socks5://proxy:1080"}, HTTP)


def test_only_the_chosen_proxy_is_checked() -> None:
    assert choose_proxy({"HTTPS_PROXY": P1, "ALL_PROXY": "socks5://proxy:1080"}, HTTPS) == Proxy(P1, "HTTPS_PROXY")
    assert choose_proxy({"HTTPS_PROXY": "socks5://proxy:1080", "NO_PROXY": "myhuaweicloud.com"}, HTTPS) is None
    assert choose_proxy({"HTTP_PROXY": "ftp://x"}, HTTPS) is None


@pytest.mark.parametrize("entry", ["example.com:abc", "\u00fc.example.com", "[::1]", "[::1", "http://[::g]"])
def test_a_malformed_no_proxy_entry_is_refused_as_httpx_refuses_it(
    entry: str, clean_environ: pytest.MonkeyPatch
) -> None:
    env = {"HTTPS_PROXY": P1, "NO_PROXY": f"example.org,{entry}"}
    with clean_environ.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        with pytest.raises((httpx.InvalidURL, ValueError)):
            httpx.Client()
    with pytest.raises(ConfigurationError, match=r"^NO_PROXY must list hosts, domains, IP addresses or URLs"):
        choose_proxy(env, HTTPS)


def test_no_proxy_is_not_read_without_a_proxy() -> None:
    assert choose_proxy({"NO_PROXY": "[::1"}, HTTPS) is None
    assert load_settings({"SDRS_REGION": "cn-north-4", "no_proxy": "example.com:abc"}).proxy is None


def test_a_refused_configuration_is_a_configuration_error_of_the_run() -> None:
    with pytest.raises(ConfigurationError, match=r"^HTTPS_PROXY must be"):
        load_settings({"SDRS_REGION": "cn-north-4", "HTTPS_PROXY": "socks5://proxy:1080"})


# --- user info is never shown -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p@proxy:3128", "http://***@proxy:3128"),
        ("http://u:p@ss@proxy:3128", "http://***@proxy:3128"),
        ("http://u:pa/ss@proxy:3128", "http://***@proxy:3128"),
        ("http://u:a://b@proxy:3128", "http://***@proxy:3128"),
        ("u:p@proxy:3128", "***@proxy:3128"),
        ("http://proxy:3128", "http://proxy:3128"),
    ],
)
def test_user_info_is_redacted(url: str, shown: str) -> None:
    assert redact_userinfo(url) == shown


@pytest.mark.parametrize(
    "value",
    [
        f"socks5://{CANARY_USER}:{CANARY_PASSWORD}@proxy:1080",
        f"http://{CANARY_USER}:{CANARY_PASSWORD}@proxy:abc",
        f"http://{CANARY_USER}:{CANARY_PASSWORD}@",
        f"ftp://{CANARY_USER}:{CANARY_PASSWORD}/x@proxy",
        f"{CANARY_USER}:{CANARY_PASSWORD}@proxy:99999",
    ],
)
def test_a_refused_proxy_s_user_info_is_not_in_the_message(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        choose_proxy({"HTTPS_PROXY": value}, HTTPS)
    message = str(caught.value)
    assert message.startswith("HTTPS_PROXY must be")
    assert CANARY_USER not in message
    assert CANARY_PASSWORD not in message
    assert "***@" in message


def test_the_canary_appears_in_no_repr_nor_str() -> None:
    settings = load_settings({**STATIC, "SDRS_REGION": "cn-north-4", "HTTPS_PROXY": CANARY})
    config = ClientConfig.from_settings(settings)
    factory = ClientFactory()
    try:
        factory(settings)
        assert settings.proxy is not None
        assert config.proxy is not None
        assert settings.proxy.url == CANARY  # kept, for the Proxy-Authorization header
        for text in (
            repr(settings),
            str(settings),
            repr(config),
            repr(factory),
            repr(settings.proxy),
            f"{config.proxy}",
        ):
            assert CANARY_USER not in text, text
            assert CANARY_PASSWORD not in text, text
        assert "http://***@proxy.internal:3128" in repr(config)
    finally:
        factory.close()


# --- the client cache key -----------------------------------------------------------------------


def test_a_changed_proxy_makes_a_new_client() -> None:
    base = {**STATIC, "SDRS_REGION": "cn-north-4"}
    factory = ClientFactory()
    try:
        direct = factory(load_settings(base))
        assert factory(load_settings(base)) is direct
        proxied = factory(load_settings({**base, "HTTPS_PROXY": P1}))
        assert proxied is not direct
        assert factory(load_settings({**base, "HTTPS_PROXY": P1})) is proxied
        other = factory(load_settings({**base, "HTTPS_PROXY": P2}))
        assert other is not proxied
        same_proxy_other_variable = factory(load_settings({**base, "ALL_PROXY": P2}))
        assert same_proxy_other_variable is not other  # the variable is part of the choice: a new client
        back = factory(load_settings({**base, "HTTPS_PROXY": P2, "NO_PROXY": "myhuaweicloud.com"}))
        assert back is not same_proxy_other_variable
        assert ClientConfig.from_settings(load_settings(base)).proxy is None
    finally:
        factory.close()
