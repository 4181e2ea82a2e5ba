"""Alarms: a failure of a container is a CloudWatch alarm, not a log line nobody reads.

Per container with `failure_alarm` in the env file (and per init container, by default): a metric filter on its log group counts the lines
matching `failure_alarm.log_pattern` (the crons write one `ERROR:` line per failed run,
docker/lib/ops-http.sh), and an alarm goes off when a period holds at least `threshold` of them.
The resources are created in the Workload's scope (ids failure_metric_<container>, failure_alarm_<container>).

Every alarm of the stack is made by `stack_alarm` (modules/notifications.py), so every one notifies the env
file's `alarms` targets; modules/schedule_failures.py adds the alarms on scheduled runs that never
got as far as a log line.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.cloudwatch_log_metric_filter import (
    CloudwatchLogMetricFilter,
    CloudwatchLogMetricFilterMetricTransformation,
)
from constructs import Construct

from modules.config.defaults import METRIC_NAMESPACE
from modules.config.alarms import failure_alarm_of
from modules.notifications import stack_alarm
from modules.task_owner import TaskOwner



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
