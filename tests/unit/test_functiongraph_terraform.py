"""deploy/functiongraph/ (Terraform, huaweicloud provider) checked without Terraform or the cloud:
every .tf file is parsed with python-hcl2, and each check below returns the problems it finds.

- every resource type, argument and block is one the provider documents (the tables below, taken
  from the provider's docs at the version versions.tf pins), and every required argument is set;
- the handler names a function that handler/functiongraph.py defines; the runtime is Python 3.12;
- the function's user data holds declared settings only (handler.settings.SETTINGS), and no
  variable, user data key or tfvars entry carries an access key, a secret key or a token;
- the agency is FunctionGraph's and its custom role allows exactly the expected SDRS actions;
- the TIMER trigger always exists; the SMN trigger only when topics are given;
- what the configuration references (var., local., resources) is declared.

Each check is also run on a configuration broken on purpose (MUTATIONS), where it must report a
problem: no check passes for want of looking.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest

from handler.settings import DECLARED, default_of, whole_default

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "functiongraph"
TFVARS_EXAMPLE = "terraform.tfvars.example"

# The provider version whose documentation the tables below were taken from, and where.
PROVIDER_SOURCE = "huaweicloud/huaweicloud"
PROVIDER_VERSION = "1.97.1"
DOCS = f"github.com/huaweicloud/terraform-provider-huaweicloud, tag v{PROVIDER_VERSION}"


@dataclass(frozen=True)
class Schema:
    """The arguments a documentation page lists ("Argument Reference"): required, optional, and
    the nested blocks (each with its own schema) among them."""

    doc: str
    required: frozenset[str]
    optional: frozenset[str]
    blocks: Mapping[str, Schema] = field(default_factory=dict)

    @property
    def arguments(self) -> frozenset[str]:
        return self.required | self.optional


def _schema(doc: str, required: str, optional: str, blocks: Mapping[str, Schema] | None = None) -> Schema:
    return Schema(doc, frozenset(required.split()), frozenset(optional.split()), blocks or {})


# Argument Reference of each page, at PROVIDER_VERSION. Blocks: those this configuration may use.
SCHEMAS: Mapping[str, Schema] = {
    "huaweicloud_fgs_function": _schema(
        "docs/resources/fgs_function.md",
        "name memory_size runtime timeout app code_type handler",
        "region description functiongraph_version func_code code_url code_filename depend_list user_data "
        "encrypted_user_data agency app_agency initializer_handler initializer_timeout enterprise_project_id "
        "vpc_id network_id dns_list mount_user_id mount_user_group_id func_mounts custom_image max_instance_num "
        "versions tags enable_lts_log log_group_id log_group_name log_stream_id log_stream_name reserved_instances "
        "concurrency_num gpu_type gpu_memory enable_dynamic_memory is_stateful_function network_controller "
        "peering_cidr enable_auth_in_header enable_class_isolation ephemeral_storage heartbeat_handler "
        "restore_hook_handler restore_hook_timeout lts_custom_tag user_data_encrypt_kms_key_id "
        "code_encrypt_kms_key_id",
    ),
    "huaweicloud_fgs_function_trigger": _schema(
        "docs/resources/fgs_function_trigger.md",
        "function_urn type event_data",
        "region status cascade_delete_eg_subscription",
    ),
    "huaweicloud_identity_agency": _schema(
        "docs/resources/identity_agency.md",
        "name delegated_domain_name",
        "description duration project_role domain_roles all_resources_roles enterprise_project_roles "
        "force_dissociate_v5_policies",
        {
            "project_role": _schema("docs/resources/identity_agency.md", "project roles", ""),
            "enterprise_project_roles": _schema("docs/resources/identity_agency.md", "enterprise_project roles", ""),
        },
    ),
    "huaweicloud_identity_role": _schema("docs/resources/identity_role.md", "name description type policy", ""),
    "huaweicloud_lts_group": _schema(
        "docs/resources/lts_group.md", "group_name ttl_in_days", "region tags enterprise_project_id"
    ),
    "huaweicloud_lts_stream": _schema(
        "docs/resources/lts_stream.md",
        "group_id stream_name",
        "region ttl_in_days enterprise_project_id tags is_favorite",
    ),
}
# The provider block's arguments used here (docs/index.md, "Configuration Reference").
PROVIDER_ARGUMENTS = frozenset({"region"})
# Terraform's own meta-arguments, valid in every resource.
META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "provider"})
META_BLOCKS = frozenset({"lifecycle"})

# FunctionGraph's runtime name for Python 3.12 (its runtimes are named like the provider's
# documented "Python3.10"; FunctionGraph lists Python 3.12 among its runtimes).
RUNTIME = "Python3.12"
# FunctionGraph's account name as a delegated party (IAM "Cloud service" agency: FunctionGraph).
FUNCTIONGRAPH_AGENCY_PARTY = "op_svc_cff"
# What the three calls need; see main.tf for which of these names SDRS's documentation confirms.
EXPECTED_SDRS_ACTIONS = frozenset({"sdrs:serverGroup:list", "sdrs:failureJob:list", "sdrs:failureJob:delete"})
CREDENTIAL_SETTINGS = frozenset(
    {"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN", "SDRS_CREDENTIALS_SECRET_ARN"}
)
CREDENTIAL_NAME = re.compile(
    r"(^|_)(ak|sk|access_?key|secret_?key|secret|password|passwd|token|security_?token|credentials?)(_|$)",
    re.IGNORECASE,
)
USER_DATA_MAX_KEYS = 20  # FunctionGraph: at most 20 user data entries, 4 KB in all
EXPRESSION_REFERENCE = re.compile(r"\b(var|local)\.([A-Za-z_][A-Za-z0-9_]*)")
RESOURCE_REFERENCE = re.compile(r"\b(huaweicloud_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)")

Config = dict[str, Any]


# --- reading the configuration ----------------------------------------------------------------------


def read_texts() -> dict[str, str]:
    names = [path.name for path in sorted(DEPLOY.glob("*.tf"))] + [TFVARS_EXAMPLE]
    return {name: (DEPLOY / name).read_text(encoding="utf-8") for name in names}


def parse(texts: Mapping[str, str]) -> Config:
    """All .tf files merged by top-level key ("resource", "variable", ...), and the tfvars example."""
    config: Config = {"tfvars": {}}
    for name, text in texts.items():
        parsed = hcl2.loads(text)
        if name == TFVARS_EXAMPLE:
            config["tfvars"] = {key: value for key, value in parsed.items() if not key.startswith("__")}
            continue
        for key, value in parsed.items():
            if not key.startswith("__"):
                config.setdefault(key, []).extend(value)
    return config


def unquote(value: Any) -> Any:
    """A string literal as written ('"x"' in python-hcl2's output) without its quotes."""
    if isinstance(value, str) and len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return value[1:-1]
    return value


def is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def fields(body: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if not key.startswith("__")}


def resources(config: Config, kind: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for entry in config.get("resource", []):
        for rtype, named in fields(entry).items():
            for rname, body in fields(named).items():
                if kind is None or unquote(rtype) == kind:
                    yield unquote(rtype), unquote(rname), fields(body)


def variables(config: Config) -> dict[str, dict[str, Any]]:
    return {unquote(name): fields(body) for entry in config.get("variable", []) for name, body in fields(entry).items()}


def local_values(config: Config) -> dict[str, Any]:
    return {name: value for entry in config.get("locals", []) for name, value in fields(entry).items()}


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if not key.startswith("__"):
                yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def the_function(config: Config) -> tuple[str, dict[str, Any]] | None:
    found = [(name, body) for _, name, body in resources(config, "huaweicloud_fgs_function")]
    return found[0] if len(found) == 1 else None


def triggers(config: Config, trigger_type: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, body)
        for _, name, body in resources(config, "huaweicloud_fgs_function_trigger")
        if unquote(body.get("type")) == trigger_type
    ]


# --- the checks: each returns the problems it finds --------------------------------------------------


def check_provider_pinned(config: Config) -> list[str]:
    problems = []
    pinned = [
        fields(provider)
        for block in config.get("terraform", [])
        for required in block.get("required_providers", [])
        for name, provider in fields(required).items()
        if name == "huaweicloud"
    ]
    if len(pinned) != 1:
        return [f"required_providers must name huaweicloud once, found {len(pinned)}"]
    if unquote(pinned[0].get("source")) != PROVIDER_SOURCE:
        problems.append(f"the provider's source is {pinned[0].get('source')!r}, not {PROVIDER_SOURCE}")
    version = str(unquote(pinned[0].get("version", ""))).replace(" ", "")
    if version not in (PROVIDER_VERSION, f"={PROVIDER_VERSION}"):
        problems.append(f"the provider is pinned to {version!r}: the docs checked are those of {PROVIDER_VERSION}")
    for entry in config.get("provider", []):
        for name, body in fields(entry).items():
            undocumented = set(fields(body)) - PROVIDER_ARGUMENTS
            if undocumented:
                problems.append(f"provider {name}: {sorted(undocumented)} not among {sorted(PROVIDER_ARGUMENTS)}")
    return problems


def _check_body(where: str, body: Mapping[str, Any], schema: Schema, meta: bool) -> list[str]:
    problems = []
    for key, value in fields(body).items():
        if meta and key in META_BLOCKS | META_ARGUMENTS:
            continue
        if is_block(value):
            if key not in schema.blocks:
                problems.append(f"{where}: block {key!r} is not documented in {schema.doc}")
                continue
            for index, block in enumerate(value):
                problems += _check_body(f"{where}.{key}[{index}]", block, schema.blocks[key], meta=False)
        elif key not in schema.arguments:
            problems.append(f"{where}: argument {key!r} is not documented in {schema.doc}")
    missing = schema.required - set(fields(body))
    if missing:
        problems.append(f"{where}: required arguments missing: {sorted(missing)} ({schema.doc})")
    return problems


def check_documented(config: Config) -> list[str]:
    problems = []
    found = False
    for rtype, rname, body in resources(config):
        found = True
        schema = SCHEMAS.get(rtype)
        if schema is None:
            problems.append(f"{rtype}.{rname}: the resource type is not in the table of provider {PROVIDER_VERSION}")
            continue
        problems += _check_body(f"{rtype}.{rname}", body, schema, meta=True)
    return problems if found else ["no resources found"]


def check_handler(config: Config, root: Path = ROOT) -> list[str]:
    function = the_function(config)
    if function is None:
        return ["there must be exactly one huaweicloud_fgs_function"]
    handler = unquote(function[1].get("handler"))
    module, _, name = str(handler).rpartition(".")
    if not module or not name:
        return [f"the handler {handler!r} is not module.function"]
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():
        return [f"the handler's module {module} has no file {path.relative_to(root)}"]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name]
    if not defined:
        return [f"{path.relative_to(root)} defines no top-level function {name!r}"]
    if len(defined[0].args.args) < 2:
        return [f"{module}.{name} does not take (event, context)"]
    return []


