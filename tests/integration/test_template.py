"""template.yaml against the handler: what the deployed function is given, the handler accepts.

The few intrinsic functions the schedule's input and the environment use (Ref, Fn::Split,
Fn::Join, Fn::Sub) are evaluated here with sample parameter values, as CloudFormation would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str  # type: ignore[import-untyped]

from handler.settings import load_settings
from handler.triggers import Defaults, parse_event

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER_INPUT = json.loads((ROOT / "events" / "scheduler-input.json").read_text())
PARAMETERS = {
    "SdrsRegion": "cn-north-4",
    "SdrsEndpoint": "",
    "ProjectId": SCHEDULER_INPUT["project_id"],
    "ServerGroupIds": ",".join(SCHEDULER_INPUT["server_group_ids"]),
    "DryRun": "false",
    "HuaweiCloudAccessKey": "AKEXAMPLE",
    "HuaweiCloudSecretKey": "sk-example",
    "LogLevel": "INFO",
}


def evaluate(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        (function, argument), *_ = node.items()
        if function == "Ref":
            return names[argument]
        if function == "Fn::Split":
            separator, text = argument
            return evaluate(text, names).split(separator)
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(evaluate(items, names))
        if function == "Fn::Sub":
            text, variables = argument
            scope = {**names, **{key: evaluate(value, names) for key, value in variables.items()}}
            return re.sub(r"\$\{([^}]+)\}", lambda match: scope[match[1]], text)
    if isinstance(node, dict):
        return {key: evaluate(value, names) for key, value in node.items()}
    if isinstance(node, list):
        return [evaluate(item, names) for item in node]
    return node


@pytest.fixture(scope="module")
def template() -> Any:
    decoded, problems = decode_str((ROOT / "template.yaml").read_text())
    assert not problems
    return decoded


def test_the_schedule_input_is_a_direct_request_that_raises_on_transient_failure(template: Any) -> None:
    schedule = template["Resources"]["SdrsCleanupFunction"]["Properties"]["Events"]["Schedule"]
    assert schedule["Type"] == "ScheduleV2"

    scheduler_input = json.loads(evaluate(schedule["Properties"]["Input"], PARAMETERS))

    assert scheduler_input == SCHEDULER_INPUT
    parsed = parse_event(scheduler_input, Defaults(None, ()))
    assert parsed.raise_on_transient_failure is True
    assert [t.server_group_id for t in parsed.request.targets] == SCHEDULER_INPUT["server_group_ids"]


def test_the_function_environment_loads_into_settings(template: Any) -> None:
    function = template["Resources"]["SdrsCleanupFunction"]["Properties"]
    globals_ = template["Globals"]["Function"]
    env = evaluate({**globals_["Environment"]["Variables"], **function["Environment"]["Variables"]}, PARAMETERS)

    settings = load_settings(env)

    assert settings.endpoint == "https://sdrs.cn-north-4.myhuaweicloud.com"
    assert settings.default_project_id == PARAMETERS["ProjectId"]
    assert settings.default_server_group_ids == tuple(SCHEDULER_INPUT["server_group_ids"])
    assert settings.force_dry_run is False
    assert settings.credentials is not None
    assert function["Handler"] == "handler.app.lambda_handler"
    assert (globals_["Runtime"], globals_["Architectures"]) == ("python3.13", ["arm64"])
