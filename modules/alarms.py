"""Alarms: a failure of a container is a CloudWatch alarm, not a log line nobody reads.

Per container with `failure_alarm` in the env file (and per init container, by default): a metric filter on its log group counts the lines
matching `failure_alarm.log_pattern` (the crons write one `ERROR:` line per failed run,
docker/lib/ops-http.sh), and an alarm goes off when a period holds at least `threshold` of them.
The resources are created in the Workload's scope (ids failure_metric_<container>, failure_alarm_<container>).

Every alarm of the stack is made by `stack_alarm`, so every one notifies the env file's `alarms` targets
(modules/notifications.py); modules/schedule_failures.py adds the alarms on scheduled runs that never
got as far as a log line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.cloudwatch_log_metric_filter import (
    CloudwatchLogMetricFilter,
    CloudwatchLogMetricFilterMetricTransformation,
)
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct

from modules.config import METRIC_NAMESPACE
from modules.config.alarms import failure_alarm_of
from modules.task_owner import TaskOwner

if TYPE_CHECKING:
    from modules.notifications import Notifications


def stack_alarm(scope: Construct, id_: str, notifications: Notifications | None, *,
                extra_actions: Sequence[str] = (), **alarm) -> CloudwatchMetricAlarm:
    """A one-period alarm on `threshold` (default 1) or more of a metric, notifying the stack's targets (and
    `extra_actions`) on ALARM and, with alarms.notify_ok, on OK. No data point means nothing happened: the
    metrics alarmed on are counts of failures, published only when there is one."""
    actions = list(dict.fromkeys([*(notifications.alarm_actions if notifications else []), *extra_actions]))
    ok = list(dict.fromkeys([*(notifications.ok_actions if notifications else []), *extra_actions]))
    defaults = dict(evaluation_periods=1, threshold=1, comparison_operator="GreaterThanOrEqualToThreshold",
                    treat_missing_data="notBreaching")
    return CloudwatchMetricAlarm(scope, id_, **{**defaults, **alarm}, alarm_actions=actions or None,
                                 ok_actions=ok or None)


def failure_alarms(scope: Construct, task: TaskOwner, log_groups: Mapping[str, CloudwatchLogGroup]) -> None:
    """One metric filter + alarm per container of the task that sets `failure_alarm`."""
    cfg = task.cfg
    namespace = METRIC_NAMESPACE.format(project=cfg.project, environment=cfg.environment)
    for cname, svc in task.containers.items():
        alarm = failure_alarm_of(svc)  # an init container gets one by default (it runs unseen, once per start)
        if alarm is None:
            continue
        metric = f"{cname}-failures"
        CloudwatchLogMetricFilter(
            scope,
            f"failure_metric_{cname}",
            name=f"{cfg.name}-{metric}",
            log_group_name=log_groups[cname].name,
            pattern=alarm.log_pattern,
            metric_transformation=CloudwatchLogMetricFilterMetricTransformation(
                name=metric, namespace=namespace, value="1", unit="Count"
            ),
        )
        stack_alarm(
            scope,
            f"failure_alarm_{cname}",
            task.deps.notifications,
            extra_actions=alarm.alarm_actions,
            alarm_name=f"{cfg.name}-{metric}",
            alarm_description=(f"{cname} logged a failure ({alarm.log_pattern}) in the last {alarm.period} s; "
                               f"see /ecs/{cfg.name}/{cname}"),
            namespace=namespace,
            metric_name=metric,
            statistic="Sum",
            period=alarm.period,
            threshold=alarm.threshold,
        )