def check_runtime(config: Config) -> list[str]:
    function = the_function(config)
    if function is None:
        return ["there must be exactly one huaweicloud_fgs_function"]
    runtime = unquote(function[1].get("runtime"))
    return [] if runtime == RUNTIME else [f"the runtime is {runtime!r}, not {RUNTIME}"]


def check_package(config: Config) -> list[str]:
    """A ZIP of about 10 to 12 MB goes inline (FunctionGraph's API takes 50 MB); from build/."""
    function = the_function(config)
    if function is None:
        return ["there must be exactly one huaweicloud_fgs_function"]
    body, found = function[1], local_values(config)
    problems = []
    if unquote(body.get("code_type")) != "zip":
        problems.append(f"code_type is {body.get('code_type')!r}, not zip")
    if not str(unquote(body.get("code_filename", ""))).endswith(".zip"):
        problems.append("code_filename must name a .zip")
    if body.get("func_code") != "${local.package}":
        problems.append(f"func_code is {body.get('func_code')!r}, not local.package")
    if found.get("package") != "${filebase64(local.package_path)}":
        problems.append("local.package must be filebase64(local.package_path)")
    if "build/functiongraph.zip" not in str(found.get("package_path")):
        problems.append("local.package_path must default to build/functiongraph.zip")
    conditions = [
        unquote(precondition.get("condition"))
        for lifecycle in body.get("lifecycle", [])
        for precondition in lifecycle.get("precondition", [])
    ]
    if not any("local.package" in str(c) and "50 * 1024 * 1024" in str(c) for c in conditions):
        problems.append("no precondition keeps the package under FunctionGraph's 50 MB inline limit")
    return problems


