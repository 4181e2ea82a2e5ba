"""Alarms: a failure of a container is a CloudWatch alarm, not a log line nobody reads.

Per container with `failure_alarm` in the env file: a metric filter on its log group counts the lines
matching `failure_alarm.log_pattern` (the crons write one `ERROR:` line per failed run,
docker/lib/ops-http.sh), and an alarm goes off when a period holds at least `threshold` of them.
The resources are created in the Workload's scope (ids failure_metric_<container>, failure_alarm_<container>).
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.cloudwatch_log_metric_filter import (
    CloudwatchLogMetricFilter,
    CloudwatchLogMetricFilterMetricTransformation,
)
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct

from modules.config import METRIC_NAMESPACE
from modules.task_owner import TaskOwner


def failure_alarms(scope: Construct, task: TaskOwner, log_groups: Mapping[str, CloudwatchLogGroup]) -> None:
    """One metric filter + alarm per container of the task that sets `failure_alarm`."""
    cfg = task.cfg
    namespace = METRIC_NAMESPACE.format(project=cfg.project, environment=cfg.environment)
    for cname, svc in task.containers.items():
        alarm = svc.failure_alarm
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
        CloudwatchMetricAlarm(
            scope,
            f"failure_alarm_{cname}",
            alarm_name=f"{cfg.name}-{metric}",
            alarm_description=(f"{cname} logged a failure ({alarm.log_pattern}) in the last {alarm.period} s; "
                               f"see /ecs/{cfg.name}/{cname}"),
            namespace=namespace,
            metric_name=metric,
            statistic="Sum",
            period=alarm.period,
            evaluation_periods=1,
            threshold=alarm.threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            # no failure line, no data point: that is "no failure", not "unknown"
            treat_missing_data="notBreaching",
            alarm_actions=list(alarm.alarm_actions) or None,
            ok_actions=list(alarm.alarm_actions) or None,
        )
