"""Alarm notifications: the topics the alarms notify are ones CloudWatch can publish to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.defaults import partition_of

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig


def alarm_topics_are_in_the_stack_region(cfg: EnvConfig) -> list[Problem]:
    """Every alarms.topic_arns entry is in the stack's Region and partition: a CloudWatch alarm's actions
    must be in the alarm's own Region (CloudWatch user guide, "Using Amazon CloudWatch alarms"; PutMetricAlarm
    rejects an SNS ARN of another Region)."""
    problems = []
    for index, arn in enumerate(cfg.alarms.topic_arns):
        parts = arn.split(":")
        if len(parts) < 6:  # the model already reported the form
            continue
        partition, region = parts[1], parts[3]
        if region != cfg.region or partition != partition_of(cfg.region):
            problems.append((("alarms", "topic_arns", index),
                             f"'{arn}' is in {region} ({partition}), but the stack's alarms are in {cfg.region}; "
                             f"an alarm can notify only topics of its own Region: use a topic in {cfg.region} "
                             f"(arn:{partition_of(cfg.region)}:sns:{cfg.region}:...) or let the stack create one "
                             f"(create_topic: true)"))
    return problems