def check_user_data(config: Config) -> list[str]:
    function = the_function(config)
    if function is None:
        return ["there must be exactly one huaweicloud_fgs_function"]
    found = local_values(config)
    problems = []
    if function[1].get("user_data") != "${local.user_data_json}":
        problems.append(f"user_data is {function[1].get('user_data')!r}, not local.user_data_json")
    if "local.user_data_set" not in str(found.get("user_data_json")) or "local.user_data" not in str(
        found.get("user_data_set")
    ):
        problems.append("local.user_data_json must be made of local.user_data (through local.user_data_set)")
    user_data = found.get("user_data")
    if not isinstance(user_data, dict) or not fields(user_data):
        return [*problems, "local.user_data must be a map of settings"]
    keys = set(fields(user_data))
    undeclared = keys - set(DECLARED)
    if undeclared:
        problems.append(f"user data keys not declared in handler.settings.SETTINGS: {sorted(undeclared)}")
    credentials = {k for k in keys if k in CREDENTIAL_SETTINGS or CREDENTIAL_NAME.search(k.lower())}
    if credentials:
        problems.append(f"user data must carry no credentials: {sorted(credentials)}")
    if len(keys) > USER_DATA_MAX_KEYS:
        problems.append(f"{len(keys)} user data keys: FunctionGraph takes {USER_DATA_MAX_KEYS}")
    literals = {k: v for k, v in fields(user_data).items() if "${" not in str(v)}
    if literals:
        problems.append(f"user data values must come from variables, not literals: {sorted(literals)}")
    return problems


