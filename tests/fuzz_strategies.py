"""Hypothesis strategies for fuzzing the function's edge (tests/unit/test_fuzz_edge.py).

- `json_values`, `event_like_objects`: arbitrary JSON, and JSON objects built from the keys
  the triggers use with arbitrary values, as events.
- `trigger_events(trigger)`: a structurally valid event of one trigger shape, then mutated
  (ids replaced by hostile strings, fields dropped, wrong types, extra fields, huge lists,
  envelopes broken, messages that are not JSON, ...). A mutated event may still be valid.
- `environments(trigger)`: the function's configuration around it (credentials, region,
  default project, dry run, paging, attempts, concurrency, brake, scheduled groups).
- `api_plans(hostility)`: how the fake SDRS API answers (`FuzzApi`): a sane paging server,
  with a given share of hostile answers (arbitrary JSON, wrong types, counts that do not
  add up, ids that are not UUIDs, error bodies of every shape, transport errors, bodies
  that do not match their Content-Encoding, deeply nested JSON, hostile Retry-After).

Nothing here knows the handler's code: what the function may do is decided from the
event and the answers served (`Mentioned`, `FuzzApi.exchanges`).
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import strategies as st

from tests.conftest import SDRS_ENV, ManualClock
from tests.event_model import alarm_message, eventbridge_event, scheduled_event, sns_event, sqs_event
from tests.fake_sdrs import (
    ACCESS_KEY,
    GROUP_CLEAN,
    GROUP_WITH_FAILURES,
    OTHER_PROJECT_ID,
    PROJECT_ID,
    SECRET_KEY,
    SWEEP_PROJECT_ID,
    make_failure_jobs,
    server_group_item,
)


def rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True once in `one_in` draws; False in the simplest example (what hypothesis starts
    from and shrinks towards), so that the simplest example is the common case."""
    return draw(st.integers(1, one_in)) == one_in


# --- identifiers --------------------------------------------------------------------------

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PROJECT_RE = re.compile(r"[0-9a-f]{32}")

G = GROUP_WITH_FAILURES
GROUPS = (
    G,
    GROUP_CLEAN,
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "9b2c4d6e-8f10-4a3b-b5c7-d9e1f3a5b7c9",
    "3e5f7a9b-1c2d-4e6f-8a0b-2c4d6e8f0a1b",
)
PROJECTS = (PROJECT_ID, OTHER_PROJECT_ID, SWEEP_PROJECT_ID)
P = PROJECT_ID

# A JSON text nested deeper than the json module can decode (RecursionError, not ValueError).
DEEP_NESTING = 20_000
DEEP_ARRAY = "[" * DEEP_NESTING + "]" * DEEP_NESTING
DEEP_OBJECT = '{"a":' * DEEP_NESTING + "1" + "}" * DEEP_NESTING
DEEP_OPEN = "[" * DEEP_NESTING  # unterminated too


def _lookalikes(text: str) -> list[str]:
    """The id with characters a human (or a careless regex) reads as the same."""
    return [
        text.replace("-", "\u2010"),  # hyphen
        text.replace("-", "\u2212"),  # minus sign
        text.replace("a", "\u0430"),  # Cyrillic a
        text.replace("e", "\u0435"),  # Cyrillic e
        text.replace("0", "\uff10"),  # fullwidth digit zero
        text.replace("d", "\u0501"),  # Cyrillic komi de
        text[:8] + "\u200b" + text[8:],  # zero-width space
        text[:4] + "\u0301" + text[4:],  # combining accent
        "\u202e" + text,  # right-to-left override
        "\ufeff" + text,  # byte order mark
        "\u0660" + text[1:],  # Arabic-Indic digit zero
    ]


