"""alarms: where every CloudWatch alarm the stack makes sends its notifications.

An SNS topic the stack creates (encrypted with its own KMS key, `subscriptions` attached) and/or topics
that exist elsewhere (`topic_arns`); the stack's alarms (a cron's failure lines, a cron task that stopped
badly, EventBridge Scheduler giving up) notify all of them, on ALARM and, with `notify_ok`, on OK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from modules.config.base import Strict
from modules.config.defaults import (
    ALB_5XX_ALARM,
    BELOW_DESIRED_ALARM,
    GPU_NOT_IN_SERVICE_ALARM,
    UNHEALTHY_HOSTS_ALARM,
    ALARM_SUBSCRIPTION_PROTOCOLS,
    DEFAULT_ALARM_CREATE_TOPIC,
    DEFAULT_ALARM_NOTIFY_OK,
)
from modules.config.kinds import SnsTopicArn, arn_pattern
from modules.config.services import FailureAlarm, Kind, Service

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


def _endpoint_forms_in_schema(schema: dict, *_) -> None:
    """The JSON Schema checks each protocol's endpoint form too (an editor flags `sqs` with an email address)."""
    schema["allOf"] = [{"if": {"properties": {"protocol": {"const": protocol}}, "required": ["protocol"]},
                        "then": {"properties": {"endpoint": {"pattern": pattern, "description": form}}}}
                       for protocol, (pattern, form) in ENDPOINT_FORMS.items()]


class AlarmSubscription(Strict):
    """One subscription to the topic the stack creates (email ones must be confirmed from the mail SNS sends)."""

    model_config = ConfigDict(json_schema_extra=_endpoint_forms_in_schema)

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


# ---------------------------------------------------------------- alarms on what users feel
@dataclass(frozen=True)
class PlannedAlarm:
    """One alarm modules/service_alarms.py makes: what it watches, its (period, evaluations, threshold) and
    how many metrics it reads (CloudWatch bills a metric-math alarm per metric: modules/cost)."""

    key: str  # construct id and alarm name suffix
    kind: str  # elb_5xx | target_5xx | unhealthy_hosts | below_desired | gpu_not_in_service
    subject: str  # the target service, ECS service or capacity provider watched ("" for the ALB)
    timing: tuple[int, int, int]
    metrics: int


def alb_target_services(cfg) -> list[str]:
    """Services behind the ALB: alb.target, and Grafana when the ALB exposes it (vpn/sso)."""
    services = [cfg.alb.target.service]
    if cfg.alb.grafana.exposure in ("vpn", "sso") and cfg.alb.grafana.service not in services:
        services.append(cfg.alb.grafana.service)
    return services


def gpu_services(cfg) -> list[str]:
    """Long-running services whose task holds a GPU."""
    return [o for o, s in cfg.task_owners().items()
            if s.kind.value == "service" and any(c.gpu for c in cfg.containers_of(o).values())]


def gpu_providers(cfg) -> list[str]:
    """GPU capacity providers some service runs on."""
    used = {cfg.capacity_provider_of(o) for o in cfg.task_owners()}
    return sorted(k for k, cp in cfg.cluster.capacity_providers.items() if cp.gpu and k in used)


def service_alarm_plan(cfg) -> list[PlannedAlarm]:
    """Every alarm on the user-facing path, derived from the env file's services (not their names)."""
    plan = [PlannedAlarm("alb-5xx", "elb_5xx", "", ALB_5XX_ALARM, 1)]
    for service in alb_target_services(cfg):
        plan.append(PlannedAlarm(f"{service}-5xx", "target_5xx", service, ALB_5XX_ALARM, 1))
        plan.append(PlannedAlarm(f"{service}-unhealthy-hosts", "unhealthy_hosts", service, UNHEALTHY_HOSTS_ALARM, 1))
    if cfg.cluster.container_insights:
        watched = list(dict.fromkeys(s for s in [*alb_target_services(cfg), *gpu_services(cfg)]
                                     if s in cfg.task_owners() and cfg.services[s].desired_count))
        plan += [PlannedAlarm(f"{s}-below-desired", "below_desired", s, BELOW_DESIRED_ALARM, 2) for s in watched]
    plan += [PlannedAlarm(f"{key}-not-in-service", "gpu_not_in_service", key, GPU_NOT_IN_SERVICE_ALARM, 2)
             for key in gpu_providers(cfg)]
    return plan


def failure_alarm_of(svc: Service) -> FailureAlarm | None:
    """A container's failure alarm: its own, or for an init container the default one (it runs once per task
    start, unseen; ollama-init logs `ERROR:` on every failure, docker/ollama-init/ollama-init.sh)."""
    if svc.failure_alarm is None and svc.kind == Kind.init:
        return FailureAlarm()
    return svc.failure_alarm