def check_no_credentials(config: Config) -> list[str]:
    declared = variables(config)
    problems = [f"variable {name!r} looks like a credential" for name in declared if CREDENTIAL_NAME.search(name)]
    for key in config.get("tfvars", {}):
        if CREDENTIAL_NAME.search(key):
            problems.append(f"{TFVARS_EXAMPLE}: {key!r} looks like a credential")
        if key not in declared:
            problems.append(f"{TFVARS_EXAMPLE}: {key!r} is not a declared variable")
    return problems


def check_agency(config: Config) -> list[str]:
    agencies = list(resources(config, "huaweicloud_identity_agency"))
    roles = list(resources(config, "huaweicloud_identity_role"))
    function = the_function(config)
    if len(agencies) != 1 or len(roles) != 1 or function is None:
        return ["there must be one function, one agency and one custom role"]
    (_, agency_name, agency), (_, role_name, role) = agencies[0], roles[0]
    problems = []
    if function[1].get("agency") != f"${{huaweicloud_identity_agency.{agency_name}.name}}":
        problems.append("the function's agency is not the agency declared here")
    if unquote(agency.get("delegated_domain_name")) != FUNCTIONGRAPH_AGENCY_PARTY:
        problems.append(f"the agency delegates to {agency.get('delegated_domain_name')!r}, not FunctionGraph")
    granted = [str(block.get("roles")) for block in agency.get("project_role", [])]
    if len(granted) != 1 or f"huaweicloud_identity_role.{role_name}.name" not in granted[0]:
        problems.append("the agency's one project_role must grant the custom role")
    if set(fields(agency)) & {"domain_roles", "all_resources_roles", "enterprise_project_roles"}:
        problems.append("the agency must be granted in its project only")
    if variables(config).get("agency_additional_roles", {}).get("default") != []:
        problems.append("agency_additional_roles must default to none")
    if unquote(role.get("type")) != "XA":
        problems.append("the custom role must be for region-specific projects (XA): SDRS is project-level")
    policy = str(role.get("policy"))
    if policy.count("Action") != 1 or "Action = local.sdrs_actions" not in policy:
        problems.append("the role's policy must have one statement, whose Action is local.sdrs_actions")
    if 'Effect = "Allow"' not in policy or "Deny" in policy or 'Version = "1.1"' not in policy:
        problems.append('the role\'s policy must be a Version "1.1" Allow statement')
    actions = {unquote(a) for a in local_values(config).get("sdrs_actions", [])}
    if actions != EXPECTED_SDRS_ACTIONS:
        problems.append(f"the SDRS actions are {sorted(actions)}, not {sorted(EXPECTED_SDRS_ACTIONS)}")
    return problems


def check_timer(config: Config) -> list[str]:
    timers = triggers(config, "TIMER")
    function = the_function(config)
    if len(timers) != 1 or function is None:
        return [f"there must be exactly one TIMER trigger, found {len(timers)}"]
    _, timer = timers[0]
    problems = []
    if set(timer) & {"count", "for_each"}:
        problems.append("the TIMER trigger must always exist (no count or for_each)")
    if timer.get("function_urn") != f"${{huaweicloud_fgs_function.{function[0]}.urn}}":
        problems.append("the TIMER trigger must be the function's")
    data = str(timer.get("event_data"))
    for part in ("name = var.", "schedule_type = var.", "schedule = var.", "user_event = var.timer_user_event"):
        if part not in data:
            problems.append(f"the TIMER event_data lacks {part!r}")
    if variables(config).get("timer_user_event", {}).get("default") != '""':
        problems.append("timer_user_event must default to empty: the configured SDRS_SERVER_GROUP_IDS")
    return problems


