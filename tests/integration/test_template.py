"""template.yaml against the handler: what the deployed function is given, the handler accepts.

The intrinsic functions the template's inputs and environment use (Ref, Fn::If with its
conditions, Fn::Sub, Fn::Split, Fn::Join) are evaluated here with sample parameter values, as
CloudFormation would; Fn::GetAtt is kept as it is, so that tests can check what points where.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.shared import constants as powertools_constants
from cfnlint.decode import decode_str  # type: ignore[import-untyped]

from handler.models import Retry
from handler.settings import ConfigurationError, load_settings
from handler.triggers import Defaults, parse_event, parse_sqs_body

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER_INPUT = json.loads((ROOT / "events" / "scheduler-input.json").read_text())
# The schedule's input as Scheduler hands it over, its context attributes filled in.
SCHEDULED_INPUT = json.loads((ROOT / "events" / "scheduler-input-with-context.json").read_text())
SCHEDULER_PLACEHOLDERS = {
    "scheduled_time": "<aws.scheduler.scheduled-time>",
    "execution_id": "<aws.scheduler.execution-id>",
    "attempt_number": "<aws.scheduler.attempt-number>",
}
SCHEDULED_EVENT = json.loads((ROOT / "events" / "eventbridge-scheduled.json").read_text())
PROJECT_ID = SCHEDULER_INPUT["project_id"]
GROUP_LIST = ",".join(SCHEDULER_INPUT["server_group_ids"])
# Values for the parameters that have no default (and two that do, to sample the environment).
REQUIRED = {
    "SdrsRegion": "cn-north-4",
    "ProjectId": PROJECT_ID,
    "ServerGroupIds": GROUP_LIST,
    "HuaweiCloudAccessKey": "AKEXAMPLE",
    "HuaweiCloudSecretKey": "sk-example",
}
PSEUDO = {"AWS::NoValue": None, "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}
ENV_PREFIXES = ("SDRS_", "HUAWEICLOUD_", "POWERTOOLS_")


@pytest.fixture(scope="module")
def template() -> Any:
    decoded, problems = decode_str((ROOT / "template.yaml").read_text())
    assert not problems
    return decoded


def parameters(template: Any, **overrides: str) -> dict[str, str]:
    """Every parameter's value as CloudFormation passes it on (a Number's Ref is a string)."""
    values = {name: str(spec["Default"]) for name, spec in template["Parameters"].items() if "Default" in spec}
    return {**values, **REQUIRED, **overrides}


def condition(node: Any, template: Any, names: dict[str, Any]) -> bool:
    (function, argument), *_ = node.items()
    if function == "Condition":
        return condition(template["Conditions"][argument], template, names)
    if function == "Fn::Equals":
        left, right = (str(evaluate(item, template, names)) for item in argument)
        return left == right
    if function == "Fn::Not":
        return not condition(argument[0], template, names)
    if function == "Fn::And":
        return all(condition(item, template, names) for item in argument)
    if function == "Fn::Or":
        return any(condition(item, template, names) for item in argument)
    raise AssertionError(f"condition function {function} is not evaluated here")


def evaluate(node: Any, template: Any, names: dict[str, Any]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        (function, argument), *_ = node.items()
        if function == "Ref":
            return {**PSEUDO, **names}[argument]
        if function == "Fn::If":
            name, if_true, if_false = argument
            chosen = if_true if condition(template["Conditions"][name], template, names) else if_false
            return evaluate(chosen, template, names)
        if function == "Fn::Split":
            separator, text = argument
            return evaluate(text, template, names).split(separator)
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(evaluate(items, template, names))
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            scope = {**PSEUDO, **names, **{key: evaluate(value, template, names) for key, value in variables.items()}}
            return re.sub(r"\$\{([^}]+)\}", lambda match: scope[match[1]], text)
        if function == "Fn::GetAtt":
            return node
    if isinstance(node, dict):
        return {key: evaluate(value, template, names) for key, value in node.items()}
    if isinstance(node, list):
        return [evaluate(item, template, names) for item in node]
    return node


def get_att(resource: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, attribute]}


def function_properties(template: Any) -> dict[str, Any]:
    """The function's properties with the SAM Globals merged in, as the transform does."""
    globals_ = template["Globals"]["Function"]
    function = template["Resources"]["SdrsCleanupFunction"]["Properties"]
    env = {**globals_["Environment"]["Variables"], **function["Environment"]["Variables"]}
    return {**globals_, **function, "Environment": {"Variables": env}}


