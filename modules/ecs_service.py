"""The ECS service of a `kind: service` task owner: keeps its task running and reachable.

  - Service Connect: every service is a client; one with ports also serves them under its compose name
  - Cloud Map DNS registration when a job (outside Service Connect) depends on it
  - ALB target when the alb section routes to one of its containers
  - deployment circuit breaker with rollback; replace (0/100) instead of rolling (100/200) when the
    task writes an EFS volume or holds the GPU
  - CPU target-tracking autoscaling from `scaling`
  - created after the services it calls through Service Connect (`service_connect_callees`, wired by
    the stack with `order_after`)
The resources are created in the Workload's scope (ids as before: dns_discovery, service, scaling_*).
"""

from __future__ import annotations

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.appautoscaling_scheduled_action import (
    AppautoscalingScheduledAction,
    AppautoscalingScheduledActionScalableTargetAction,
)
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.ecs_service import (
    EcsService,
    EcsServiceCapacityProviderStrategy,
    EcsServiceDeploymentCircuitBreaker,
    EcsServiceLoadBalancer,
    EcsServiceNetworkConfiguration,
    EcsServiceServiceConnectConfiguration,
    EcsServiceServiceConnectConfigurationLogConfiguration,
    EcsServiceServiceConnectConfigurationService,
    EcsServiceServiceConnectConfigurationServiceClientAlias,
    EcsServiceServiceConnectConfigurationServiceTimeout,
    EcsServiceServiceRegistries,
)
from cdktf_cdktf_provider_aws.service_discovery_service import (
    ServiceDiscoveryService,
    ServiceDiscoveryServiceDnsConfig,
    ServiceDiscoveryServiceDnsConfigDnsRecords,
)
from constructs import Construct

from modules import container as containers
from modules.config import EnvConfig, Kind
from modules.config.defaults import DEFAULT_HEALTH_START_PERIOD
from modules.config.timeouts import service_connect_timeouts
from modules.task_owner import TaskOwner
from modules.config.wiring import dns_discovered

SERVICE_CONNECT_LOG_PREFIX = "service-connect"
DNS_RECORD_TTL = 10  # seconds: tasks come and go; a short TTL keeps job clients on live tasks


def ecs_service(scope: Construct, task: TaskOwner, *, task_definition_arn: str, log_group_name: str) -> EcsService:
    """The service running `desired_count` copies of the task (the autoscaler owns the count once on)."""
    cfg, deps, svc = task.cfg, task.deps, task.owner
    min_healthy, max_percent = cfg.deployment_of(task.name)

    load_balancers, grace, after = _load_balancers(task), None, None
    if load_balancers:
        grace = svc.health_check.start_period if svc.health_check else DEFAULT_HEALTH_START_PERIOD
        # ECS refuses a target group that no listener (rule) uses yet
        after = list(getattr(deps.alb, "attachments", None) or []) or None
    registries = _dns_registration(scope, task)
    # the capacity provider's off-hours window; a service stopped on purpose (desired_count 0) keeps none
    window = cfg.cluster.capacity_providers[cfg.capacity_provider_of(task.name)].off_hours
    window = window if svc.desired_count else None

    service = EcsService(
        scope,
        "service",
        name=task.prefix,
        cluster=deps.cluster.cluster_arn,
        task_definition=task_definition_arn,
        desired_count=svc.desired_count,
        capacity_provider_strategy=[
            EcsServiceCapacityProviderStrategy(capacity_provider=task.capacity_provider(), weight=1, base=0)
        ],
        network_configuration=EcsServiceNetworkConfiguration(
            subnets=task.subnets(), security_groups=task.security_groups(), assign_public_ip=False
        ),
        deployment_circuit_breaker=EcsServiceDeploymentCircuitBreaker(enable=True, rollback=True),
        deployment_minimum_healthy_percent=min_healthy,
        deployment_maximum_percent=max_percent,
        load_balancer=load_balancers or None,
        health_check_grace_period_seconds=grace,
        service_connect_configuration=_service_connect(task, log_group_name),
        service_registries=registries,
        enable_execute_command=False,
        enable_ecs_managed_tags=True,
        propagate_tags="SERVICE",
        wait_for_steady_state=False,
        depends_on=after,
        # Application Auto Scaling owns desired_count once scaling or an off-hours schedule is on
        lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_count"]) if svc.scaling or window else None,
    )
    target = _scalable_target(scope, task, service) if svc.scaling or window else None
    if svc.scaling:
        _autoscaling(scope, task, target)
    if window:
        _off_hours(scope, task, target)
    return service


