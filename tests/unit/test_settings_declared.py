"""Every setting declared once (handler.settings.SETTINGS), and everything that restates the
declarations agrees with them: the README's configuration table, template.yaml's parameters,
what load_settings reads and the errors it gives. Also the endpoint, read with urllib.parse
as httpx used to read it."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str  # type: ignore[import-untyped]

from handler.settings import (
    DECLARED,
    SETTINGS,
    ConfigurationError,
    Setting,
    Settings,
    allowed_suffixes,
    check_endpoint_host,
    default_of,
    load_settings,
    number_default,
    resolve_endpoint,
    whole_default,
)

ROOT = Path(__file__).resolve().parents[2]
NUMERIC = ("number", "optional number", "whole number")
# The Settings attribute each number and flag fills (load_settings is the one place that says so).
ATTRIBUTES = {
    "SDRS_CREDENTIALS_TTL_SECONDS": "credentials_ttl",
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "secrets_extension_port",
    "SDRS_DRY_RUN": "force_dry_run",
    "SDRS_MAX_ATTEMPTS": "max_attempts",
    "SDRS_RETRY_BASE_DELAY_SECONDS": "retry_base_delay",
    "SDRS_RETRY_MAX_DELAY_SECONDS": "retry_max_delay",
    "SDRS_CONNECT_TIMEOUT": "connect_timeout",
    "SDRS_READ_TIMEOUT": "read_timeout",
    "SDRS_DEADLINE_MARGIN_SECONDS": "deadline_margin",
    "SDRS_MAX_CONCURRENCY": "max_concurrency",
    "SDRS_MAX_FAILED_TASKS": "max_failed_tasks",
    "SDRS_GROUP_START_MARGIN_SECONDS": "group_start_margin",
    "SDRS_PAGE_SIZE": "page_size",
    "SDRS_SWEEP_ROTATION_HOURS": "sweep_rotation_hours",
    "SDRS_SMN_MAX_AGE_SECONDS": "smn_max_age_seconds",
    "SDRS_FUNCTIONGRAPH_EMF_METRICS": "functiongraph_emf_metrics",
}
# Where template.yaml deliberately allows less than the code accepts: {variable: (MinValue, MaxValue)}.
TEMPLATE_NARROWER = {
    "SDRS_CREDENTIALS_TTL_SECONDS": (0, 3600),  # a deployed function re-reads its secret at least hourly
    # More threads only queue for the interpreter lock (BENCHMARKS.md, sweep concurrency); the code
    # still accepts up to 64, so that a configuration that set more keeps working.
    "SDRS_MAX_CONCURRENCY": (1, 32),
}


# --- the declaration ----------------------------------------------------------------------------


def test_each_variable_is_declared_once_and_numbers_and_flags_are_those_settings_carry() -> None:
    names = [setting.name for setting in SETTINGS]

    assert len(names) == len(set(names)) == len(DECLARED)
    assert {name for name in names if DECLARED[name].kind != "text"} == set(ATTRIBUTES)


def test_the_settings_fields_have_no_defaults_of_their_own() -> None:
    for field in dataclasses.fields(Settings):
        assert field.default is dataclasses.MISSING, field.name
        assert field.default_factory is dataclasses.MISSING, field.name


def test_every_variable_settings_py_names_is_declared() -> None:
    tree = ast.parse((ROOT / "handler" / "settings.py").read_text())
    pattern = re.compile(r"(SDRS|HUAWEICLOUD|PARAMETERS_SECRETS)_[A-Z0-9_]+|(HTTPS?|ALL|NO)_PROXY")
    named = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.fullmatch(node.value)
    }

    assert named == set(DECLARED)


def test_an_empty_environment_loads_the_declared_defaults() -> None:
    settings = load_settings({})

    for name, attribute in ATTRIBUTES.items():
        value = getattr(settings, attribute)
        assert value == default_of(name), name
        kinds = {"number": float, "optional number": type(None), "whole number": int, "flag": bool}
        assert type(value) is kinds[DECLARED[name].kind], name
    assert (settings.credentials, settings.endpoint, settings.default_project_id) == (None, None, None)
    assert (settings.default_server_group_ids, settings.sweep_on_schedule) == ((), False)
    assert allowed_suffixes(None) == (default_of("SDRS_ALLOWED_ENDPOINT_SUFFIXES"),) == ("myhuaweicloud.com",)


def test_the_typed_defaults() -> None:
    assert whole_default("SDRS_MAX_ATTEMPTS") == 4
    assert number_default("SDRS_RETRY_BASE_DELAY_SECONDS") == 0.5
    assert number_default("SDRS_RETRY_MAX_DELAY_SECONDS") == 8.0
    assert (whole_default("SDRS_MAX_CONCURRENCY"), whole_default("SDRS_MAX_FAILED_TASKS")) == (16, 2000)
    assert default_of("SDRS_GROUP_START_MARGIN_SECONDS") is None  # judged from the calls' times
    assert default_of("SDRS_DEADLINE_MARGIN_SECONDS") is None  # a tenth of the time given, 0.2-2 s
    assert number_default("SDRS_SWEEP_ROTATION_HOURS") == 24.0
    assert default_of("SDRS_DRY_RUN") is False
    assert default_of("SDRS_REGION") is None
    with pytest.raises(TypeError, match="whole number"):
        number_default("SDRS_MAX_ATTEMPTS")
    with pytest.raises(KeyError):
        default_of("SDRS_NOT_DECLARED")


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.kind in NUMERIC], ids=lambda s: s.name)
def test_every_number_loads_at_its_bounds_and_is_refused_beyond_them(setting: Setting) -> None:
    low, high = setting.limits
    attribute = ATTRIBUTES[setting.name]

    assert getattr(load_settings({setting.name: f"{low:g}"}), attribute) == low
    assert getattr(load_settings({setting.name: f" {high} "}), attribute) == high
    for beyond in (low - 1, high + 1):
        shown = str(beyond)
        expected = f"{setting.name} must be between {low:g} and {high:g}, got {shown!r}"
        with pytest.raises(ConfigurationError) as caught:
            load_settings({setting.name: shown})
        assert str(caught.value) == expected
    with pytest.raises(ConfigurationError, match=f"^{setting.name} must be a number, got 'soon'$"):
        load_settings({setting.name: "soon"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SDRS_MAX_ATTEMPTS": "11"}, "SDRS_MAX_ATTEMPTS must be between 1 and 10, got '11'"),
        ({"SDRS_MAX_FAILED_TASKS": "1000001"}, "SDRS_MAX_FAILED_TASKS must be between 0 and 1e+06, got '1000001'"),
        ({"SDRS_CONNECT_TIMEOUT": "0.05"}, "SDRS_CONNECT_TIMEOUT must be between 0.1 and 60, got '0.05'"),
        ({"SDRS_PAGE_SIZE": "nan"}, "SDRS_PAGE_SIZE must be between 1 and 1000, got 'nan'"),
        ({"SDRS_PAGE_SIZE": " 2.5 "}, "SDRS_PAGE_SIZE must be a whole number, got '2.5'"),
        ({"SDRS_READ_TIMEOUT": "soon"}, "SDRS_READ_TIMEOUT must be a number, got 'soon'"),
        ({"SDRS_DRY_RUN": "Maybe"}, "SDRS_DRY_RUN must be true or false, got 'maybe'"),
        (
            {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "65536"},
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT must be between 1 and 65535, got '65536'",
        ),
    ],
)
def test_the_messages_are_those_of_before(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    assert str(caught.value) == message


def test_blank_is_the_default_and_a_flag_takes_its_words() -> None:
    assert load_settings({"SDRS_MAX_ATTEMPTS": "  ", "SDRS_DRY_RUN": " "}).max_attempts == 4
    assert load_settings({"SDRS_MAX_ATTEMPTS": "1e1"}).max_attempts == 10
    for word, value in [("YES", True), ("1", True), ("True", True), ("no", False), ("0", False), ("FALSE", False)]:
        assert load_settings({"SDRS_DRY_RUN": word}).force_dry_run is value


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        ({"kind": "whole number", "default": "11", "bounds": (1, 10)}, "must be between 1 and 10, got '11'"),
        ({"kind": "number", "default": "-0.5", "bounds": (0, 30)}, "must be between 0 and 30"),
        ({"kind": "whole number", "default": "2.5", "bounds": (1, 10)}, "must be a whole number"),
        ({"kind": "number", "default": "soon", "bounds": (0, 1)}, "must be a number"),
        ({"kind": "flag", "default": "maybe"}, "must be true or false"),
        ({"kind": "number", "default": "1"}, "numbers, and only numbers, have bounds"),
        ({"kind": "text", "bounds": (0, 1)}, "numbers, and only numbers, have bounds"),
        ({"kind": "number", "default": "1", "bounds": (2, 1)}, "low <= high"),
        ({"kind": "whole number", "default": "1", "bounds": (0.5, 2)}, "whole numbers"),
        ({"kind": "whole number", "default": " 4", "bounds": (1, 10)}, "surrounding spaces"),
        ({"kind": "text", "meaning": "a | b"}, "one line"),
        ({"kind": "text", "meaning": ""}, "one line"),
        ({"kind": "integer"}, "the kind is none of"),
        ({"kind": "text", "name": "sdrs_lower"}, "environment variable"),
    ],
)
def test_a_wrong_declaration_fails_at_once(declaration: dict[str, Any], problem: str) -> None:
    arguments = {"name": "SDRS_EXAMPLE", "meaning": "an example", **declaration}
    with pytest.raises(ValueError, match="is declared wrongly") as caught:
        Setting(**arguments)
    assert problem in str(caught.value)


def test_every_declared_default_is_within_its_own_bounds() -> None:
    for setting in SETTINGS:
        value = setting.parse("")
        assert value == default_of(setting.name)
        if setting.bounds is not None and setting.kind != "optional number":
            assert isinstance(value, int | float)
            assert setting.bounds[0] <= value <= setting.bounds[1], setting.name
        if setting.kind == "optional number":
            assert value is None, setting.name  # unset: the code decides


# --- the README ---------------------------------------------------------------------------------


def readme_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n#", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header, rule, *rows = lines
    assert header == "| variable | kind | default | bounds | meaning |"
    assert set(rule) <= set("|-")
    return [[cell.strip() for cell in row.strip().removeprefix("|").removesuffix("|").split(" | ")] for row in rows]


def test_the_readme_table_is_the_declaration() -> None:
    rows = readme_rows()

    assert [row[0] for row in rows] == [f"`{setting.name}`" for setting in SETTINGS], "same variables, same order"
    for (_, kind, default, bounds, meaning), setting in zip(rows, SETTINGS, strict=True):
        assert kind == setting.kind, setting.name
        assert default == (f"`{setting.default}`" if setting.default else "none"), setting.name
        if setting.bounds is None:
            assert bounds == "—", setting.name
        else:
            low, high = bounds.split("\u2013")  # an en dash
            assert (float(low), float(high)) == setting.bounds, setting.name
        assert meaning == setting.meaning, setting.name


# --- template.yaml ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> Any:
    decoded, problems = decode_str((ROOT / "template.yaml").read_text())
    assert not problems
    return decoded


def template_variables(template: Any) -> dict[str, str]:
    """{environment variable: the parameter it is set from}, for the function's variables set by a Ref."""
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **template["Resources"]["SdrsCleanupFunction"]["Properties"]["Environment"]["Variables"],
    }
    return {
        name: value["Ref"]
        for name, value in variables.items()
        if isinstance(value, dict) and value.get("Ref") in template["Parameters"]
    }