def environment(template: Any, **overrides: str) -> dict[str, str]:
    env = function_properties(template)["Environment"]["Variables"]
    return {key: str(value) for key, value in evaluate(env, template, parameters(template, **overrides)).items()}


def schedule_input(template: Any, **overrides: str) -> Any:
    schedule = template["Resources"]["SdrsCleanupFunction"]["Properties"]["Events"]["Schedule"]
    assert schedule["Type"] == "ScheduleV2"
    return json.loads(evaluate(schedule["Properties"]["Input"], template, parameters(template, **overrides)))


def sqs_event(template: Any) -> dict[str, Any]:
    events = template["Resources"]["SdrsCleanupFunction"]["Properties"]["Events"]
    [(name, sqs)] = [(name, event) for name, event in events.items() if event["Type"] == "SQS"]
    assert name == "SweepQueue"
    properties: dict[str, Any] = sqs["Properties"]
    return properties


def accepts(spec: dict[str, Any], value: str) -> bool:
    """Whether CloudFormation would take `value` for a parameter declared as `spec`."""
    if "AllowedValues" in spec and value not in [str(allowed) for allowed in spec["AllowedValues"]]:
        return False
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return False
    if not spec.get("MinLength", 0) <= len(value) <= spec.get("MaxLength", len(value)):
        return False
    if spec["Type"] == "Number":
        number = float(value)
        return bool(spec.get("MinValue", number) <= number <= spec.get("MaxValue", number))
    return True


def test_the_schedule_input_for_a_list_of_groups_names_them_and_raises_on_transient_failure(template: Any) -> None:
    scheduler_input = schedule_input(template, ServerGroupIds=GROUP_LIST)

    assert scheduler_input.pop("scheduler") == SCHEDULER_PLACEHOLDERS
    assert scheduler_input == SCHEDULER_INPUT
    parsed = parse_event(scheduler_input, Defaults(None, ()))
    assert parsed.retry is Retry.EVENT  # raises on transient failure: Lambda retries the event
    assert parsed.request.sweep_project_id is None
    assert [t.server_group_id for t in parsed.request.targets] == SCHEDULER_INPUT["server_group_ids"]
    assert {t.project_id for t in parsed.request.targets} == {PROJECT_ID}


def test_the_schedule_input_for_all_is_a_sweep_of_the_project(template: Any) -> None:
    scheduler_input = schedule_input(template, ServerGroupIds="all")

    assert scheduler_input.pop("scheduler") == SCHEDULER_PLACEHOLDERS
    assert scheduler_input == {"all_server_groups": True, "project_id": PROJECT_ID, "raise_on_transient_failure": True}
    parsed = parse_event(scheduler_input, Defaults(None, ()))
    assert parsed.request.sweep_project_id == PROJECT_ID
    assert parsed.request.targets == ()
    # Raises on transient failure; groups deferred for lack of time wait for the next run, no retry.
    assert parsed.retry is Retry.TIMER
    # The same body is a valid queue message.
    assert parse_sqs_body(json.dumps(scheduler_input), Defaults(None, ())).request == parsed.request


def test_the_schedule_input_carries_the_scheduler_context_and_loads_filled_in_or_not(template: Any) -> None:
    """Scheduler replaces the placeholders; an input that still has them (a schedule invoked by
    hand from the console) is valid too."""
    raw = schedule_input(template, ServerGroupIds=GROUP_LIST)
    filled = json.loads(
        json.dumps(raw)
        .replace(SCHEDULER_PLACEHOLDERS["scheduled_time"], SCHEDULED_INPUT["scheduler"]["scheduled_time"])
        .replace(SCHEDULER_PLACEHOLDERS["execution_id"], SCHEDULED_INPUT["scheduler"]["execution_id"])
        .replace(SCHEDULER_PLACEHOLDERS["attempt_number"], SCHEDULED_INPUT["scheduler"]["attempt_number"])
    )
    assert filled == SCHEDULED_INPUT
    for body in (raw, filled):
        parsed = parse_event(body, Defaults(None, ()))
        assert [t.server_group_id for t in parsed.request.targets] == SCHEDULER_INPUT["server_group_ids"]
    assert parse_event(filled, Defaults(None, ())).correlation_id == SCHEDULED_INPUT["scheduler"]["execution_id"]


