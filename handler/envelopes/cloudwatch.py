"""CloudWatch alarm actions and EventBridge events (alarm state changes, schedules, custom events)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from handler.triggers import MAX_ALARM_METRICS, AlarmState


class EventBridgeEvent(BaseModel):
    version: str | None = None  # absent from SAM's `generate-event` samples: not needed here
    id: str
    source: str
    account: str
    time: str
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any = None


class AlarmMetric(BaseModel):
    dimensions: dict[str, str] = Field(default_factory=dict)


class AlarmMetricStat(BaseModel):
    metric: AlarmMetric


class AlarmMetricQuery(BaseModel):
    metricStat: AlarmMetricStat | None = None  # None: an expression


class AlarmConfiguration(BaseModel):
    metrics: list[AlarmMetricQuery] = Field(default_factory=list, max_length=MAX_ALARM_METRICS)
    alarmRule: str | None = None  # a composite alarm: a rule over other alarms, no metrics


class AlarmStateValue(BaseModel):
    value: AlarmState


class AlarmData(BaseModel):
    """The alarm in a CloudWatch alarm action's `alarmData`, and an EventBridge alarm event's `detail`."""

    alarmName: str
    state: AlarmStateValue
    configuration: AlarmConfiguration

    def dimension_sets(self) -> tuple[str, list[dict[str, str]]]:
        metrics = [query.metricStat.metric.dimensions for query in self.configuration.metrics if query.metricStat]
        return "configuration.metrics", metrics


class CloudWatchAlarmAction(BaseModel):
    """What a CloudWatch alarm whose action is this function sends it."""

    source: Literal["aws.cloudwatch"]
    alarmArn: str
    accountId: str
    time: str
    region: str
    alarmData: AlarmData
