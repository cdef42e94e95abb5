"""Huawei Cloud FunctionGraph's trigger events, as its documentation shows them ("Supported Event
Sources": the TIMER and SMN example events). Fields the platform may add are ignored; the ones
used are checked."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from handler.triggers import MAX_EVENT_BYTES

MAX_SMN_TRIGGER_RECORDS = 10


class FunctionGraphTimer(BaseModel):
    model_config = ConfigDict(frozen=True)

    trigger_type: Literal["TIMER"]
    trigger_name: str | None = Field(default=None, strict=True, max_length=256)
    time: str | None = Field(default=None, strict=True, max_length=64)
    user_event: str = Field(default="", strict=True, max_length=MAX_EVENT_BYTES)


class SmnTriggerMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic_urn: str = Field(strict=True, max_length=512)
    message: str = Field(strict=True, max_length=MAX_EVENT_BYTES)
    message_id: str | None = Field(default=None, strict=True, max_length=128)
    type: str | None = Field(default=None, strict=True, max_length=64)


class SmnTriggerRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_source: Literal["smn"]
    smn: SmnTriggerMessage


class SmnTriggerEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    record: list[SmnTriggerRecord] = Field(min_length=1, max_length=MAX_SMN_TRIGGER_RECORDS)