def test_alarm_actions_may_invoke_only_when_asked_and_only_for_this_accounts_alarms(template: Any) -> None:
    permission = template["Resources"]["AlarmActionPermission"]
    rule = template["Conditions"][permission["Condition"]]
    assert condition(rule, template, parameters(template)) is False  # off by default
    assert condition(rule, template, parameters(template, AllowCloudWatchAlarmActions="true")) is True
    properties = permission["Properties"]
    assert properties["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"
    assert properties["Action"] == "lambda:InvokeFunction"
    assert properties["FunctionName"] == {"Ref": "SdrsCleanupFunction.Alias"}  # the alias the triggers invoke
    assert properties["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert properties["SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
    }


def test_the_alarm_state_change_rule_exists_only_with_a_prefix_and_matches_alarm_state_only(template: Any) -> None:
    resources = template["Resources"]
    rule, permission = resources["AlarmStateChangeRule"], resources["AlarmStateChangeRulePermission"]
    assert rule["Condition"] == permission["Condition"] == "HasAlarmStateChangeRule"
    when = template["Conditions"]["HasAlarmStateChangeRule"]
    assert condition(when, template, parameters(template)) is False
    assert condition(when, template, parameters(template, AlarmStateChangeRulePrefix="sdrs-")) is True
    pattern = evaluate(
        rule["Properties"]["EventPattern"], template, parameters(template, AlarmStateChangeRulePrefix="sdrs-")
    )
    assert pattern == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": "sdrs-"}], "state": {"value": ["ALARM"]}},
    }
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "SdrsCleanupFunction.Alias"}
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"
    assert permission["Properties"]["SourceArn"] == get_att("AlarmStateChangeRule")
    # The event the rule forwards is one the function takes.
    event = json.loads((ROOT / "events" / "eventbridge-alarm-state-change.json").read_text())
    assert event["source"] in pattern["source"]
    assert event["detail-type"] in pattern["detail-type"]
    assert event["detail"]["state"]["value"] in pattern["detail"]["state"]["value"]
    assert parse_event(event, Defaults(PROJECT_ID, ())).trigger == "eventbridge_alarm"


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("all", True),
        (GROUP_LIST, True),
        (SCHEDULER_INPUT["server_group_ids"][0], True),
        ("ALL", False),  # the template's condition compares case-sensitively
        (f"all,{GROUP_LIST}", False),
        (GROUP_LIST.replace(",", ", "), False),
        ("", False),
        ("../../failure-jobs", False),
    ],
)
def test_server_group_ids_takes_all_or_a_list_and_whatever_it_takes_loads(
    template: Any, value: str, accepted: bool
) -> None:
    spec = template["Parameters"]["ServerGroupIds"]

    assert accepts(spec, value) is accepted
    if accepted:
        settings = load_settings(environment(template, ServerGroupIds=value))
        assert settings.sweep_on_schedule is (value == "all")
        assert settings.default_server_group_ids == (() if value == "all" else tuple(value.split(",")))


def test_a_scheduled_rule_event_sweeps_when_the_template_says_all(template: Any) -> None:
    settings = load_settings(environment(template, ServerGroupIds="all"))

    parsed = parse_event(SCHEDULED_EVENT, Defaults(settings.default_project_id, (), settings.sweep_on_schedule))

    assert parsed.trigger == "eventbridge_scheduled"
    assert parsed.request.sweep_project_id == PROJECT_ID


def test_the_function_environment_loads_into_settings(template: Any) -> None:
    function = function_properties(template)

    settings = load_settings(environment(template))

    assert settings.endpoint == "https://sdrs.cn-north-4.myhuaweicloud.com"
    assert settings.default_project_id == PROJECT_ID
    assert settings.default_server_group_ids == tuple(SCHEDULER_INPUT["server_group_ids"])
    assert settings.force_dry_run is False
    assert settings.credentials is not None
    assert settings.credentials_secret_arn is None
    assert (settings.max_concurrency, settings.max_failed_tasks) == (16, 2000)
    assert function["Handler"] == "handler.app.lambda_handler"
    assert (function["Runtime"], function["Architectures"]) == ("python3.13", ["arm64"])