def check_smn(config: Config) -> list[str]:
    smn = triggers(config, "SMN")
    function = the_function(config)
    if not smn or function is None:
        return ["there must be an SMN trigger, created only for the topics given"]
    problems = []
    for name, body in smn:
        condition = str(body.get("for_each", body.get("count", "")))
        if "var.smn_topic_urns" not in condition:
            problems.append(f"SMN trigger {name}: not conditional on var.smn_topic_urns")
        if "topic_urn = each.value" not in str(body.get("event_data")):
            problems.append(f"SMN trigger {name}: event_data must name the topic")
        if body.get("function_urn") != f"${{huaweicloud_fgs_function.{function[0]}.urn}}":
            problems.append(f"SMN trigger {name}: must be the function's")
    if variables(config).get("smn_topic_urns", {}).get("default") != []:
        problems.append("smn_topic_urns must default to none: no SMN trigger unless asked")
    return problems


def check_logs(config: Config) -> list[str]:
    function = the_function(config)
    if function is None:
        return ["there must be exactly one huaweicloud_fgs_function"]
    body = function[1]
    problems = [] if body.get("enable_lts_log") is True else ["enable_lts_log must be true"]
    if not str(body.get("log_group_id")).startswith("${huaweicloud_lts_group."):
        problems.append("log_group_id must be the LTS group declared here")
    if not str(body.get("log_stream_id")).startswith("${huaweicloud_lts_stream."):
        problems.append("log_stream_id must be the LTS stream declared here")
    return problems


def check_defaults(config: Config) -> list[str]:
    """What a deployment with no tfvars sets is what the function would do unset."""
    declared = variables(config)
    expected = {
        "dry_run": default_of("SDRS_DRY_RUN"),
        "max_failed_tasks": whole_default("SDRS_MAX_FAILED_TASKS"),
        "max_concurrency": whole_default("SDRS_MAX_CONCURRENCY"),
    }
    return [
        f"variable {name} defaults to {declared.get(name, {}).get('default')!r}, the setting to {value!r}"
        for name, value in expected.items()
        if declared.get(name, {}).get("default") != value
    ]


def check_references(config: Config) -> list[str]:
    declared, defined = set(variables(config)), set(local_values(config))
    present = {(rtype, rname) for rtype, rname, _ in resources(config)}
    problems = set()
    for text in strings({k: v for k, v in config.items() if k != "tfvars"}):
        if "${" not in text:
            continue
        for kind, name in EXPRESSION_REFERENCE.findall(text):
            if (kind == "var" and name not in declared) or (kind == "local" and name not in defined):
                problems.add(f"{kind}.{name} is referenced but not declared")
        for rtype, rname in RESOURCE_REFERENCE.findall(text):
            if (rtype, rname) not in present:
                problems.add(f"{rtype}.{rname} is referenced but not declared")
    return sorted(problems)


CHECKS = {
    "provider_pinned": check_provider_pinned,
    "documented": check_documented,
    "handler": check_handler,
    "runtime": check_runtime,
    "package": check_package,
    "user_data": check_user_data,
    "no_credentials": check_no_credentials,
    "agency": check_agency,
    "timer": check_timer,
    "smn": check_smn,
    "logs": check_logs,
    "defaults": check_defaults,
    "references": check_references,
}


@pytest.fixture(scope="module")
def config() -> Config:
    return parse(read_texts())


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_configuration_passes(config: Config, check: str) -> None:
    assert CHECKS[check](config) == []