def service_connect_callees(cfg: EnvConfig, owner: str) -> list[str]:
    """The long-running services (task owners) that the containers of `owner`'s task depend on: the
    Service Connect endpoints its tasks call, in sorted order."""
    called = {
        cfg.task_owner(dep)
        for container in cfg.containers_of(owner).values()
        for dep in container.depends_on
    }
    return sorted(c for c in called - {owner} if cfg.services[c].kind == Kind.service)


def order_after(service: EcsService, callees: list[EcsService]) -> None:
    """Create `service` after the ECS services it calls. AWS (ECS developer guide, "Service Connect
    components", deployment order): existing tasks can't resolve an endpoint created after them; only tasks
    started after it can. A client created first would need a redeploy before it reaches its servers."""
    if not callees:
        return
    # a plain `type.id` address, like the constructor's depends_on (`fqn` would render as "${...}")
    addresses = [f"{c.terraform_resource_type}.{c.friendly_unique_id}" for c in callees]
    service.depends_on = [*(service.depends_on or []), *addresses]


def _load_balancers(task: TaskOwner) -> list[EcsServiceLoadBalancer]:
    """One attachment per (container, port) the ALB routes to."""
    deps = task.deps
    target_groups = getattr(deps.alb, "target_groups", {}) if deps.alb is not None else {}
    return [
        EcsServiceLoadBalancer(target_group_arn=arn, container_name=cname, container_port=port)
        for cname in task.containers
        for port, arn in sorted(target_groups.get(cname, {}).items())
    ]


def _dns_registration(scope: Construct, task: TaskOwner) -> EcsServiceServiceRegistries | None:
    """A Cloud Map DNS name `<name>.<dns_namespace>` when a job depends on this service."""
    cfg, deps, name = task.cfg, task.deps, task.name
    if not (deps.dns_namespace_id and name in dns_discovered(cfg)):
        return None
    discovery = ServiceDiscoveryService(
        scope,
        "dns_discovery",
        name=name,
        description=f"{name}.{cfg.dns_namespace}: for tasks outside Service Connect (jobs)",
        dns_config=ServiceDiscoveryServiceDnsConfig(
            namespace_id=deps.dns_namespace_id,
            routing_policy="MULTIVALUE",
            dns_records=[ServiceDiscoveryServiceDnsConfigDnsRecords(type="A", ttl=DNS_RECORD_TTL)],
        ),
    )
    return EcsServiceServiceRegistries(registry_arn=discovery.arn)


def _service_connect(task: TaskOwner, log_group_name: str) -> EcsServiceServiceConnectConfiguration | None:
    """Every service is a client; a service with ports also serves them under its compose name."""
    if not task.deps.namespace_arn:
        return None
    servers = [
        EcsServiceServiceConnectConfigurationService(
            port_name=containers.port_name(cname, pm.port, pm.name),
            discovery_name=containers.port_name(cname, pm.port, pm.name),
            client_alias=EcsServiceServiceConnectConfigurationServiceClientAlias(port=pm.port, dns_name=cname),
            timeout=_timeout(task.cfg, cname, pm),
        )
        for cname, svc in task.containers.items()
        for pm in svc.ports
    ]
    return EcsServiceServiceConnectConfiguration(
        enabled=True,
        namespace=task.deps.namespace_arn,
        service=servers or None,
        log_configuration=EcsServiceServiceConnectConfigurationLogConfiguration(
            log_driver=containers.LOG_DRIVER,
            options={
                "awslogs-group": log_group_name,
                "awslogs-region": task.cfg.region,
                "awslogs-stream-prefix": SERVICE_CONNECT_LOG_PREFIX,
            },
        ),
    )