def handler_env_names() -> set[str]:
    """The names settings.py reads: its string constants that look like SDRS_ or HUAWEICLOUD_ variables."""
    tree = ast.parse((ROOT / "handler" / "settings.py").read_text())
    pattern = re.compile(r"(SDRS|HUAWEICLOUD)_[A-Z0-9_]+")
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.fullmatch(node.value)
    }


def powertools_env_names() -> set[str]:
    """settings.py reads no POWERTOOLS_ variable: Powertools does, by the names in its constants."""
    return {
        value
        for value in vars(powertools_constants).values()
        if isinstance(value, str) and re.fullmatch(r"POWERTOOLS_[A-Z0-9_]+", value)
    }


def test_every_environment_variable_is_one_the_code_reads(template: Any) -> None:
    names = set(function_properties(template)["Environment"]["Variables"])
    known = handler_env_names()

    assert {"SDRS_REGION", "SDRS_MAX_CONCURRENCY", "SDRS_MAX_FAILED_TASKS", "HUAWEICLOUD_SDK_AK"} <= known
    assert all(name.startswith(ENV_PREFIXES) for name in names), names
    assert {n for n in names if not n.startswith("POWERTOOLS_")} <= known
    assert {n for n in names if n.startswith("POWERTOOLS_")} <= powertools_env_names()


def parameter_samples(template: Any) -> list[tuple[str, str]]:
    """For every parameter the environment uses: its default, allowed values, bounds, or samples."""
    env = function_properties(template)["Environment"]["Variables"]
    used = sorted({value["Ref"] for value in env.values() if isinstance(value, dict) and "Ref" in value})
    patterns = {
        "SdrsRegion": ["cn-north-4", "ap-southeast-2", "la-north-2"],
        "SdrsEndpoint": [
            "",
            "https://sdrs.cn-north-4.myhuaweicloud.com",
            "https://sdrs.cn-north-4.myhuaweicloud.com:8443",
        ],
        "AllowedEndpointSuffixes": ["myhuaweicloud.com", "myhuaweicloud.com,otc.t-systems.com"],
        "ProjectId": [PROJECT_ID],
        "ServerGroupIds": ["all", GROUP_LIST],
        "HuaweiCloudAccessKey": ["AKEXAMPLE"],
        "HuaweiCloudSecretKey": ["sk-example"],
    }
    samples = []
    for name in used:
        spec = template["Parameters"][name]
        values = [spec.get("Default"), *spec.get("AllowedValues", []), spec.get("MinValue"), spec.get("MaxValue")]
        values += patterns.get(name, [])
        found = {str(value) for value in values if value is not None}
        assert found, f"no sample value for parameter {name}"
        samples += [(name, value) for value in sorted(found)]
    return samples


def test_every_value_the_parameters_allow_loads_into_settings(template: Any) -> None:
    checked = set()
    for name, value in parameter_samples(template):
        assert accepts(template["Parameters"][name], value), f"{name}={value!r} is not a value the template allows"
        if rules_broken(template, **{name: value}):
            continue  # CloudFormation refuses it with the others' defaults (an AK without its SK)

        settings = load_settings({**environment(template, **{name: value}), "AWS_SESSION_TOKEN": "set-by-lambda"})

        if name == "MaxConcurrency":
            assert settings.max_concurrency == int(value)
        if name == "MaxFailedTasks":
            assert settings.max_failed_tasks == int(value)
        checked.add(name)
    assert {"MaxConcurrency", "MaxFailedTasks", "ServerGroupIds", "DryRun", "LogLevel"} <= checked


def test_memory_is_a_parameter_and_the_timeout_a_constant(template: Any) -> None:
    function = function_properties(template)
    memory = template["Parameters"]["MemorySize"]

    assert function["MemorySize"] == {"Ref": "MemorySize"}
    assert memory["Default"] in (512, 1024)
    assert 128 <= memory["MinValue"] <= memory["Default"] <= memory["MaxValue"] <= 10240
    assert isinstance(function["Timeout"], int)
    assert 30 <= function["Timeout"] <= 900


