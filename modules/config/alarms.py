"""alarms: where every CloudWatch alarm the stack makes sends its notifications.

An SNS topic the stack creates (encrypted with its own KMS key, `subscriptions` attached) and/or topics
that exist elsewhere (`topic_arns`); the stack's alarms (a cron's failure lines, a cron task that stopped
badly, EventBridge Scheduler giving up) notify all of them, on ALARM and, with `notify_ok`, on OK.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from modules.config.base import Strict
from modules.config.defaults import (
    ALARM_SUBSCRIPTION_PROTOCOLS,
    DEFAULT_ALARM_CREATE_TOPIC,
    DEFAULT_ALARM_NOTIFY_OK,
)
from modules.config.kinds import SnsTopicArn, arn_pattern

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
HTTPS_PATTERN = r"^https://[^\s/]+(/\S*)?$"
SQS_ARN_PATTERN = arn_pattern("sqs")
LAMBDA_ARN_PATTERN = arn_pattern("lambda")
# What a KMS key encrypting an alarm topic must let CloudWatch do, so an alarm's message reaches the topic (SNS
# developer guide, key management: "Enable compatibility between event sources from AWS services and encrypted
# topics"): the stack's own key grants it (modules/notifications.py), preflight checks existing topics' keys.
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
CLOUDWATCH_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")
# AWS/Scheduler metrics meaning a scheduled run did not happen (per schedule group): the stack alarms on each
# (modules/schedule_failures.py), the estimate counts those alarms (modules/cost/estimate.py)
SCHEDULER_FAILURE_METRICS = {
    "TargetErrorCount": "the target (ECS RunTask) refused an invocation (retried up to the retry policy)",
    "InvocationDroppedCount": "an invocation was dropped: retries exhausted and nothing took it",
    "InvocationsFailedToBeSentToDeadLetterCount": "a failed invocation could not even reach the dead-letter queue",
}
# SNS Subscribe: what each protocol's Endpoint is (SNS API reference, Subscribe)
ENDPOINT_FORMS = {
    "email": (EMAIL_PATTERN, "an email address, e.g. ops@example.com"),
    "email-json": (EMAIL_PATTERN, "an email address, e.g. ops@example.com"),
    "https": (HTTPS_PATTERN, "an https:// URL (SNS posts a confirmation request to it first)"),
    "sqs": (SQS_ARN_PATTERN, "an SQS queue ARN, arn:aws:sqs:<region>:<account>:<queue>"),
    "lambda": (LAMBDA_ARN_PATTERN, "a Lambda function ARN, arn:aws:lambda:<region>:<account>:function:<name>"),
}


class AlarmSubscription(Strict):
    """One subscription to the topic the stack creates (email ones must be confirmed from the mail SNS sends)."""

    protocol: Literal[ALARM_SUBSCRIPTION_PROTOCOLS] = Field(description="SNS protocol")  # type: ignore[valid-type]
    endpoint: str = Field(min_length=1, description="the address, URL or ARN that protocol delivers to")

    @model_validator(mode="after")
    def _endpoint_form(self) -> AlarmSubscription:
        pattern, form = ENDPOINT_FORMS[self.protocol]
        if not re.fullmatch(pattern, self.endpoint):
            raise ValueError(f"endpoint '{self.endpoint}' is not what protocol '{self.protocol}' delivers to; "
                             f"allowed: {form}")
        return self


class Alarms(Strict):
    """Alarm notifications: the stack's topic and/or existing topics; every alarm of the stack uses them."""

    create_topic: bool = Field(
        DEFAULT_ALARM_CREATE_TOPIC,
        description="create the SNS topic <project>-<environment>-alarms (KMS-encrypted; its ARN is the "
        "output alarm_topic_arn)")
    subscriptions: list[AlarmSubscription] = Field(
        default_factory=list, description="subscriptions to the created topic (email ones need confirming)")
    topic_arns: list[SnsTopicArn] = Field(
        default_factory=list, description="existing SNS topics (in the stack's Region) the alarms notify too")
    notify_ok: bool = Field(DEFAULT_ALARM_NOTIFY_OK, description="notify the same targets when an alarm clears")

    @model_validator(mode="after")
    def _routes_somewhere(self) -> Alarms:
        if len(set(self.topic_arns)) != len(self.topic_arns):
            raise ValueError("topic_arns: a topic is listed twice; list each once")
        if self.subscriptions and not self.create_topic:
            raise ValueError("subscriptions are made to the topic the stack creates, but create_topic is false; "
                             "set create_topic: true or subscribe to your own topics outside this stack")
        if not self.create_topic and not self.topic_arns:
            raise ValueError("with create_topic: false and no topic_arns the alarms would notify no one; "
                             "set create_topic: true or list existing topics in topic_arns")
        return self