HOSTILE_ID_TEXTS = [
    "",
    " ",
    "..",
    "../x",
    "../../v1",
    f"../{G}",
    f"{G}/../..",
    f"{G}/..",
    f"{G}/failure-jobs",
    f"/{G}",
    f"{G}/",
    "%2F",
    f"{G}%2F..",
    f"%2e%2e%2f{G}",
    f"{G}%00",
    f"{G}?server_group_id={GROUP_CLEAN}",
    f"{G}#fragment",
    f"{G};rm -rf",
    f"{G}&limit=1",
    f"{G}\x00",
    "\x00",
    f"\x00{G}",
    G.upper(),
    G[:8].upper() + G[8:],
    f" {G}",
    f"{G} ",
    f"{G}\n",
    f"\t{G}",
    f"{G}\r\n",
    "{" + G + "}",
    f"urn:uuid:{G}",
    G.replace("-", ""),
    G + "0",
    G[:-1],
    G.replace("-", "_"),
    G * 2,
    G * 3000,  # ~108 KB
    "a" * 300_000,  # over the 256 KiB event limit on its own
    json.dumps(G),
    json.dumps({"server_group_id": G}),
    json.dumps([G]),
    DEEP_ARRAY,
    "null",
    "true",
    "1e999",
    *_lookalikes(G),
]
HOSTILE_PROJECT_TEXTS = [
    "",
    P.upper(),
    P[:31],
    P + "0",
    f"{P}/..",
    f"../{P}",
    f"{P}/task-center",
    f"{P}%2F..",
    f"{P}?x=1",
    f"{P}#x",
    f"{P}\x00",
    f" {P}",
    f"{P}\n",
    P * 1000,
    G,  # a group id where a project id belongs
    *_lookalikes(P),
]

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=25,
)


def _deep(depth: int, container: str) -> Any:
    value: Any = [] if container == "list" else {}
    for _ in range(depth):
        value = [value] if container == "list" else {"a": value}
    return value


# Python values nested deeper than any JSON text Lambda could decode (only `run` gets them).
DEEP_LIST, DEEP_DICT = _deep(DEEP_NESTING, "list"), _deep(DEEP_NESTING, "dict")
deep_values = st.sampled_from(
    [
        DEEP_LIST,
        DEEP_DICT,
        {"server_group_id": DEEP_LIST},
        {"server_group_id": G, "extra": DEEP_DICT},
        {"detail-type": "x", "source": "y", "detail": DEEP_DICT},
        {"Records": [DEEP_DICT]},
        {"Records": DEEP_LIST},
    ]
)
hostile_id_texts = st.sampled_from(HOSTILE_ID_TEXTS) | st.uuids().map(lambda u: str(u).upper())
hostile_project_texts = st.sampled_from(HOSTILE_PROJECT_TEXTS) | st.uuids().map(lambda u: u.hex.upper())
hostile_values = st.one_of(
    hostile_id_texts,
    hostile_project_texts,
    st.sampled_from([None, True, False, 0, 1, -1, 1.5, 2**64, float("nan"), [], {}, "false", "true", "0", "1"]),
    st.integers(),
    st.text(max_size=50),
    st.lists(st.sampled_from(GROUPS), max_size=3),
    st.fixed_dictionaries({"server_group_id": st.sampled_from(GROUPS)}),
    json_values,
)
valid_group_ids = st.sampled_from(GROUPS) | st.uuids().map(str)
group_ids = st.one_of(valid_group_ids, valid_group_ids, valid_group_ids, hostile_id_texts)

# --- mutations ----------------------------------------------------------------------------

DIRECT_KEYS = (
    "server_group_id",
    "server_group_ids",
    "all_server_groups",
    "project_id",
    "dry_run",
    "max_failed_tasks",
    "raise_on_transient_failure",
)
EXTRA_KEYS = (
    *DIRECT_KEYS,
    "force",
    "ServerGroupId",
    "serverGroupId",
    "server_group",
    "detail",
    "Records",
    "__proto__",
    "",
)


