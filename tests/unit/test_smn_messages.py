"""The `message` of an SMN delivery (HTTP(S) subscription or FunctionGraph trigger) → a cleanup request.

Cloud Eye alarm messages come from tests/data/huawei-events/ (sources in the README there); only the
payload is replaced: namespace, dimension (or DimensionName + ResourceId) and alarm state. A message
that names no protection group is ignored with a reason, never acted on; hostile ids are refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handler.models import CleanupRequest, GroupTarget, Retry
from handler.triggers import Defaults, InvalidEvent, NeedsConfiguration, ParsedEvent, parse_smn_message

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "huawei-events"
PROJECT = "0123456789abcdef0123456789abcdef"
OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
G = "decf224d-87fe-403a-8721-037a1a45c287"
H = "11111111-2222-4333-8444-555555555555"
TRAVERSAL = "../../failure-jobs/batch"
DEFAULTS = Defaults(project_id=PROJECT, scheduled_server_group_ids=())


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def legacy(status: str = "alarm", namespace: str = "CUSTOM.SDRS", dimension: str = f"server_group_id:{G}") -> str:
    message = fixture("cloud-eye-legacy-alarm-agt-ecs.json")
    message.update(alarm_status=status, namespace=namespace, dimension=dimension)
    return json.dumps(message, ensure_ascii=False)


def v1(
    is_alarm: Any = True, namespace: str = "CUSTOM.SDRS", dimension: str = "server_group_id", resource: Any = G
) -> str:
    message = fixture("composed-cloud-eye-v1-alarm.json")
    message["data"].update(IsAlarm=is_alarm, Namespace=namespace, DimensionName=dimension, ResourceId=resource)
    return json.dumps(message, ensure_ascii=False)


def acts_on(parsed: ParsedEvent, *targets: GroupTarget) -> None:
    assert parsed.ignored is None
    assert parsed.request == CleanupRequest(tuple(targets))
    assert parsed.retry is Retry.EVENT


def ignored(parsed: ParsedEvent, *words: str) -> None:
    assert parsed.request == CleanupRequest()
    assert not parsed.request.has_work
    assert parsed.retry is Retry.EVENT
    assert parsed.ignored
    for word in words:
        assert word in parsed.ignored


# --- the fixtures are what the README says ---------------------------------------------------------


def test_the_copied_legacy_sample_is_about_an_ecs_and_is_ignored_as_it_is() -> None:
    raw = (FIXTURES / "cloud-eye-legacy-alarm-agt-ecs.json").read_text()
    assert json.loads(raw)["namespace"] == "AGT.ECS"
    ignored(parse_smn_message(raw, DEFAULTS), "AGT.ECS", "not an SDRS protection group")


def test_the_composed_v1_sample_with_localised_values_is_ignored_as_it_is() -> None:
    raw = (FIXTURES / "composed-cloud-eye-v1-alarm.json").read_text()
    ignored(parse_smn_message(raw, DEFAULTS), "not an SDRS protection group")


# --- direct requests ------------------------------------------------------------------------------


def test_direct_request() -> None:
    parsed = parse_smn_message(json.dumps({"server_group_ids": [G, H, G]}), DEFAULTS)
    acts_on(parsed, GroupTarget(PROJECT, G), GroupTarget(PROJECT, H))
    assert parsed.trigger == "smn"


def test_direct_request_keeps_its_options_and_the_trigger_name() -> None:
    message = json.dumps({"server_group_id": G, "project_id": OTHER_PROJECT, "dry_run": True})
    parsed = parse_smn_message(message, DEFAULTS, trigger="functiongraph_smn")
    assert parsed.request == CleanupRequest((GroupTarget(OTHER_PROJECT, G),), dry_run=True)
    assert parsed.trigger == "functiongraph_smn"


@pytest.mark.parametrize(
    "message",
    [
        {"server_group_id": TRAVERSAL},
        {"server_group_ids": [G, TRAVERSAL]},
        {"server_group_id": G, "project_id": "../x"},
        {"server_group_id": G.upper()},
        {"server_group_id": G, "surprise": 1},
    ],
)
def test_a_direct_request_that_does_not_validate_is_refused(message: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_smn_message(json.dumps(message), DEFAULTS)
    assert caught.value.trigger == "smn"


def test_a_direct_request_without_a_project_needs_configuration() -> None:
    with pytest.raises(NeedsConfiguration):
        parse_smn_message(json.dumps({"server_group_id": G}), Defaults(None, ()))


# --- legacy Cloud Eye template --------------------------------------------------------------------


@pytest.mark.parametrize("namespace", ["CUSTOM.SDRS", "SYS.SDRS"])
def test_legacy_alarm_in_alarm_state_cleans_its_group(namespace: str) -> None:
    acts_on(parse_smn_message(legacy(namespace=namespace), DEFAULTS), GroupTarget(PROJECT, G))


def test_legacy_alarm_carries_its_alarm_id() -> None:
    assert parse_smn_message(legacy(), DEFAULTS).correlation_id == "al1234567890"


def test_legacy_alarm_with_several_dimensions_uses_the_project_dimension() -> None:
    parsed = parse_smn_message(legacy(dimension=f"project_id:{OTHER_PROJECT},server_group_id:{G}"), DEFAULTS)
    acts_on(parsed, GroupTarget(OTHER_PROJECT, G))


@pytest.mark.parametrize("status", ["ok", "insufficient_data", "ALARM", ""])
def test_legacy_alarm_not_in_alarm_state_is_a_no_op(status: str) -> None:
    parsed = parse_smn_message(legacy(status=status), DEFAULTS)
    ignored(parsed, "nothing to do")
    if status == "ok":
        assert parsed.ignored == "recovery (alarm_status 'ok'): nothing to do"


def test_legacy_recovery_does_not_validate_ids() -> None:
    ignored(parse_smn_message(legacy(status="ok", dimension=f"server_group_id:{TRAVERSAL}"), DEFAULTS), "recovery")


@pytest.mark.parametrize("namespace", ["AGT.ECS", "SYS.ECS", "SDRS", "CUSTOM.SDRS2", "custom.sdrs", "SYS.SDRS "])
def test_legacy_alarm_about_another_namespace_with_a_uuid_is_ignored(namespace: str) -> None:
    ignored(parse_smn_message(legacy(namespace=namespace), DEFAULTS), "not an SDRS protection group")


@pytest.mark.parametrize("dimension", [f"instance_id:{G}", G, "", f"server_group_ids:{G}", f"Server_Group_Id:{G}"])
def test_legacy_sdrs_alarm_without_the_group_dimension_is_ignored(dimension: str) -> None:
    ignored(parse_smn_message(legacy(dimension=dimension), DEFAULTS), "names no protection group")


@pytest.mark.parametrize(
    "dimension",
    [
        f"server_group_id:{TRAVERSAL}",
        f"server_group_id:{G}/../x",
        f"server_group_id:{G}:extra",
        f"server_group_id: {G}",
        f"server_group_id:{G},project_id:../../x",
        f"server_group_id:{G},server_group_id:{H}",
        ",".join([f"server_group_id:{G}"] + [f"d{i}:v" for i in range(4)]),
    ],
)
def test_legacy_hostile_dimension_is_refused(dimension: str) -> None:
    with pytest.raises(InvalidEvent):
        parse_smn_message(legacy(dimension=dimension), DEFAULTS)


def test_legacy_message_of_another_type_is_ignored() -> None:
    message = json.loads(legacy())
    message["message_type"] = "event"
    ignored(parse_smn_message(json.dumps(message), DEFAULTS), "not an alarm")


# --- v1 Cloud Eye template ------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", ["CUSTOM.SDRS", "SYS.SDRS"])
def test_v1_alarm_true_cleans_its_group(namespace: str) -> None:
    parsed = parse_smn_message(v1(namespace=namespace), DEFAULTS)
    acts_on(parsed, GroupTarget(PROJECT, G))
    assert parsed.correlation_id == "ah1640704721540example"


@pytest.mark.parametrize("is_alarm", [False, "true", 1, None])
def test_v1_alarm_not_true_is_a_no_op(is_alarm: Any) -> None:
    parsed = parse_smn_message(v1(is_alarm=is_alarm), DEFAULTS)
    ignored(parsed, "nothing to do")
    if is_alarm is False:
        assert parsed.ignored == "recovery (IsAlarm false): nothing to do"


@pytest.mark.parametrize("namespace", ["SYS.ECS", "AGT.ECS", "弹性云服务器", "SDRS"])
def test_v1_alarm_about_another_namespace_with_a_uuid_is_ignored(namespace: str) -> None:
    ignored(parse_smn_message(v1(namespace=namespace), DEFAULTS), "not an SDRS protection group")


@pytest.mark.parametrize("dimension", ["instance_id", "云服务器", "server_group_id,project_id"])
def test_v1_sdrs_alarm_with_another_dimension_is_ignored(dimension: str) -> None:
    ignored(parse_smn_message(v1(dimension=dimension), DEFAULTS), "names no protection group")


@pytest.mark.parametrize("resource", [TRAVERSAL, f"{G}\n", G.upper(), 42, None])
def test_v1_hostile_resource_id_is_refused(resource: Any) -> None:
    with pytest.raises(InvalidEvent):
        parse_smn_message(v1(resource=resource), DEFAULTS)


def test_an_alarm_without_a_project_needs_configuration() -> None:
    with pytest.raises(NeedsConfiguration):
        parse_smn_message(v1(), Defaults(None, ()))


# --- text that names no group ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "hello", "server_group_id:" + G, "{", "[" * 100_000, "null", "42", f'["{G}"]'])
def test_text_that_is_not_a_json_object_is_ignored(text: str) -> None:
    ignored(parse_smn_message(text, DEFAULTS), "nothing to do")


def test_non_json_reason() -> None:
    assert parse_smn_message("hello", DEFAULTS).ignored == "the message is not JSON: nothing to do"


def test_a_message_larger_than_accepted_is_refused() -> None:
    with pytest.raises(InvalidEvent):
        parse_smn_message(json.dumps({"server_group_id": G, "pad": "x" * 300_000}), DEFAULTS)


# --- a message nested in a message is never unwrapped ---------------------------------------------


@pytest.mark.parametrize(
    "outer",
    [
        lambda inner: {"type": "Notification", "topic_urn": "urn:smn:x:y:z", "message": inner},
        lambda inner: {"message": inner},
        lambda inner: {"Message": inner},
        lambda inner: {"message": json.loads(inner)},
    ],
)
@pytest.mark.parametrize("inner", [legacy(), v1(), json.dumps({"server_group_id": G})])
def test_a_message_nested_in_a_message_is_not_acted_on(outer: Any, inner: str) -> None:
    ignored(parse_smn_message(json.dumps(outer(inner)), DEFAULTS), "another message")


def test_a_message_string_holding_a_json_string_is_not_unwrapped() -> None:
    ignored(parse_smn_message(json.dumps(legacy()), DEFAULTS), "not an object")
