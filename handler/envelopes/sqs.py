"""An SQS event's records, checked before any body is parsed (each body: handler.triggers.parse_sqs_body)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SqsRecord(BaseModel):
    messageId: str = Field(min_length=1)
    body: str
    eventSource: Literal["aws:sqs"]


class SqsEvent(BaseModel):
    Records: list[SqsRecord] = Field(min_length=1, max_length=10_000)