def _timeout(cfg: EnvConfig, cname: str, pm) -> EcsServiceServiceConnectConfigurationServiceTimeout | None:
    """The port's Service Connect timeouts: the env file's, else derived from who calls it and whom its task
    calls (modules/config/timeouts.py). Where neither says anything AWS applies its own: 15 s per request and
    300 s idle for HTTP/HTTP2/gRPC, 3600 s idle for TCP (ECS API TimeoutConfiguration); the clients' proxies
    enforce them when calling this port."""
    per_request, idle = service_connect_timeouts(cfg, cname, pm)
    if per_request is None and idle is None:
        return None
    return EcsServiceServiceConnectConfigurationServiceTimeout(
        idle_timeout_seconds=idle, per_request_timeout_seconds=per_request
    )


def _scalable_target(scope: Construct, task: TaskOwner, service: EcsService) -> AppautoscalingTarget:
    """The service's DesiredCount as an Application Auto Scaling target: between scaling.min and max, or
    fixed at desired_count when only an off-hours schedule moves it."""
    svc, window = task.owner, _window(task)
    low, high = (svc.scaling.min, svc.scaling.max) if svc.scaling else (svc.desired_count, svc.desired_count)
    return AppautoscalingTarget(
        scope,
        "scaling_target",
        service_namespace="ecs",
        scalable_dimension="ecs:service:DesiredCount",
        resource_id=f"service/{task.deps.cluster.cluster_name}/{service.name}",
        min_capacity=low,
        max_capacity=high,
        # the off-hours scheduled actions set min/max twice a day; a plan outside the window must not undo them
        lifecycle=TerraformResourceLifecycle(ignore_changes=["min_capacity", "max_capacity"]) if window else None,
    )


def _window(task: TaskOwner):
    cfg = task.cfg
    return cfg.cluster.capacity_providers[cfg.capacity_provider_of(task.name)].off_hours


def _off_hours(scope: Construct, task: TaskOwner, target: AppautoscalingTarget) -> None:
    """Stop: min = max = 0 (Application Auto Scaling scales the service in to the new max: no task left).
    Start: the target's own min/max return and the service scales out to min (desired_count without scaling)."""
    svc, window = task.owner, _window(task)
    low, high = (svc.scaling.min, svc.scaling.max) if svc.scaling else (svc.desired_count, svc.desired_count)
    for action, clock, (min_capacity, max_capacity) in (("stop", window.stop, (0, 0)),
                                                         ("start", window.start, (low, high))):
        AppautoscalingScheduledAction(
            scope,
            f"off_hours_{action}",
            name=f"{task.prefix}-off-hours-{action}",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            schedule=window.appautoscaling_schedule(clock),
            timezone=window.timezone,  # IANA name: the action follows daylight saving time
            scalable_target_action=AppautoscalingScheduledActionScalableTargetAction(
                min_capacity=str(min_capacity), max_capacity=str(max_capacity)),
        )


def _autoscaling(scope: Construct, task: TaskOwner, target: AppautoscalingTarget) -> None:
    """Target tracking on the service's average CPU, between scaling.min and scaling.max tasks."""
    scaling = task.owner.scaling
    AppautoscalingPolicy(
        scope,
        "scaling_cpu",
        name=f"{task.prefix}-cpu-{scaling.cpu_target}",
        policy_type="TargetTrackingScaling",
        service_namespace=target.service_namespace,
        scalable_dimension=target.scalable_dimension,
        resource_id=target.resource_id,
        target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
            target_value=scaling.cpu_target,
            predefined_metric_specification=(
                AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                    predefined_metric_type="ECSServiceAverageCPUUtilization"
                )
            ),
        ),
    )
