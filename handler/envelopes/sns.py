"""SNS records and the CloudWatch alarm message an SNS topic carries (also in an SQS body)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from handler.triggers import MAX_ALARM_METRICS, MAX_EVENT_BYTES, AlarmState


class SnsNotification(BaseModel):
    MessageId: str
    TopicArn: str
    Message: str = Field(max_length=MAX_EVENT_BYTES)
    Subject: str | None = None
    Type: str | None = None


class SnsRecord(BaseModel):
    EventSource: Literal["aws:sns"]
    EventVersion: str
    EventSubscriptionArn: str
    Sns: SnsNotification


class SnsEvent(BaseModel):
    Records: list[SnsRecord] = Field(min_length=1, max_length=10)


class AlarmDimension(BaseModel):
    name: str
    value: str


class SnsAlarmMetric(BaseModel):
    Dimensions: list[AlarmDimension] = Field(default_factory=list)


class SnsAlarmMetricStat(BaseModel):
    Metric: SnsAlarmMetric


class SnsAlarmMetricQuery(BaseModel):
    """One of `Trigger.Metrics` (multi-metric and metric-math alarms): a metric, or an expression."""

    MetricStat: SnsAlarmMetricStat | None = None


class AlarmTrigger(BaseModel):
    Dimensions: list[AlarmDimension] = Field(default_factory=list)
    Metrics: list[SnsAlarmMetricQuery] = Field(default_factory=list, max_length=MAX_ALARM_METRICS)


class AlarmStateChange(BaseModel):
    """The alarm message CloudWatch publishes to SNS."""

    AlarmName: str
    NewStateValue: AlarmState
    Trigger: AlarmTrigger = Field(default_factory=AlarmTrigger)

    def dimension_sets(self) -> tuple[str, list[dict[str, str]]]:
        if not self.Trigger.Metrics:
            return "Trigger.Dimensions", [{d.name: d.value for d in self.Trigger.Dimensions}]
        sets = [{d.name: d.value for d in self.Trigger.Dimensions}] if self.Trigger.Dimensions else []
        for query in self.Trigger.Metrics:
            if query.MetricStat is not None:
                sets.append({d.name: d.value for d in query.MetricStat.Metric.Dimensions})
        return "Trigger.Metrics", sets
