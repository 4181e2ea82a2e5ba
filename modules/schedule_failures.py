"""ScheduleFailures: a scheduled task that fails is an alarm, whatever way it fails.

A cron's own `ERROR:` lines (modules/failure_alarms.py failure_alarms) only show failures the script lives to
report. Everything else is caught here, for every `kind: scheduled` task owner:

  - EventBridge Scheduler could not start the task (RunTask refused: bad task definition, IAM, throttling):
    the schedules live in the stack's own schedule group, so the AWS/Scheduler metrics of that group
    (dimension ScheduleGroup) are this stack's: TargetErrorCount, InvocationDroppedCount and
    InvocationsFailedToBeSentToDeadLetterCount each have an alarm (EventBridge Scheduler user guide,
    "Monitoring EventBridge Scheduler with Amazon CloudWatch").
  - Scheduler gave up after its retries: the invocation goes to a dead-letter queue (SQS, SSE-SQS
    encrypted; the schedules' roles may send to it), and a message waiting there is an alarm until someone
    reads it (AWS/SQS ApproximateNumberOfMessagesVisible).
  - The task started but stopped badly: an EventBridge rule on "ECS Task State Change" events of this
    cluster's scheduled task families with lastStatus STOPPED and either stopCode TaskFailedToStart (image
    pull, secret fetch, no capacity in time) or a container exit code other than 0 (a non-zero exit, an OOM
    kill's 137) sends the event to a CloudWatch Logs group (ECS developer guide, "Amazon ECS task state
    change events"); a metric filter per task family counts them and an alarm goes off on one.

Every alarm notifies `notifications` (env file `alarms`). Exposes `group_name` and `dead_letter_arn`.
"""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.cloudwatch_log_metric_filter import (
    CloudwatchLogMetricFilter,
    CloudwatchLogMetricFilterMetricTransformation,
)
from cdktf_cdktf_provider_aws.cloudwatch_log_resource_policy import CloudwatchLogResourcePolicy
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.scheduler_schedule_group import SchedulerScheduleGroup
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from modules.notifications import stack_alarm
from modules.config import EnvConfig, Kind
from modules.config.defaults import DEFAULT_FAILURE_ALARM_PERIOD, METRIC_NAMESPACE
from modules.config.alarms import SCHEDULER_FAILURE_METRICS
from modules.config.defaults import SCHEDULER_ALARM_PERIOD, SCHEDULER_DLQ_RETENTION_SECONDS
from modules.naming import scheduled_failures_policy_name
from modules.notifications import Notifications

SCHEDULER_NAMESPACE = "AWS/Scheduler"
# ECS task state change: a scheduled run failed when its task stopped without starting or a container
# exited non-zero (an essential container exiting 0 is the normal end of a run).
FAILED_TO_START = "TaskFailedToStart"


def task_group(cfg: EnvConfig, owner: str) -> str:
    """The ECS task group of a scheduled owner's tasks (RunTask's own default: `family:<task family>`); the
    schedule sets it explicitly, the event rule and metric filters match it."""
    return f"family:{cfg.name}-{owner}"


def failure_event_pattern(cfg: EnvConfig, cluster_arn: str) -> dict:
    """EventBridge pattern of a failed scheduled run. Fields: ECS developer guide, "Amazon ECS task state
    change events" (detail.clusterArn, lastStatus, group, stopCode, containers[].exitCode); an array field
    matches when any element matches; `$or` and `anything-but` (EventBridge user guide, "Comparison
    operators"): a numeric anything-but does not match a container that never got an exit code."""
    owners = [o for o, s in cfg.task_owners().items() if s.kind == Kind.scheduled]
    return {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "clusterArn": [cluster_arn],
            "lastStatus": ["STOPPED"],
            "group": [task_group(cfg, o) for o in owners],
            "$or": [{"stopCode": [FAILED_TO_START]},
                    {"containers": {"exitCode": [{"anything-but": 0}]}}],
        },
    }