def _paths(value: Any, prefix: tuple[Any, ...] = (), depth: int = 0) -> list[tuple[Any, ...]]:
    """Every place inside a JSON value (dict keys and list indexes), outermost first."""
    found = [prefix]
    if depth > 6:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value[:20]):
            found += _paths(item, (*prefix, index), depth + 1)
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _set(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    parent = _get(root, path[:-1])
    parent[path[-1]] = new
    return root


def _drop(root: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return root
    parent = _get(root, path[:-1])
    del parent[path[-1]]
    return root


def _wrong_type(draw: st.DrawFn, value: Any) -> Any:
    if isinstance(value, bool):
        return draw(st.sampled_from(["false", "true", "False", 0, 1, None, [value], "yes"]))
    if isinstance(value, int):
        return draw(st.sampled_from([str(value), float(value), True, -1, 10**12, None, [value]]))
    if isinstance(value, str):
        return draw(st.sampled_from([[value], {"id": value}, 0, None, True, value.encode().hex(), json.dumps(value)]))
    if isinstance(value, list):
        return draw(st.sampled_from([",".join(map(str, value)), {"0": value[0]} if value else {}, None, [], ""]))
    if isinstance(value, dict):
        return draw(st.sampled_from([json.dumps(value), [value], list(value), None, ""]))
    return draw(hostile_values)


@st.composite
def mutated(draw: st.DrawFn, value: Any, max_mutations: int = 3) -> Any:
    """`value` (a JSON structure) with 0..max_mutations hostile changes."""
    value = json.loads(json.dumps(value))  # a private copy
    for _ in range(draw(st.integers(0, max_mutations))):
        paths = _paths(value)
        if len(paths) > 1 and not rarely(draw, 10):
            paths = paths[1:]  # the event as a whole only now and then
        path = draw(st.sampled_from(paths))
        target = _get(value, path)
        op = draw(
            st.sampled_from(["hostile", "hostile", "drop", "extra", "wrong_type", "wrap", "huge_list", "duplicate"])
        )
        if op == "hostile":
            value = _set(value, path, draw(hostile_values))
        elif op == "drop" and path:
            value = _drop(value, path)
        elif op == "extra" and isinstance(target, dict):
            target[draw(st.sampled_from(EXTRA_KEYS) | st.text(max_size=10))] = draw(hostile_values)
        elif op == "wrong_type":
            value = _set(value, path, _wrong_type(draw, target))
        elif op == "wrap":
            value = _set(value, path, draw(st.sampled_from([[target], {"value": target}, json.dumps(target)])))
        elif op == "huge_list":
            size = draw(st.sampled_from([100, 101, 1000, 20_000]))
            item = draw(st.sampled_from([G, "../x", 0]))
            many = [item] * size if draw(st.booleans()) else [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(size)]
            value = _set(value, path, many)
        elif op == "duplicate" and isinstance(target, list) and target:
            target.extend(target)
    return value


# --- structurally valid events, per trigger -----------------------------------------------

TRIGGERS = (
    "direct_single",
    "direct_list",
    "direct_sweep",
    "scheduler_input",
    "eventbridge_custom",
    "eventbridge_scheduled",
    "sns_alarm",
    "sns_message",
    "sqs_batch",
)


@st.composite
def direct_requests(draw: st.DrawFn, how: str | None = None, scheduler: bool = False) -> dict[str, Any]:
    how = how or draw(st.sampled_from(["single", "list", "sweep"]))
    request: dict[str, Any]
    if how == "single":
        request = {"server_group_id": draw(valid_group_ids)}
    elif how == "list":
        request = {"server_group_ids": draw(st.lists(valid_group_ids, min_size=1, max_size=5))}
    else:
        request = {"all_server_groups": True}
    if draw(st.booleans()):
        request["project_id"] = draw(st.sampled_from(PROJECTS))
    if draw(st.booleans()):
        request["dry_run"] = draw(st.booleans())
    if rarely(draw, 4):
        request["max_failed_tasks"] = draw(st.integers(0, 50))
    if scheduler:
        request["raise_on_transient_failure"] = True
    elif rarely(draw, 4):
        request["raise_on_transient_failure"] = draw(st.booleans())
    return request


def _encode_message(draw: st.DrawFn, message: Any) -> Any:
    """A JSON message as a string (as SNS, SQS and EventBridge strings carry it), sometimes broken."""
    if not rarely(draw, 4):
        return json.dumps(message)
    return draw(
        st.one_of(
            st.sampled_from(["", "{", "not json", "null", "[]", '"{}"', DEEP_ARRAY, DEEP_OBJECT, DEEP_OPEN]),
            st.just(json.dumps(json.dumps(message))),  # encoded twice
            st.just(json.dumps(message)[: max(1, len(json.dumps(message)) // 2)]),  # cut short
            st.just(message),  # not a string at all
            json_values,
        )
    )


@st.composite
def alarm_messages(draw: st.DrawFn, valid: bool = False) -> dict[str, Any]:
    """A CloudWatch alarm state change; `valid`: one SNS accepts (ALARM, OK, INSUFFICIENT_DATA)."""
    dimensions: dict[str, Any] = {}
    if valid or not rarely(draw, 10):
        dimensions["ServerGroupId"] = draw(valid_group_ids if valid else group_ids)
    if draw(st.booleans()):
        hostile = not valid and rarely(draw, 3)
        dimensions["ProjectId"] = draw(hostile_project_texts if hostile else st.sampled_from(PROJECTS))
    if rarely(draw, 4):
        dimensions[draw(st.sampled_from(["InstanceId", "serverGroupId", "ServerGroupID"]))] = draw(group_ids)
    states = ["ALARM", "ALARM", "ALARM", "OK", "INSUFFICIENT_DATA"] + ([] if valid else ["alarm", "Alarm"])
    message = alarm_message(draw(st.sampled_from(states)), dimensions)
    if not valid and rarely(draw, 5):  # the same dimension twice: which one wins?
        message["Trigger"]["Dimensions"].append({"name": "ServerGroupId", "value": draw(group_ids)})
    return message


@st.composite
def trigger_events(draw: st.DrawFn, trigger: str) -> Any:
    """One event of `trigger`'s shape, mutated inside (the request) and outside (the envelope)."""
    inner_mutations = draw(st.sampled_from([0, 0, 1, 2, 3]))
    outer_mutations = draw(st.sampled_from([0, 0, 0, 1, 2]))
    if trigger.startswith("direct_"):
        request = draw(direct_requests(trigger.removeprefix("direct_")))
        return draw(mutated(request, inner_mutations + outer_mutations))
    if trigger == "scheduler_input":
        return draw(mutated(draw(direct_requests(scheduler=True)), inner_mutations))
    if trigger == "eventbridge_custom":
        detail: Any = draw(mutated(draw(direct_requests()), inner_mutations))
        if rarely(draw, 4):
            detail = _encode_message(draw, detail)
        event = eventbridge_event(detail)
        return draw(mutated(event, outer_mutations))
    if trigger == "eventbridge_scheduled":
        detail = draw(
            st.sampled_from([{}, None, "{}", "", "null", {"server_group_id": G}, "[]", DEEP_ARRAY, DEEP_OPEN, []])
        )
        event = scheduled_event()
        event["detail"] = detail
        if draw(st.booleans()):
            event["detail-type"] = draw(st.sampled_from(["Scheduled Event", "scheduled event", "Scheduled Event "]))
        return draw(mutated(event, outer_mutations))
    if trigger in ("sns_alarm", "sns_message"):
        messages = []
        for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
            plain = trigger == "sns_message" or rarely(draw, 5)
            message: Any = draw(direct_requests()) if plain else draw(alarm_messages())
            messages.append(_encode_message(draw, draw(mutated(message, inner_mutations))))
        event = sns_event(*(m if isinstance(m, str) else json.dumps(m) for m in messages))
        for record, message in zip(event["Records"], messages, strict=True):
            record["Sns"]["Message"] = message  # may be no string at all
        return draw(mutated(event, outer_mutations))
    if trigger == "sqs_batch":
        bodies = []
        for _ in range(draw(st.sampled_from([1, 1, 2, 3, 5]))):
            bodies.append(_encode_message(draw, draw(mutated(draw(direct_requests()), inner_mutations))))
        event = sqs_event(*(b if isinstance(b, str) else json.dumps(b) for b in bodies))
        for record, body in zip(event["Records"], bodies, strict=True):
            record["body"] = body
        if rarely(draw, 6) and len(event["Records"]) > 1:  # a duplicate message id
            event["Records"][-1]["messageId"] = event["Records"][0]["messageId"]
        return draw(mutated(event, outer_mutations))
    raise AssertionError(f"unknown trigger {trigger}")


EVENT_KEYS = (
    *DIRECT_KEYS,
    "Records",
    "detail-type",
    "source",
    "detail",
    "version",
    "id",
    "account",
    "time",
    "region",
    "resources",
)
RECORD_KEYS = ("EventSource", "eventSource", "EventVersion", "EventSubscriptionArn", "Sns", "messageId", "body")


@st.composite
def event_like_objects(draw: st.DrawFn) -> dict[str, Any]:
    """JSON objects made of the keys the triggers look at, with arbitrary values."""
    value = json_values | hostile_values
    records = st.lists(
        st.dictionaries(
            st.sampled_from(RECORD_KEYS), value | st.sampled_from(["aws:sns", "aws:sqs", "aws:s3"]), max_size=7
        ),
        max_size=3,
    )
    event = draw(st.dictionaries(st.sampled_from(EVENT_KEYS), value, max_size=6))
    if draw(st.booleans()):
        event["Records"] = draw(records)
    return event


# --- the configuration ----------------------------------------------------------------------


@st.composite
def environments(draw: st.DrawFn, trigger: str = "any") -> dict[str, str]:
    env = dict(SDRS_ENV)
    if rarely(draw, 10):
        choice = draw(st.sampled_from(["drop", "hostile", "other"]))
        if choice == "drop":
            del env["HUAWEICLOUD_SDK_PROJECT_ID"]
        else:
            env["HUAWEICLOUD_SDK_PROJECT_ID"] = P.upper() if choice == "hostile" else SWEEP_PROJECT_ID
    if rarely(draw, 20):
        del env["HUAWEICLOUD_SDK_SK"]  # a configuration error
    endpoints = ["region", "region", "region", "endpoint", "endpoint-slash", "endpoint-443", "endpoint-8443"]
    endpoint = draw(st.sampled_from(endpoints))
    if endpoint != "region":
        suffix = {"endpoint": "", "endpoint-slash": "/", "endpoint-443": ":443", "endpoint-8443": ":8443"}[endpoint]
        env["SDRS_ENDPOINT"] = f"https://sdrs.{SDRS_ENV['SDRS_REGION']}.myhuaweicloud.com{suffix}"
    optional = {
        "SDRS_DRY_RUN": st.sampled_from(["true", "false", "1"]),
        "SDRS_MAX_ATTEMPTS": st.sampled_from(["1", "2", "3"]),
        "SDRS_MAX_CONCURRENCY": st.sampled_from(["1", "2", "16"]),
        "SDRS_PAGE_SIZE": st.sampled_from(["1", "2", "3", "1000"]),
        "SDRS_MAX_FAILED_TASKS": st.sampled_from(["0", "3", "20"]),
        "SDRS_GROUP_START_MARGIN_SECONDS": st.sampled_from(["0", "1", "5"]),
        "SDRS_DEADLINE_MARGIN_SECONDS": st.sampled_from(["0", "2"]),
    }
    for name, values in optional.items():
        if rarely(draw, 3):
            env[name] = draw(values)
    env.setdefault("SDRS_MAX_ATTEMPTS", "2")  # fewer retries: more examples per second
    if trigger in ("eventbridge_scheduled", "any") and not rarely(draw, 4):
        env["SDRS_SERVER_GROUP_IDS"] = draw(
            st.sampled_from(["all", "ALL", " all ", "", " , ", f"{G},{GROUP_CLEAN}", G, f"{G},../x", "all,../x"])
            | st.lists(valid_group_ids, min_size=1, max_size=4).map(",".join)
        )
    return env


def expected_origin(env: dict[str, str]) -> tuple[str, str, int]:
    """(scheme, host, port) every request must go to, read from the configuration."""
    if env.get("SDRS_ENDPOINT"):
        url = httpx.URL(env["SDRS_ENDPOINT"].strip())
        return url.scheme, url.host, url.port or 443
    region = env["SDRS_REGION"].strip()
    return "https", f"sdrs.{region}.myhuaweicloud.com", 443


# --- what an event mentions ------------------------------------------------------------------


@dataclass
class Mentioned:
    """Every protection-group id and project id (valid ones only) anywhere in an event,
    JSON strings inside it decoded, and the keys it uses: a superset of what it asks for."""

    groups: set[str] = field(default_factory=set)
    projects: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    deeply_nested_json: bool = False  # a string in it is JSON too deep for the json module


def mentioned(event: Any) -> Mentioned:
    found = Mentioned()
    stack: list[tuple[Any, int]] = [(event, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if UUID_RE.fullmatch(value):
                found.groups.add(value)
            elif PROJECT_RE.fullmatch(value):
                found.projects.add(value)
            if depth < 6 and value.lstrip()[:1] in ("{", "[", '"'):
                try:
                    stack.append((json.loads(value), depth + 1))
                except RecursionError:
                    found.deeply_nested_json = True
                except ValueError:
                    pass
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    found.keys.add(key)
                stack.append((item, depth))
        elif isinstance(value, list):
            stack.extend((item, depth) for item in value)
    return found


# --- the fake API -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One answer of the fake API: a response, or a transport error."""

    label: str
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str | bytes], ...] = ()
    error: type[httpx.TransportError] | None = None
    request_id: bool = True  # stamp an X-Request-Id (unless `headers` bring their own)

    @property
    def deeply_nested(self) -> bool:
        return self.body.count(b"[") > 5000 or self.body.count(b"{") > 5000

    @property
    def bad_encoding(self) -> bool:
        """A body httpx cannot decode (gzip or deflate named in Content-Encoding, yet the body
        is neither): what any client reading this answer meets."""
        if self.error is not None:
            return False
        try:
            httpx.Response(self.status, headers=list(self.headers), content=self.body)
        except httpx.DecodingError:
            return True
        return False

    def response(self, request: httpx.Request, request_id: str) -> httpx.Response:
        if self.error is not None:
            raise self.error(f"fuzz: {self.label}", request=request)
        headers = list(self.headers)
        if self.request_id and not any(name.lower() == "x-request-id" for name, _ in headers):
            headers.append(("X-Request-Id", request_id))
        return httpx.Response(self.status, content=self.body, headers=headers)


HOSTILE_STATUSES = (100, 200, 201, 202, 204, 206, 299, 301, 302, 304, 400, 401, 403, 404, 405)
HOSTILE_STATUSES += (406, 407, 408, 409, 410, 418, 422, 429, 500, 501, 502, 503, 504, 599)
ERROR_STATUSES = tuple(s for s in HOSTILE_STATUSES if s >= 300)
TRANSPORT_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.LocalProtocolError,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)
RAW_BODIES = (
    b"",
    b"{",
    b"null",
    b"[]",
    b"0",
    b'"text"',
    b"\xff\xfe\x00\x01",
    b"\xef\xbb\xbf" + b'{"count": 0, "failure_jobs": [], "server_groups": []}',
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b'{"count": 1e999, "failure_jobs": [], "server_groups": []}',
    b'{"count": NaN, "failure_jobs": [], "server_groups": []}',
    b'{"count": 0, "failure_jobs": [], "server_groups": [], "count": 2}',
    b'{"count": 1, "failure_jobs": [{"job_id": NaN}], "server_groups": [{"id": Infinity}]}',
    b'{"count": 1, "failure_jobs": [{"job_id": "\\ud800"}], "server_groups": [{"id": "\\ud800"}]}',
    DEEP_ARRAY.encode(),
    DEEP_OBJECT.encode(),
    DEEP_OPEN.encode(),
    ('{"count": 1, "failure_jobs": ' + DEEP_ARRAY + "}").encode(),
    ('{"error": {"code": "SDRS.1", "message": ' + DEEP_ARRAY + "}}").encode(),
)
RETRY_AFTERS = (
    "0",
    "1",
    "-5",
    "3600",
    "1e308",
    "inf",
    "-inf",
    "nan",
    "abc",
    "",
    " ",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 99 Foo 2026 99:99:99 GMT",
    "Wed, 21 Oct 2015 07:28:00 +9999",
    "Sat, 01 Jan 0001 00:00:00 GMT",
    "1" * 400,
)
counts = st.one_of(
    st.integers(-3, 12),
    st.sampled_from([None, True, False, "3", 3.0, -0.0, 1.5, [], {}, ""]),
)
huge_counts = st.sampled_from([2**31, 2**63, 10**30, 10**400])


@st.composite
def listing_items(draw: st.DrawFn, key: str) -> list[Any]:
    if key == "server_groups":
        item = st.one_of(
            valid_group_ids.map(server_group_item),
            st.fixed_dictionaries({"id": hostile_values}),
            st.fixed_dictionaries({"name": st.text(max_size=5)}),
            json_values,
        )
    else:
        item = st.one_of(
            st.builds(lambda n, g: make_failure_jobs(n, g)[-1] if n else {}, st.integers(1, 3), valid_group_ids),
            st.dictionaries(st.text(max_size=8), json_values, max_size=4),
            json_values,
        )
    return draw(st.lists(item, max_size=4))


@st.composite
def hostile_answers(draw: st.DrawFn) -> Answer:
    """One hostile answer to whatever was asked."""
    kind = draw(st.sampled_from(["json", "listing", "listing", "error", "raw", "encoding", "transport", "status"]))
    headers: list[tuple[str, str | bytes]] = []
    if rarely(draw, 4):
        headers.append(("Retry-After", draw(st.sampled_from(RETRY_AFTERS) | st.text("0123456789.-e", max_size=6))))
    if rarely(draw, 6):
        headers.append(
            ("X-Request-Id", draw(st.sampled_from(["", " ", "x" * 5000, "\u00e9t\u00e9".encode("latin-1")])))
        )
    if rarely(draw, 6):
        headers.append(("Content-Type", draw(st.sampled_from(["text/html", "application/json; charset=utf-16"]))))
    stamp = not rarely(draw, 5)
    if kind == "transport":
        return Answer("transport", error=draw(st.sampled_from(TRANSPORT_ERRORS)))
    if kind == "status":
        return Answer("status", draw(st.sampled_from(HOSTILE_STATUSES)), b"", tuple(headers), request_id=stamp)
    if kind == "json":
        status = draw(st.sampled_from((200, 200, *HOSTILE_STATUSES)))
        return Answer("json", status, json.dumps(draw(json_values)).encode(), tuple(headers), request_id=stamp)
    if kind == "listing":
        key = draw(st.sampled_from(["failure_jobs", "server_groups", "failure_jobs ", "items"]))
        items = draw(listing_items(key.strip()))
        count = draw(counts | huge_counts)
        body: dict[str, Any] = {"count": count, key: items}
        if rarely(draw, 4):
            body[draw(st.sampled_from(["failure_jobs", "server_groups", "error"]))] = draw(json_values)
        if rarely(draw, 5):
            del body["count"]
        status = draw(st.sampled_from([200, 200, 200, 201, 299, 206]))
        return Answer("listing", status, json.dumps(body).encode(), tuple(headers), request_id=stamp)
    if kind == "error":
        text = st.one_of(
            st.text(max_size=30),
            st.sampled_from([ACCESS_KEY, SECRET_KEY, f"ak:{ACCESS_KEY},err:ak not exist", "x" * 2000, "expired"]),
            json_values,
        )
        shape = draw(st.sampled_from(["flat", "wrapped", "badrequest", "itemNotFound", "string", "list"]))
        error_body: Any
        if shape == "flat":
            error_body = {"error_code": draw(text), "error_msg": draw(text), "request_id": draw(text)}
        elif shape in ("wrapped", "badrequest", "itemNotFound"):
            key = "error" if shape == "wrapped" else shape
            error_body = {key: {"code": draw(text), "message": draw(text)}}
        elif shape == "string":
            error_body = {"error": draw(text)}
        else:
            error_body = [draw(text)]
        status = draw(st.sampled_from(ERROR_STATUSES))
        return Answer("error", status, json.dumps(error_body).encode(), tuple(headers), request_id=stamp)
    if kind == "encoding":
        headers.append(("Content-Encoding", draw(st.sampled_from(["gzip", "deflate", "br", "zstd", "identity"]))))
        body_bytes = draw(st.sampled_from([b'{"count": 0, "failure_jobs": [], "server_groups": []}', b"x", b"{"]))
        status = draw(st.sampled_from([200, 503, 404]))
        return Answer("encoding", status, body_bytes, tuple(headers), request_id=stamp)
    status = draw(st.sampled_from((200, 200, *HOSTILE_STATUSES)))
    return Answer("raw", status, draw(st.sampled_from(RAW_BODIES)), tuple(headers), request_id=stamp)


@dataclass(frozen=True)
class ApiPlan:
    """How the fake API answers. A sane server pages each group's failed tasks (how many:
    a hash of the group) and the project's protection groups (`listing`); a share
    (`hostile_percent`) of the requests, picked by a hash of the request, gets one of the
    `hostile` answers instead. Answers depend only on the request and on how many times the
    same request came before, so concurrent calls get the same answers in any order."""

    salt: int
    hostile_percent: int
    hostile: tuple[Answer, ...]
    max_jobs: int
    listing: tuple[Any, ...]
    page_cap: int
    delete_statuses: tuple[int, ...]
    latency: float

    def answer(self, request: httpx.Request, repeat: int) -> Answer:
        raw_path = request.url.raw_path.decode("ascii", "replace")
        path = raw_path.split("?", 1)[0]
        key = f"{self.salt}|{request.method}|{raw_path}|{repeat}"
        if self.hostile and _hash(key) % 100 < self.hostile_percent:
            return self.hostile[_hash(key + "|which") % len(self.hostile)]
        params = request.url.params
        try:
            limit, offset = int(params.get("limit", "1000")), int(params.get("offset", "0"))
        except ValueError:
            return Answer("sane", 400, b'{"error": {"code": "SDRS.0001", "message": "bad paging"}}')
        page = slice(offset, offset + max(0, min(limit, self.page_cap)))
        if request.method == "GET" and (m := re.fullmatch(r"/v1/([^/]+)/task-center/failure-jobs", path)):
            group = params.get("server_group_id", "")
            jobs = make_failure_jobs(_hash(f"{self.salt}|{m[1]}|{group}") % (self.max_jobs + 1), group)
            return Answer("sane", 200, json.dumps({"count": len(jobs), "failure_jobs": jobs[page]}).encode())
        if request.method == "GET" and re.fullmatch(r"/v1/([^/]+)/server-groups", path):
            items = list(self.listing)
            return Answer("sane", 200, json.dumps({"count": len(items), "server_groups": items[page]}).encode())
        if request.method == "DELETE" and re.fullmatch(r"/v1/[^/]+/task-center/[^/]+/failure-jobs/batch", path):
            status = self.delete_statuses[_hash(key + "|delete") % len(self.delete_statuses)]
            body = b"" if status == 204 else b'{"error": {"code": "SDRS.1013", "message": "invalid state"}}'
            return Answer("sane", status, body)
        return Answer("sane", 404, b'{"error_code": "APIGW.0101", "error_msg": "The API does not exist"}')


def _hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


@st.composite
def api_plans(draw: st.DrawFn, hostility: str = "some") -> ApiPlan:
    percent = {
        "none": st.just(0),
        "some": st.sampled_from([0, 0, 5, 20, 50]),
        "high": st.sampled_from([30, 60, 90, 100]),
    }[hostility]
    listing = draw(
        st.lists(
            st.one_of(
                valid_group_ids.map(server_group_item),
                valid_group_ids.map(server_group_item),
                hostile_values.map(lambda i: {**server_group_item(G), "id": i}),
                st.just({"name": "no id"}),
            ),
            min_size=0 if rarely(draw, 5) else 1,
            max_size=8,
        )
    )
    return ApiPlan(
        salt=draw(st.integers(0, 2**16)),
        hostile_percent=draw(percent),
        hostile=tuple(draw(st.lists(hostile_answers(), min_size=1, max_size=4))),
        max_jobs=draw(st.sampled_from([3, 7, 1, 0])),
        listing=tuple(listing),
        page_cap=draw(st.sampled_from([1000, 2, 1])),
        delete_statuses=tuple(draw(st.lists(st.sampled_from([204, 204, 204, 200, 404, 409, 503]), min_size=1))),
        latency=draw(st.sampled_from([0.0, 0.0, 0.01, 0.5, 3.0])),
    )


@dataclass
class Exchange:
    request: httpx.Request
    answer: Answer | None = None
    arrived: float = 0.0  # the handler's clock when the request arrived
    answered: float = 0.0  # ... and when it was answered (its latency passed)


class FuzzApi:
    """The respx side effect: records every request (before anything else), moves the
    handler's clock by the plan's latency, and answers from the plan. After `budget`
    requests the clock jumps past any deadline: a server that keeps the function paging
    runs it out of time, as a real slow server would, and the example stays short."""

    def __init__(self, plan: ApiPlan, clock: ManualClock, budget: int = 150) -> None:
        self.plan, self.clock, self.budget = plan, clock, budget
        self.exchanges: list[Exchange] = []
        self.budget_exhausted = False
        self._repeats: Counter[tuple[str, bytes]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            exchange = Exchange(request, arrived=self.clock())
            self.exchanges.append(exchange)
            key = (request.method, request.url.raw_path)
            repeat = self._repeats[key]
            self._repeats[key] += 1
            self.clock.advance(self.plan.latency)
            if len(self.exchanges) >= self.budget and not self.budget_exhausted:
                self.budget_exhausted = True
                self.clock.advance(1e9)
            exchange.answered = self.clock()
        exchange.answer = answer = self.plan.answer(request, repeat)
        return answer.response(request, f"fuzz-{len(self.exchanges)}")

    @property
    def triggered(self) -> set[str]:
        """Which known-bug triggers the served answers contained."""
        found = set()
        for exchange in self.exchanges:
            if exchange.answer is not None and exchange.answer.deeply_nested:
                found.add("deep_response")
            if exchange.answer is not None and exchange.answer.bad_encoding:
                found.add("bad_content_encoding")
        return found


def sleep_on(clock: ManualClock) -> Callable[[float], None]:
    """The client's back-off sleep: moves the handler's clock instead of sleeping."""

    def sleep(seconds: float) -> None:
        assert seconds >= 0, seconds
        clock.advance(seconds)

    return sleep
