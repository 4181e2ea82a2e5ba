"""Alarm notifications: the topics the alarms notify are ones CloudWatch can publish to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.rules.common import arn_outside_the_region

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig


def alarm_topics_are_in_the_stack_region(cfg: EnvConfig) -> list[Problem]:
    """Every SNS topic an alarm notifies (alarms.topic_arns, services.*.failure_alarm.alarm_actions) is in the
    stack's Region and partition: a CloudWatch alarm's actions must be in the alarm's own Region (CloudWatch user
    guide, "Using Amazon CloudWatch alarms"; PutMetricAlarm rejects an SNS ARN of another Region)."""
    fix = "or let the stack create one (create_topic: true)"
    problems = []
    for index, arn in enumerate(cfg.alarms.topic_arns):
        problems += arn_outside_the_region(cfg.region, ("alarms", "topic_arns", index), arn,
                                           "the stack's alarms are", "an alarm can notify only topics of its own "
                                           f"Region: use a topic in {cfg.region}", fix)
    for name, svc in cfg.services.items():
        for index, arn in enumerate(svc.failure_alarm.alarm_actions if svc.failure_alarm else []):
            problems += arn_outside_the_region(cfg.region, ("services", name, "failure_alarm", "alarm_actions", index),
                                               arn, "the stack's alarms are", "an alarm can notify only topics of "
                                               f"its own Region: use a topic in {cfg.region}", fix)
    return problems