class ScheduleFailures(Construct):
    def __init__(self, scope: Construct, id_: str, *, cfg: EnvConfig, cluster_arn: str,
                 notifications: Notifications, account_id: str):
        super().__init__(scope, id_)
        self.cfg, self.notifications, self.account_id = cfg, notifications, account_id
        # own group: the Scheduler metrics (dimension ScheduleGroup) count this stack's schedules only
        group = SchedulerScheduleGroup(self, "group", name=cfg.name)
        self.group_name: str = group.name
        queue_name = f"{cfg.name}-scheduler-dlq"
        queue = SqsQueue(self, "dead_letter_queue", name=queue_name,
                         message_retention_seconds=SCHEDULER_DLQ_RETENTION_SECONDS, sqs_managed_sse_enabled=True)
        self.dead_letter_arn: str = queue.arn
        self._scheduler_alarms(queue_name)
        self._stopped_task_alarms(cluster_arn)

    def _scheduler_alarms(self, queue_name: str) -> None:
        cfg = self.cfg
        stack_alarm(self, "dead_letter_alarm", self.notifications,
                    alarm_name=f"{cfg.name}-scheduler-dead-letters",
                    alarm_description=(f"EventBridge Scheduler gave up on a scheduled task run after its retries; "
                                       f"the failed invocation waits in SQS {queue_name} (read it, then delete it)"),
                    namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
                    dimensions={"QueueName": queue_name}, statistic="Maximum", period=SCHEDULER_ALARM_PERIOD)
        for metric, why in SCHEDULER_FAILURE_METRICS.items():
            stack_alarm(self, f"scheduler_{metric}", self.notifications,
                        alarm_name=f"{cfg.name}-scheduler-{metric}",
                        alarm_description=f"EventBridge Scheduler, schedule group {cfg.name}: {why}",
                        namespace=SCHEDULER_NAMESPACE, metric_name=metric,
                        dimensions={"ScheduleGroup": self.group_name}, statistic="Sum",
                        period=SCHEDULER_ALARM_PERIOD)

    def _stopped_task_alarms(self, cluster_arn: str) -> None:
        cfg = self.cfg
        log_group_name = f"/aws/events/{cfg.name}/scheduled-failures"
        log_group = CloudwatchLogGroup(self, "stopped_task_events", name=log_group_name,
                                       retention_in_days=cfg.logs.retention_days)
        rule = CloudwatchEventRule(self, "stopped_task_rule", name=f"{cfg.name}-scheduled-failures",
                                   description="Scheduled task runs that failed to start or exited non-zero",
                                   event_pattern=json.dumps(failure_event_pattern(cfg, cluster_arn), sort_keys=True))
        # EventBridge writes to a log group only if the group's resource policy lets it (EventBridge user
        # guide, "CloudWatch Logs permissions"; CloudWatch Logs allows 10 resource policies per Region and
        # account). Resource scoped to this one group; confused-deputy guard: only this stack's rule, in this
        # account, may write (EventBridge passes the rule's ARN as aws:SourceArn and its account as
        # aws:SourceAccount: user guide, "Using IAM policy conditions", condition keys).
        policy = DataAwsIamPolicyDocument(self, "stopped_task_events_policy", statement=[
            DataAwsIamPolicyDocumentStatement(
                sid="EventBridgeWritesStoppedTaskEvents", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{log_group.arn}:*"],
                principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                    type="Service", identifiers=["delivery.logs.amazonaws.com", "events.amazonaws.com"])],
                condition=[
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="ArnEquals", variable="aws:SourceArn", values=[rule.arn]),
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable="aws:SourceAccount", values=[self.account_id]),
                ]),
        ])
        resource_policy = CloudwatchLogResourcePolicy(self, "stopped_task_events_access",
                                                      policy_name=scheduled_failures_policy_name(cfg.name),
                                                      policy_document=policy.json)
        CloudwatchEventTarget(self, "stopped_task_target", rule=rule.name, target_id="log-group",
                              arn=log_group.arn, depends_on=[resource_policy])
        namespace = METRIC_NAMESPACE.format(project=cfg.project, environment=cfg.environment)
        for owner, svc in cfg.task_owners().items():
            if svc.kind != Kind.scheduled:
                continue
            metric = f"{owner}-task-failures"
            CloudwatchLogMetricFilter(
                self, f"stopped_task_metric_{owner}", name=f"{cfg.name}-{metric}", log_group_name=log_group.name,
                pattern=f'{{ $.detail.group = "{task_group(cfg, owner)}" }}',
                metric_transformation=CloudwatchLogMetricFilterMetricTransformation(
                    name=metric, namespace=namespace, value="1", unit="Count"))
            period = svc.failure_alarm.period if svc.failure_alarm else DEFAULT_FAILURE_ALARM_PERIOD
            stack_alarm(self, f"stopped_task_alarm_{owner}", self.notifications,
                        alarm_name=f"{cfg.name}-{metric}",
                        alarm_description=(f"a scheduled {owner} task failed to start or a container exited "
                                           f"non-zero (OOM: 137) in the last {period} s; the ECS event is in "
                                           f"{log_group_name}"),
                        namespace=namespace, metric_name=metric, statistic="Sum", period=period)