def test_the_sqs_event_reports_batch_item_failures(template: Any) -> None:
    sqs = sqs_event(template)
    params = template["Parameters"]

    assert sqs["Queue"] == get_att("SweepQueue")
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sqs["MaximumBatchingWindowInSeconds"] == 0
    assert sqs["BatchSize"] == {"Ref": "SweepBatchSize"}
    assert params["SweepBatchSize"]["Default"] == 5
    # Without a batching window, an SQS event source takes at most 10 messages a batch.
    assert 1 <= params["SweepBatchSize"]["MinValue"] <= params["SweepBatchSize"]["MaxValue"] <= 10


def test_the_queue_poller_leaves_concurrency_to_the_other_triggers_and_stops_with_the_function(
    template: Any,
) -> None:
    sqs = sqs_event(template)
    params = template["Parameters"]
    maximum = params[sqs["ScalingConfig"]["MaximumConcurrency"]["Ref"]]

    assert maximum["MinValue"] >= 2  # what Lambda accepts
    # Throttled batches go back to the queue and count as deliveries: the poller must fit in
    # the reserved concurrency, with a slot left for the schedule, the alarms and the events.
    assert maximum["Default"] < params["ReservedConcurrency"]["Default"]
    enabled = {
        reserved: evaluate(sqs["Enabled"], template, parameters(template, ReservedConcurrency=reserved))
        for reserved in ("-1", "0", "1", "3")
    }
    assert enabled == {"-1": True, "0": False, "1": True, "3": True}


def test_the_sweep_queue_hides_a_message_for_six_function_timeouts(template: Any) -> None:
    queue = template["Resources"]["SweepQueue"]["Properties"]
    timeout = function_properties(template)["Timeout"]

    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["SqsManagedSseEnabled"] is True


