"""`InvocationResult.to_dict` is written out by hand (it is on every invocation's path):
it must stay what `dataclasses.asdict` gives, less `listed_bytes` and an empty `note`, on
generated results. A field added to a result class and not to its `to_dict` fails here."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from handler.models import ErrorType, GroupError, GroupResult, InvocationError, InvocationResult, Outcome

_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
_JOBS = st.lists(st.dictionaries(st.text(max_size=8), _SCALARS, max_size=4), max_size=3)
_GROUPS = st.builds(
    GroupResult,
    project_id=st.just("0123456789abcdef0123456789abcdef"),
    server_group_id=st.just("decf224d-87fe-403a-8721-037a1a45c287"),
    outcome=st.sampled_from(Outcome),
    failure_jobs=_JOBS,
    status_code=st.none() | st.integers(100, 599),
    request_id=st.none() | st.text(max_size=10),
    attempts=st.integers(0, 5),
    error=st.none() | st.builds(GroupError, st.text(max_size=10), st.text(max_size=10), st.booleans()),
)
_RESULTS = st.builds(
    InvocationResult,
    trigger=st.sampled_from(["direct", "cloudwatch_alarm", "sqs"]),
    dry_run=st.booleans(),
    groups=st.lists(_GROUPS, max_size=3),
    error=st.none() | st.builds(InvocationError, st.sampled_from(ErrorType), st.text(max_size=10), st.booleans()),
    listed_bytes=st.none() | st.integers(0, 10_000),
    note=st.none() | st.text(max_size=10),
)


def as_asdict_gives(result: InvocationResult) -> dict[str, Any]:
    fields = dataclasses.asdict(result)
    del fields["listed_bytes"]
    if fields["note"] is None:
        del fields["note"]
    return {"ok": result.ok, **fields, "summary": result.summary()}


@settings(max_examples=200, derandomize=True, deadline=None)
@given(_RESULTS)
def test_to_dict_is_what_asdict_gives(result: InvocationResult) -> None:
    mine, reference = result.to_dict(), as_asdict_gives(result)
    assert mine == reference
    assert list(mine) == list(reference)  # the keys' order too: it is the JSON's
    assert [list(g) for g in mine["groups"]] == [list(g) for g in reference["groups"]]
    assert json.dumps(mine, default=str) == json.dumps(reference, default=str)


def test_the_dict_is_the_callers_own() -> None:
    """The response size guard rewrites the groups' dicts and lists: the result must not change."""
    job = {"job_id": "j-1"}
    result = InvocationResult("direct", groups=[GroupResult("p", "g", Outcome.DELETED, [job])])
    payload = result.to_dict()
    payload["groups"][0]["failure_jobs"][0]["job_id"] = "changed"
    payload["groups"][0]["failure_jobs"] = []
    assert result.groups[0].failure_jobs == [{"job_id": "j-1"}]
    assert result.to_dict()["groups"][0]["failure_jobs"] == [{"job_id": "j-1"}]
