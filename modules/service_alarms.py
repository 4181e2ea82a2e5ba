"""ServiceAlarms: alarms on what users feel, derived from the env file's services (modules/config/alarms.py
service_alarm_plan; thresholds and their reasons in modules/config/defaults.py and docs/observability.md):

  <name>-alb-5xx                     AWS/ApplicationELB HTTPCode_ELB_5XX_Count: the ALB's own 502/503/504
  <name>-<service>-5xx               HTTPCode_Target_5XX_Count of each target group (alb.target, exposed Grafana)
  <name>-<service>-unhealthy-hosts   UnHealthyHostCount of each target group
  <name>-<service>-below-desired     ECS/ContainerInsights DesiredTaskCount - RunningTaskCount of the ALB's
                                     services and every GPU service (needs cluster.container_insights)
  <name>-<provider>-not-in-service   AWS/AutoScaling GroupDesiredCapacity - GroupInServiceInstances of each
                                     GPU capacity provider: the GPU instance did not come back (after off-hours,
                                     or no capacity in the zones). Off-hours the desired capacity is 0: silent.
An init container's failure (ollama-init) is a log-line alarm of modules/failure_alarms.py (config failure_alarm_of).
Every alarm notifies the env file's `alarms` targets (stack_alarm).
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from constructs import Construct

from modules.notifications import stack_alarm
from modules.alb import Alb
from modules.cluster import Cluster
from modules.config import EnvConfig
from modules.config.alarms import PlannedAlarm, service_alarm_plan
from modules.notifications import Notifications

ELB_NAMESPACE = "AWS/ApplicationELB"
INSIGHTS_NAMESPACE = "ECS/ContainerInsights"
ASG_NAMESPACE = "AWS/AutoScaling"


def _difference(wanted: tuple[str, str, dict], have: tuple[str, str, dict], period: int, label: str
                ) -> list[CloudwatchMetricAlarmMetricQuery]:
    """Metric math `wanted - have` (how many are missing), the only series the alarm compares."""
    def metric(id_: str, spec: tuple[str, str, dict]) -> CloudwatchMetricAlarmMetricQuery:
        namespace, name, dimensions = spec
        return CloudwatchMetricAlarmMetricQuery(id=id_, return_data=False, metric=CloudwatchMetricAlarmMetricQueryMetric(
            namespace=namespace, metric_name=name, dimensions=dimensions, period=period, stat="Average"))
    return [metric("wanted", wanted), metric("have", have),
            CloudwatchMetricAlarmMetricQuery(id="missing", expression="wanted - have", label=label, return_data=True)]


class ServiceAlarms(Construct):
    def __init__(self, scope: Construct, id_: str, *, cfg: EnvConfig, alb: Alb, cluster: Cluster,
                 notifications: Notifications):
        super().__init__(scope, id_)
        self.cfg, self.alb, self.cluster, self.notifications = cfg, alb, cluster, notifications
        for planned in service_alarm_plan(cfg):
            self._alarm(planned)

    def _alarm(self, planned: PlannedAlarm) -> None:
        cfg, alb = self.cfg, self.alb
        period, evaluations, threshold = planned.timing
        common = dict(alarm_name=f"{cfg.name}-{planned.key}", evaluation_periods=evaluations, threshold=threshold)
        subject = planned.subject
        if planned.kind in ("elb_5xx", "target_5xx"):
            target = planned.kind == "target_5xx"
            dimensions = {"LoadBalancer": alb.arn_suffix}
            if target:
                dimensions["TargetGroup"] = alb.target_group_suffixes[subject]
            what = f"{subject} answered" if target else "the ALB itself answered (no healthy target, reset, timeout)"
            stack_alarm(self, planned.key, self.notifications, **common,
                        alarm_description=f"{what} {threshold}+ 5XX in {period} s; ALB access logs / /ecs/{cfg.name}/{subject or cfg.alb.target.service}",
                        namespace=ELB_NAMESPACE, statistic="Sum", period=period, dimensions=dimensions,
                        metric_name="HTTPCode_Target_5XX_Count" if target else "HTTPCode_ELB_5XX_Count")
        elif planned.kind == "unhealthy_hosts":
            stack_alarm(self, planned.key, self.notifications, **common,
                        alarm_description=(f"a {subject} target failed the ALB health check for {evaluations * period} s "
                                           f"in a row; see the target group's health reasons and /ecs/{cfg.name}/{subject}"),
                        namespace=ELB_NAMESPACE, metric_name="UnHealthyHostCount", statistic="Maximum", period=period,
                        dimensions={"LoadBalancer": alb.arn_suffix, "TargetGroup": alb.target_group_suffixes[subject]})
        elif planned.kind == "below_desired":
            dims = {"ClusterName": self.cluster.cluster_name, "ServiceName": f"{cfg.name}-{subject}"}
            stack_alarm(self, planned.key, self.notifications, **common,
                        alarm_description=(f"ECS service {cfg.name}-{subject} ran fewer tasks than desired for "
                                           f"{evaluations * period} s; see its events (aws ecs describe-services)"),
                        metric_query=_difference((INSIGHTS_NAMESPACE, "DesiredTaskCount", dims),
                                                 (INSIGHTS_NAMESPACE, "RunningTaskCount", dims), period,
                                                 "tasks missing"))
        elif planned.kind == "gpu_not_in_service":
            dims = {"AutoScalingGroupName": self.cluster.asgs[subject].name}
            stack_alarm(self, planned.key, self.notifications, **common,
                        alarm_description=(f"capacity provider {subject}: the Auto Scaling group wanted an instance it "
                                           f"did not have in service for {evaluations * period} s (GPU not back after "
                                           "off-hours, or no capacity in the zones); see its activity history"),
                        metric_query=_difference((ASG_NAMESPACE, "GroupDesiredCapacity", dims),
                                                 (ASG_NAMESPACE, "GroupInServiceInstances", dims), period,
                                                 "instances missing"))
        else:
            raise ValueError(f"unknown planned alarm kind {planned.kind}")