def test_the_sweep_queue_dead_letters_into_the_dead_letter_queue(template: Any) -> None:
    resources = template["Resources"]
    queue = resources["SweepQueue"]["Properties"]
    dead_letters = resources["SweepDeadLetterQueue"]

    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == get_att("SweepDeadLetterQueue")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "SweepMaxReceiveCount"}
    assert template["Parameters"]["SweepMaxReceiveCount"]["Default"] == 5
    assert dead_letters["Type"] == "AWS::SQS::Queue"
    assert dead_letters["Properties"]["SqsManagedSseEnabled"] is True
    # A message keeps its first enqueue time in the dead-letter queue: it must outlive the source.
    assert dead_letters["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue.get("MessageRetentionPeriod", 4 * 24 * 3600) < dead_letters["Properties"]["MessageRetentionPeriod"]
    outputs = template["Outputs"]
    assert outputs["SweepQueueUrl"]["Value"] == {"Ref": "SweepQueue"}
    assert outputs["SweepDeadLetterQueueUrl"]["Value"] == {"Ref": "SweepDeadLetterQueue"}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in role["Properties"].get("Policies", []):
        if policy is None:  # AWS::NoValue
            continue
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            found.append({**statement, "Action": [actions] if isinstance(actions, str) else actions})
    return found


def test_the_function_role_grants_only_its_own_resources(template: Any) -> None:
    resources = template["Resources"]
    function = resources["SdrsCleanupFunction"]["Properties"]
    # An explicit role: for an SQS event, a role generated by SAM gets the managed policy
    # AWSLambdaSQSQueueExecutionRole, whose sqs:ReceiveMessage/DeleteMessage apply to every queue.
    assert function["Role"] == get_att("SdrsCleanupFunctionRole")
    assert "Policies" not in function
    role = evaluate(resources["SdrsCleanupFunctionRole"], template, parameters(template))  # without a secret
    assert role["Type"] == "AWS::IAM::Role"
    assert "ManagedPolicyArns" not in role["Properties"]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Principal"], trust["Action"]) == ({"Service": "lambda.amazonaws.com"}, "sts:AssumeRole")

    granted = {
        (action, json.dumps(statement["Resource"], sort_keys=True))
        for statement in statements(role)
        for action in statement["Action"]
    }

    assert all(statement["Effect"] == "Allow" and "Condition" not in statement for statement in statements(role))
    log_group, failed, sweep = (
        json.dumps(get_att(name), sort_keys=True)
        for name in ("SdrsCleanupLogGroup", "FailedInvocationsQueue", "SweepQueue")
    )
    assert granted == {
        ("logs:CreateLogStream", log_group),
        ("logs:PutLogEvents", log_group),
        ("sqs:SendMessage", failed),
        ("sqs:ReceiveMessage", sweep),
        ("sqs:DeleteMessage", sweep),
        ("sqs:GetQueueAttributes", sweep),
    }


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sdrs-cleanup/huaweicloud-AbCdEf"
LAYER_ARN = "arn:aws:lambda:eu-west-1:123456789012:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:12"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
WITH_SECRET = {
    "CredentialsSecretArn": SECRET_ARN,
    "ParametersSecretsExtensionLayerArn": LAYER_ARN,
    "HuaweiCloudAccessKey": "",
    "HuaweiCloudSecretKey": "",
}


def rules_broken(template: Any, **overrides: str) -> list[str]:
    """The AssertDescriptions of the Rules CloudFormation would refuse the stack with."""
    names = parameters(template, **overrides)
    broken = []
    for rule in template["Rules"].values():
        if "RuleCondition" in rule and not condition(rule["RuleCondition"], template, names):
            continue
        broken += [a["AssertDescription"] for a in rule["Assertions"] if not condition(a["Assert"], template, names)]
    return broken


def role_policies(template: Any, **overrides: str) -> dict[str, Any]:
    role = template["Resources"]["SdrsCleanupFunctionRole"]["Properties"]
    policies = evaluate(role["Policies"], template, parameters(template, **overrides))
    return {p["PolicyName"]: p["PolicyDocument"]["Statement"] for p in policies if p is not None}


def test_credentials_come_from_exactly_one_place(template: Any) -> None:
    assert rules_broken(template) == []  # AK/SK parameters
    assert rules_broken(template, **WITH_SECRET) == []
    assert rules_broken(template, HuaweiCloudAccessKey="", HuaweiCloudSecretKey="")  # none at all
    assert rules_broken(template, HuaweiCloudSecretKey="")  # half a key pair
    assert rules_broken(template, **{**WITH_SECRET, "HuaweiCloudAccessKey": "AKEXAMPLE"})  # both ways
    assert rules_broken(template, **{**WITH_SECRET, "ParametersSecretsExtensionLayerArn": ""})  # no extension


def test_a_secret_brings_the_extension_layer_and_a_policy_for_that_secret_only(template: Any) -> None:
    names = parameters(template, **WITH_SECRET)
    function = function_properties(template)

    assert evaluate(function["Layers"], template, names) == [LAYER_ARN]
    assert evaluate(function["Layers"], template, parameters(template)) is None
    env = environment(template, **WITH_SECRET)
    settings = load_settings({**env, "AWS_SESSION_TOKEN": "set-by-lambda"})
    assert (settings.credentials, settings.credentials_secret_arn) == (None, SECRET_ARN)
    assert settings.credentials_ttl == 300
    statements = role_policies(template, **WITH_SECRET)["ReadCredentialsSecret"]
    assert statements == [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET_ARN}]
    assert "ReadCredentialsSecret" not in role_policies(template)
    assert "DecryptCredentialsSecret" not in role_policies(template, **WITH_SECRET)


def test_a_customer_key_may_decrypt_only_through_secrets_manager(template: Any) -> None:
    [statement] = role_policies(template, **WITH_SECRET, CredentialsSecretKmsKeyArn=KEY_ARN)["DecryptCredentialsSecret"]

    assert (statement["Action"], statement["Resource"]) == ("kms:Decrypt", KEY_ARN)
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}


def test_no_policy_statement_grants_a_wildcard(template: Any) -> None:
    for statements in role_policies(template, **WITH_SECRET, CredentialsSecretKmsKeyArn=KEY_ARN).values():
        for statement in statements:
            assert "*" not in json.dumps(statement["Resource"])
            assert "*" not in json.dumps(statement["Action"])


def test_the_endpoint_must_be_under_the_allowed_domains(template: Any) -> None:
    foreign = environment(template, SdrsEndpoint="https://sdrs.example.com")
    with pytest.raises(ConfigurationError, match="SDRS_ALLOWED_ENDPOINT_SUFFIXES"):
        load_settings(foreign)
    other_cloud = environment(template, SdrsEndpoint="https://sdrs.example.com", AllowedEndpointSuffixes="example.com")
    assert load_settings(other_cloud).endpoint == "https://sdrs.example.com"