def test_every_template_variable_is_declared(template: Any) -> None:
    variables = template_variables(template)

    assert {"SDRS_REGION", "SDRS_MAX_CONCURRENCY", "SDRS_MAX_FAILED_TASKS", "SDRS_DRY_RUN"} <= set(variables)
    for name in variables:
        assert name.startswith("POWERTOOLS_") or name in DECLARED, f"{name} is set by the template, declared nowhere"


def test_the_template_parameters_agree_with_the_declarations(template: Any) -> None:
    checked = set()
    for name, parameter in template_variables(template).items():
        if name.startswith("POWERTOOLS_"):
            continue
        setting, spec = DECLARED[name], template["Parameters"][parameter]
        assert (spec["Type"] == "Number") is (setting.kind in NUMERIC), f"{parameter} and {name}: kinds differ"
        if "Default" in spec:
            assert setting.parse(str(spec["Default"])) == default_of(name), f"{parameter} and {name}: defaults differ"
            checked.add(name)
        for allowed in spec.get("AllowedValues", []):
            setting.parse(str(allowed))  # every value the template allows loads
        if setting.bounds is not None:
            template_bounds = (spec.get("MinValue"), spec.get("MaxValue"))
            assert template_bounds == TEMPLATE_NARROWER.get(name, setting.bounds), f"{parameter} and {name}: bounds"
            low, high = setting.bounds
            assert low <= template_bounds[0] <= template_bounds[1] <= high
    assert {"SDRS_DRY_RUN", "SDRS_MAX_CONCURRENCY", "SDRS_MAX_FAILED_TASKS", "SDRS_CREDENTIALS_TTL_SECONDS"} <= checked
    assert set(TEMPLATE_NARROWER) <= checked