# Each check, on the configuration with one thing broken: (check, file, text, replacement).
MUTATIONS = [
    ("provider_pinned", "versions.tf", 'version = "= 1.97.1"', 'version = ">= 1.97.1"'),
    ("provider_pinned", "versions.tf", "  region = var.region\n}", '  region     = var.region\n  access_key = "x"\n}'),
    ("documented", "main.tf", '  code_type     = "zip"\n', '  code_type     = "zip"\n  code_size     = 1\n'),
    ("documented", "main.tf", '  app                   = "default"\n', ""),
    (
        "documented",
        "main.tf",
        'resource "huaweicloud_lts_stream" "function"',
        'resource "huaweicloud_lts_log" "function"',
    ),
    ("documented", "main.tf", "  project_role {\n", "  project_roles {\n"),
    ("handler", "main.tf", '"handler.functiongraph.handler"', '"handler.functiongraph.main"'),
    ("handler", "main.tf", '"handler.functiongraph.handler"', '"handler.fgs.handler"'),
    ("runtime", "main.tf", '"Python3.12"', '"Python3.10"'),
    ("package", "main.tf", 'code_type     = "zip"', 'code_type     = "inline"'),
    ("package", "main.tf", "  func_code     = local.package\n", ""),
    ("package", "main.tf", "50 * 1024 * 1024", "500 * 1024 * 1024"),
    ("user_data", "main.tf", "    SDRS_DRY_RUN ", "    SDRS_NOT_A_SETTING = var.region\n    SDRS_DRY_RUN "),
    ("user_data", "main.tf", "    SDRS_DRY_RUN ", "    HUAWEICLOUD_SDK_AK = var.region\n    SDRS_DRY_RUN "),
    (
        "user_data",
        "main.tf",
        "  user_data = local.user_data_json",
        '  user_data = jsonencode({ SDRS_DRY_RUN = "true" })',
    ),
    (
        "no_credentials",
        "variables.tf",
        'variable "dry_run" {',
        'variable "secret_key" {\n  type = string\n}\n\nvariable "dry_run" {',
    ),
    ("no_credentials", TFVARS_EXAMPLE, 'region = "cn-north-4"', 'region = "cn-north-4"\naccess_key = "x"'),
    ("agency", "main.tf", '"op_svc_cff"', '"op_svc_ecs"'),
    ("agency", "main.tf", '    "sdrs:failureJob:delete",\n', '    "sdrs:failureJob:delete",\n    "sdrs:*:*",\n'),
    ("agency", "main.tf", '    "sdrs:serverGroup:list",\n', ""),
    ("agency", "main.tf", 'type        = "XA"', 'type        = "AX"'),
    ("agency", "main.tf", '        Effect = "Allow"', '        Effect = "Deny"'),
    (
        "agency",
        "variables.tf",
        '  default     = []\n  description = "System roles',
        '  default     = ["Tenant Administrator"]\n  description = "System roles',
    ),
    ("timer", "main.tf", 'type         = "TIMER"', 'type         = "CTS"'),
    ("timer", "main.tf", "    user_event    = var.timer_user_event\n", ""),
    ("timer", "main.tf", '  type         = "TIMER"\n', '  type         = "TIMER"\n  count        = 0\n'),
    ("smn", "main.tf", "  for_each = toset(var.smn_topic_urns)\n", ""),
    ("smn", "main.tf", 'type         = "SMN"', 'type         = "APIG"'),
    ("logs", "main.tf", "  enable_lts_log  = true", "  enable_lts_log  = false"),
    ("defaults", "variables.tf", "  default     = 2000\n", "  default     = 1000\n"),
    (
        "defaults",
        "variables.tf",
        "  type        = bool\n  default     = false\n",
        "  type        = bool\n  default     = true\n",
    ),
    ("references", "main.tf", "var.timer_schedule\n", "var.timer_schedul\n"),
    ("references", "outputs.tf", "huaweicloud_lts_stream.function.id", "huaweicloud_lts_stream.logs.id"),
]


@pytest.mark.parametrize(("check", "file", "text", "replacement"), MUTATIONS)
def test_check_catches_a_broken_configuration(check: str, file: str, text: str, replacement: str) -> None:
    texts = read_texts()
    assert texts[file].count(text) == 1, f"the mutation's text is not (once) in {file}: update MUTATIONS"
    texts[file] = texts[file].replace(text, replacement)
    assert CHECKS[check](parse(texts)), f"{check} did not notice: {text!r} -> {replacement!r} in {file}"


def test_every_check_is_tried_on_a_broken_configuration() -> None:
    assert {check for check, *_ in MUTATIONS} == set(CHECKS)


def test_handler_check_fails_without_the_module(config: Config, tmp_path: Path) -> None:
    assert check_handler(config, root=tmp_path)
    (tmp_path / "handler").mkdir()
    (tmp_path / "handler" / "functiongraph.py").write_text("def handler(event):\n    return event\n")
    assert check_handler(config, root=tmp_path)
    (tmp_path / "handler" / "functiongraph.py").write_text("def handler(event, context):\n    return event\n")
    assert check_handler(config, root=tmp_path) == []


def test_the_tables_name_the_version_checked() -> None:
    assert PROVIDER_VERSION in DOCS
    assert all(schema.doc.startswith("docs/resources/") for schema in SCHEMAS.values())
    assert f'"= {PROVIDER_VERSION}"' in (DEPLOY / "versions.tf").read_text(encoding="utf-8")