# --- the endpoint -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "loaded"),
    [
        ("https://sdrs.cn-north-4.myhuaweicloud.com", "https://sdrs.cn-north-4.myhuaweicloud.com"),
        (" https://SDRS.cn-north-4.MyHuaweiCloud.com/ ", "https://sdrs.cn-north-4.myhuaweicloud.com"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com:443", "https://sdrs.cn-north-4.myhuaweicloud.com"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com:80", "https://sdrs.cn-north-4.myhuaweicloud.com:80"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com:08443", "https://sdrs.cn-north-4.myhuaweicloud.com:8443"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com:", "https://sdrs.cn-north-4.myhuaweicloud.com"),
        ("https://@sdrs.cn-north-4.myhuaweicloud.com?#", "https://sdrs.cn-north-4.myhuaweicloud.com"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com/a/..", "https://sdrs.cn-north-4.myhuaweicloud.com"),
        ("http://127.0.0.1:8443", "http://127.0.0.1:8443"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("http://LOCALHOST:8443", "http://localhost:8443"),
        ("http://[::1]:8443", "http://[::1]:8443"),
        ("http://[::1]", "http://[::1]"),
        ("https://[::1]:443", "https://[::1]"),
        ("http://[::ffff:127.0.0.1]:9000", "http://[::ffff:127.0.0.1]:9000"),
        ("https://\u00fc.myhuaweicloud.com", "https://xn--tda.myhuaweicloud.com"),
    ],
)
def test_endpoints_load_as_they_did(endpoint: str, loaded: str) -> None:
    assert load_settings({"SDRS_ENDPOINT": endpoint}).endpoint == loaded
    assert resolve_endpoint(endpoint, None) == loaded


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("https://h:abc", "SDRS_ENDPOINT is not a URL"),
        ("https://999.0.0.1", "SDRS_ENDPOINT is not a URL"),
        ("https://[::g]", "SDRS_ENDPOINT is not a URL"),
        ("https://[127.0.0.1]", "SDRS_ENDPOINT is not a URL"),
        ("http://[::1]x:80", "SDRS_ENDPOINT is not a URL"),
        ("https://sdrs.cn-north-4.myhuaweicloud.com\x00", "SDRS_ENDPOINT is not a URL"),
        ("https://\uff4dyhuaweicloud.com", "SDRS_ENDPOINT is not a URL"),  # a full-width m
        ("  ", "SDRS_ENDPOINT must be an absolute https:// URL"),
        ("sdrs.cn-north-4.myhuaweicloud.com", "SDRS_ENDPOINT must be an absolute https:// URL"),
        ("ftp://sdrs.cn-north-4.myhuaweicloud.com", "SDRS_ENDPOINT must be an absolute https:// URL"),
        ("https://", "SDRS_ENDPOINT must be an absolute https:// URL"),
        (
            "https://u:p@h.myhuaweicloud.com",
            "SDRS_ENDPOINT must be scheme://host[:port] with no path, query or user info",
        ),
        (
            "https://h.myhuaweicloud.com/v1",
            "SDRS_ENDPOINT must be scheme://host[:port] with no path, query or user info",
        ),
        (
            "https://h.myhuaweicloud.com//",
            "SDRS_ENDPOINT must be scheme://host[:port] with no path, query or user info",
        ),
        (
            "https://h.myhuaweicloud.com?a",
            "SDRS_ENDPOINT must be scheme://host[:port] with no path, query or user info",
        ),
        (
            "https://h.myhuaweicloud.com#a",
            "SDRS_ENDPOINT must be scheme://host[:port] with no path, query or user info",
        ),
        ("http://[::2]:8443", "SDRS_ENDPOINT must use https; plain http is allowed only to a loopback host"),
        (
            "https://sdrs.cn-north-4.myhu\u0430weicloud.com",  # a Cyrillic a: shown as the host it would be
            "the SDRS endpoint host 'sdrs.cn-north-4.xn--myhuweicloud-09j.com' is not under an allowed domain "
            "(myhuaweicloud.com); for another cloud, add its domain to SDRS_ALLOWED_ENDPOINT_SUFFIXES",
        ),
    ],
)
def test_endpoints_refused_as_they_were(endpoint: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"SDRS_ENDPOINT": endpoint})
    assert str(caught.value) == message


def test_check_endpoint_host_keeps_its_contract() -> None:
    assert check_endpoint_host("http://[::1]:8443", ("example.com",)) == "http://[::1]:8443"
    assert check_endpoint_host("https://a.example.com", ("example.com",)) == "https://a.example.com"
    with pytest.raises(ConfigurationError, match="not under an allowed domain"):
        check_endpoint_host("https://a.example.org", ("example.com",))


def test_settings_do_not_import_httpx() -> None:
    code = "import sys, handler.settings; print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'idna')))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
